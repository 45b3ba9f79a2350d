"""Which lines of a training step make the host wait for the GPU, per image sampler.

    python benchmarks/gpu/syncs.py --out results/gpu/syncs.md     # CUDA only

Trains every image sampler for --steps steps on a --size image with
torch.cuda.set_sync_debug_mode("warn"), which warns at every operation that synchronises
the host with the device (.item(), .cpu(), copies from pageable host memory, nonzero, ...),
and records where each warning came from: the innermost frame in this repository and whether
it ran inside the training step (inside the trainer's `clock.training()`: the sampler's
selection, the update, the feedback) or outside it (building the run, the signal's fingerprint,
the finite checks, evaluation, checkpoints, the end of the run), which `per step` leaves out.
The trainer's own torch.cuda.synchronize() around the step (the clock) is not such a warning.
"""
import argparse
import collections
import contextlib
import os
import sys
import tempfile
import traceback
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

SAMPLERS = ["standard", "uniform", "int", "nint", "nint_no_ntk", "evos", "evos_no_cfs", "expansive", "egra",
            "soft_mining"]
IN_STEP = [False]  # True while the trainer's clock runs a training step (Clock.training)


def site_of(stack, in_step: bool):
    """(where, 'step' | 'outside the step') for a warning raised with this Python stack."""
    mine = [f for f in stack if f.filename.startswith(ROOT) and not any(
        part in f.filename for part in (os.sep + "benchmarks" + os.sep, "site-packages", os.sep + ".venv"))]
    phase = "step" if in_step else "outside the step"
    if not mine:
        return "(outside the repository)", phase
    f = mine[-1]
    return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} {f.name}: {(f.line or '').strip()}", phase


def watch_the_step(clock_class):
    """Wrap clock_class.training so that IN_STEP says when a training step runs; returns the original."""
    original = clock_class.training

    @contextlib.contextmanager
    def training(self):
        with original(self):
            IN_STEP[0] = True
            try:
                yield
            finally:
                IN_STEP[0] = False

    clock_class.training = training
    return original


def census(strategy, args, work):
    from utils.engine.config import load_config
    from utils.tasks import build_task
    from utils.engine.trainer import train
    from utils.engine.run import Clock
    cfg = load_config("image", overrides=[
        f"DATASET_CONFIGS.file_path={args.image}", f"DATASET_CONFIGS.img_size={args.size}",
        f"EXP_CONFIGS.strategy_type={strategy}", f"TRAIN_CONFIGS.iterations={args.steps}",
        f"TRAIN_CONFIGS.eval_interval={args.steps}", "TRAIN_CONFIGS.lpips=0", "TRAIN_CONFIGS.progress=0",
        f"TRAIN_CONFIGS.device={args.device}", f"TRAIN_CONFIGS.out_root={work}", "model_config.hidden_layers=3",
        "model_config.hidden_features=64"])
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    task = build_task("image", cfg, device)
    counts = collections.Counter()
    previous = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" in str(message):
            counts[site_of(traceback.extract_stack()[:-1], IN_STEP[0])] += 1
        else:
            previous(message, category, filename, lineno, file, line)

    run_dir = os.path.join(work, strategy)
    os.makedirs(run_dir, exist_ok=True)
    with warnings.catch_warnings():  # restores filters and showwarning on exit
        warnings.simplefilter("always")
        warnings.showwarning = record
        original = watch_the_step(Clock)
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            train(cfg, task, run_dir, device, log=lambda *a: None)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
            Clock.training = original
    return counts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=os.path.join(ROOT, "images", "01.png"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--samplers", nargs="+", default=SAMPLERS)
    p.add_argument("--out", help="write the table (Markdown) here too")
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: a dry run of this script
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("syncs.py: needs CUDA", file=sys.stderr)
        return 2
    lines = [f"# Host-device synchronisations per training step (CUDA, torch {torch.__version__})", "",
             f"`python benchmarks/gpu/syncs.py --size {args.size} --steps {args.steps}`: every image sampler, "
             f"{args.steps} steps on a {args.size}x{args.size} image (SIREN 3x64), "
             "torch.cuda.set_sync_debug_mode('warn'). `step`: inside the timed training step, `per step` = "
             "count / steps; `outside the step`: building the run, the finite checks, evaluation, checkpoints "
             "and the end of the run (no per-step figure). The trainer's clock synchronisation "
             "(torch.cuda.synchronize before and after each step) is not counted.", "",
             "| sampler | phase | per step | count | where |", "|---|---|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as work:
        for strategy in args.samplers:
            try:
                counts = census(strategy, args, work)
            except Exception as e:  # one sampler's failure must not hide the others
                lines.append(f"| {strategy} | failed | | | {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} |")
                continue
            if not counts:
                lines.append(f"| {strategy} | step | 0 | 0 | (none) |")
            for (where, phase), n in sorted(counts.items(), key=lambda kv: (kv[0][1], -kv[1])):
                cell = where.replace("|", "\\|")
                per_step = f"{n / args.steps:.2f}" if phase == "step" else ""
                lines.append(f"| {strategy} | {phase} | {per_step} | {n} | `{cell}` |")
            print(f"{strategy}: {sum(n for (w, ph), n in counts.items() if ph == 'step')} syncs in the step, "
                  f"{sum(n for (w, ph), n in counts.items() if ph != 'step')} outside it", flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
