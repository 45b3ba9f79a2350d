"""TRAIN_CONFIGS.num_threads on an idle and on a loaded CPU: the quick-start run's training seconds.

    python benchmarks/thread_load.py [--iterations 200] [--repeats 3] [--timeout 600]

Runs the quick-start preset (config/presets/cpu_quick.yaml, cut to --iterations steps) four
times, one after another: with `num_threads` 0 (automatic, the default) and with torch's own
count (one thread per core), each first on an idle machine and then while one busy-looping
process per core keeps every core loaded (what another user's job or a parallel sweep does).
Prints each setting's best training seconds (summary.json) of --repeats runs, after one warm-up
run, and the loaded/idle ratios. A run still going
after --timeout seconds is stopped and reported as such. Results: results/thread_load_cpu.txt.
"""
import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def busy():
    while True:
        pass


def run(threads: int, iterations: int, timeout: float) -> float:
    """Training seconds of one quick-start run with TRAIN_CONFIGS.num_threads=threads (None: timed out)."""
    with tempfile.TemporaryDirectory() as out:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        cmd = [sys.executable, os.path.join(ROOT, "train_image.py"), "--config",
               os.path.join(ROOT, "config", "presets", "cpu_quick.yaml"), f"TRAIN_CONFIGS.iterations={iterations}",
               f"TRAIN_CONFIGS.eval_interval={iterations}", "TRAIN_CONFIGS.lpips=0", f"TRAIN_CONFIGS.num_threads={threads}",
               f"TRAIN_CONFIGS.out_root={out}", "TRAIN_CONFIGS.out_dir=run", "TRAIN_CONFIGS.progress=0"]
        try:
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, timeout=timeout, capture_output=True)
        except subprocess.TimeoutExpired:
            return None
        with open(os.path.join(out, "run", "summary.json")) as f:
            summary = json.load(f)
        return summary["train_seconds"], summary.get("num_threads")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"quick-start preset cut to {args.iterations} iterations, {cores} cores; best training seconds "
             f"of {args.repeats} (threads used)"]
    results = {}
    run(0, args.iterations, args.timeout)  # warm-up: file caches, imports
    for load in ("idle", "loaded"):
        loaders = []
        if load == "loaded":
            loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(cores)]
            for p in loaders:
                p.start()
            time.sleep(1.0)
        try:
            for name, threads in (("num_threads 0 (automatic)", 0), (f"num_threads {cores} (torch's default)", cores)):
                runs = [run(threads, args.iterations, args.timeout) for _ in range(args.repeats)]
                got = min((r for r in runs if r), default=None)
                results[(load, threads)] = got[0] if got else None
                shown = f"{got[0]:8.2f} s ({got[1]} threads)" if got else f"   > {args.timeout:.0f} s (stopped)"
                lines.append(f"{load:7s} {name:32s} {shown}")
                print(lines[-1], flush=True)
        finally:
            for p in loaders:
                p.terminate()
    for threads in (0, cores):
        idle, loaded = results[("idle", threads)], results[("loaded", threads)]
        if idle and loaded:
            lines.append(f"loaded / idle, num_threads {threads}: {loaded / idle:.2f}x")
    print("\n".join(lines[-2:]))
    return lines


if __name__ == "__main__":
    out = main()
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    with open(os.path.join(ROOT, "results", "thread_load_cpu.txt"), "w") as f:
        f.write("# python benchmarks/thread_load.py\n" + "\n".join(out) + "\n")
