"""Our NINT beside the NINT release, on one image, on this machine's CPU.

    python benchmarks/vs_release.py PATH_TO_RELEASE                      # 256x256, 1000 iterations
    python benchmarks/vs_release.py PATH --iterations 300                # a quicker look
    python benchmarks/vs_release.py PATH --size 64 --iterations 30       # does it run at all (a minute or two)
    python benchmarks/vs_release.py PATH --out results/vs_release_cpu.md # also write the table

PATH is a checkout of the authors' release (the repository with train_image.py, src/nint.py,
components/ and config/). Nothing of it enters this repository: it is copied to a temporary
folder and run there as its authors run it, `python train_image.py KEY=VALUE ...` (hydra), with
TRAIN_CONFIGS.gpu_devices="" and CUDA hidden, so on the CPU. It imports torchvision, torchaudio
and lpips without needing them for an RGB image with LPIPS logging off (only ToTensor, a base
class for its audio data set and an LPIPS network it builds but never calls); small stand-ins of
our own are written to the temporary folder and put first on its PYTHONPATH. It does need
hydra-core, omegaconf, easydict and einops (pinned in benchmarks/requirements-vs-release.txt), and wandb is imported
(a stand-in is written when it is missing).

Both train a 5x256 SIREN (the release's NET.num_layers 6 = five sine layers + the linear output)
with Adam lr 1e-4, B = 20%, the dense interval, seed 42, on the same 8-bit PNG: the image
resized with Pillow's default filter (what the release's img_size does), read at its native
size by both. Runs, one after another, never side by side:
  ours, output_norm python train_image.py (NINT) with nint.ntk_score=output_norm, the release's
                    own score computation (a VJP, then torch.func.jvp with its primal output kept:
                    docs/methods.md, "What the release computes"), so every step does the
                    release's work: the like-for-like row. Training clock (sampling + update;
                    evaluation excluded), evaluated every --eval-interval steps
  ours, kg          the same with the default nint.ntk_score=kg, the paper's score (hand-written
                    passes): a different score, computed another way, so not the same work at
                    the NTK refreshes (--scores output_norm leaves it out)
  release, no_io=1  its per-step evaluation off (TRAIN_CONFIGS.no_io=1): it records no PSNR,
                    only its clock per step
  release, no_io=0  its default: PSNR, SSIM, checkpoint and image writes inside every step, as
                    the authors timed it
Its clock: time.time() since just before its loop, read at the end of every step. It records
at step s the PSNR of the predictions its sampler made before update s, i.e. of the model after
s updates; that model exists at the clock reading of step s - 1, which is what is reported. The
no_io=1 run is the same computation without the evaluation (same seed, same updates: the script
checks that both runs end with identical weights), so its time to 30 dB is its clock at the
iteration where the no_io=0 run reached 30 dB. Ours is read at evaluation steps, so its time
and iterations to 30 dB are late by up to --eval-interval - 1 steps.
"""
import argparse
import datetime
import glob
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time

SCORES = ("output_norm", "kg")  # ours: the release's computation (like for like), then the paper's score
SCORE_LABELS = {"output_norm": "ours, release score (output_norm)", "kg": "ours, paper score (kg)"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE_FILES = ("train_image.py", "src/nint.py", "src/sampler.py", "components/nint_sampler.py",
                 "config/train_image.yaml", "config/model_config/siren.yaml", "models/siren.py", "dataset.py")
NEEDED = ("hydra", "omegaconf", "easydict", "einops")


class Failure(Exception):
    """A one-line reason to stop."""


# ----------------------------------------------------------------------------------------------
# Stand-ins for the imports the release makes but does not use here (our own code)
# ----------------------------------------------------------------------------------------------

STANDINS = {
    "torchvision/__init__.py": '"""Stand-in (benchmarks/vs_release.py): only transforms.ToTensor."""\n'
                               "from . import transforms  # noqa: F401\n",
    "torchvision/transforms.py": '''"""Stand-in for torchvision.transforms.ToTensor: PIL image -> float [C, H, W], 8 bit / 255."""
import numpy as np
import torch


class ToTensor:
    def __call__(self, picture):
        array = np.array(picture)
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
        if tensor.dtype != torch.uint8:
            raise TypeError(f"this stand-in reads 8-bit images only, not {tensor.dtype}")
        return tensor.to(torch.get_default_dtype()).div(255)
''',
    "torchaudio/__init__.py": '"""Stand-in (benchmarks/vs_release.py): audio is not used."""\n'
                              "from . import datasets  # noqa: F401\n",
    "torchaudio/datasets.py": '''"""Stand-in: the release subclasses LIBRISPEECH for its audio data set, unused for images."""


class LIBRISPEECH:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchaudio stand-in: audio is not part of this comparison")
''',
    "lpips/__init__.py": '''"""Stand-in: the release builds an LPIPS network at start and calls it only when logging to wandb."""
import torch


class LPIPS(torch.nn.Module):
    def __init__(self, net="alex", version="0.1", **kwargs):
        super().__init__()

    def forward(self, *args, **kwargs):
        raise RuntimeError("lpips stand-in: LPIPS is not computed in this comparison")
''',
}

WANDB_STANDIN = {
    "wandb/__init__.py": '''"""Stand-in (wandb is not installed): the release imports wandb; use_wandb is 0 here."""
run = None


def _unused(*args, **kwargs):
    raise RuntimeError("wandb stand-in: WANDB_CONFIGS.use_wandb must stay 0")


init = log = finish = define_metric = Image = _unused
''',
}


def write_files(folder, files):
    for rel, text in files.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------

def check_release(path):
    if not os.path.isdir(path):
        raise Failure(f"{path} is not a folder (give the path of a checkout of the NINT release)")
    missing = [f for f in RELEASE_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise Failure(f"{path} is not a checkout of the NINT release: {', '.join(missing)} missing")
    with open(os.path.join(path, "src", "nint.py")) as f:
        if "_ntk_weighted_scores_pixelwise" not in f.read():
            raise Failure(f"{path} is not a checkout of the NINT release: src/nint.py has no NTK scoring")


def run_logged(cmd, cwd, env, log_path, what):
    """Run cmd with its output in log_path; raise Failure with the last line when it fails."""
    t = time.perf_counter()
    with open(log_path, "w") as log:
        rc = subprocess.call(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        with open(log_path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        last = lines[-1] if lines else "(no output)"
        raise Failure(f"{what} failed (exit {rc}): {last} [full output: {log_path}]")
    return time.perf_counter() - t


def thread_env(env, threads):
    if threads:
        env = dict(env, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def make_image(source, size, dest):
    from PIL import Image
    with Image.open(source) as im:
        im = im.convert("RGB")
        if size:
            im = im.resize((size, size))  # Pillow's default filter, as the release's img_size
        im.save(dest)


def ours_overrides(args, image, out_root, score):
    """The command-line overrides of our run with NTK score `score` (one of SCORES)."""
    return [f"DATASET_CONFIGS.file_path={image}", "DATASET_CONFIGS.img_size=null",
            "EXP_CONFIGS.strategy_type=nint", f"nint.ntk_score={score}", f"model_config.hidden_layers={args.layers}",
            f"model_config.hidden_features={args.width}", "TRAIN_CONFIGS.lr=1e-4",
            f"TRAIN_CONFIGS.iterations={args.iterations}", f"TRAIN_CONFIGS.eval_interval={args.eval_interval}",
            f"TRAIN_CONFIGS.seed={args.seed}", "TRAIN_CONFIGS.device=cpu", "TRAIN_CONFIGS.lpips=0",
            "TRAIN_CONFIGS.progress=0", f"TRAIN_CONFIGS.out_root={out_root}", f"TRAIN_CONFIGS.out_dir=nint_{score}",
            f"TRAIN_CONFIGS.num_threads={args.threads}"]


def run_ours(args, image, work, score):
    """Our NINT run with NTK score `score`: its row of the table."""
    out_root = os.path.join(work, "ours")
    overrides = ours_overrides(args, image, out_root, score)
    env = thread_env(dict(os.environ), args.threads)
    wall = run_logged([sys.executable, os.path.join(ROOT, "train_image.py"), *overrides], ROOT, env,
                      os.path.join(work, f"ours_{score}.log"), f"our run ({score})")
    run_dir = os.path.join(out_root, f"nint_{score}")
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    psnr_at = {}
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        header = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(header, line.strip().split(",")))
            psnr_at[int(row["step"])] = float(row["psnr"])
    key = f"psnr_{args.threshold:g}"
    return {"label": SCORE_LABELS[score], "score": score, "wall": wall,
            "s_per_it": summary["train_seconds"] / args.iterations,
            "time_to": (summary.get("time_to") or {}).get(key), "iters_to": (summary.get("iters_to") or {}).get(key),
            "psnr_at": psnr_at, "final_psnr": summary.get("final_psnr")}


def run_release(args, release, image, work, env, no_io):
    out_dir = f"release_no_io_{no_io}"
    overrides = ["TRAIN_CONFIGS.gpu_devices=''", f"TRAIN_CONFIGS.no_io={no_io}",
                 f"TRAIN_CONFIGS.iterations={args.iterations}", f"TRAIN_CONFIGS.seed={args.seed}",
                 f"TRAIN_CONFIGS.out_dir={out_dir}", f"DATASET_CONFIGS.file_path={image}",
                 "DATASET_CONFIGS.img_size=null", "EXP_CONFIGS.strategy_type=nint", "NETWORK_CONFIGS.lr=1e-4",
                 "nint.mt_ratio=0.2", "nint.batch_size_scheduler=constant", "nint.sample_interval=dense",
                 "nint.top_k=1", "WANDB_CONFIGS.use_wandb=0", "METRIC_LOGGING.save_local=1",
                 f"model_config.NET.num_layers={args.layers + 1}", f"model_config.NET.dim_hidden={args.width}"]
    wall = run_logged([sys.executable, "train_image.py", *overrides], release, env,
                      os.path.join(work, f"{out_dir}.log"), f"the release (no_io={no_io})")
    found = sorted(glob.glob(os.path.join(release, "outputs", out_dir, "metrics_history_*.pkl")))
    if not found:
        raise Failure(f"the release (no_io={no_io}) wrote no metrics_history_*.pkl under outputs/{out_dir}")
    with open(found[-1], "rb") as f:
        history = pickle.load(f)
    return {"wall": wall, "timestamps": [float(t) for t in history["timestamps"]],
            "psnr": [float(p) if p is not None else 0.0 for p in history["psnr"]],
            "model": os.path.join(release, "outputs", out_dir, "model.pth")}


def release_rows(args, quiet, evaluated):
    """Rows for the two release runs. psnr[k] is the model after k updates, which exists at
    timestamps[k - 1] (k >= 1)."""
    S = args.iterations
    psnr = evaluated["psnr"]
    k = next((i for i, p in enumerate(psnr) if p >= args.threshold), None)
    psnr_at = {i: psnr[i] for i in range(1, len(psnr))}
    rows = []
    for run, label in ((quiet, "release, no_io=1 (its clock)"), (evaluated, "release, no_io=0 (its clock)")):
        ts = run["timestamps"]
        rows.append({"label": label, "wall": run["wall"], "s_per_it": ts[-1] / S,
                     "time_to": (ts[k - 1] if k else 0.0) if k is not None else None,
                     "iters_to": k, "psnr_at": psnr_at, "final_psnr": None})
    return rows


def same_weights(path_a, path_b):
    import torch
    a = torch.load(path_a, map_location="cpu", weights_only=True)
    b = torch.load(path_b, map_location="cpu", weights_only=True)
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def checkpoints(args):
    S, E = args.iterations, args.eval_interval
    marks = {max(E, round(S * f / E) * E) for f in (0.1, 0.25, 0.5, 0.9)}
    return sorted(m for m in marks if m < S)


def fmt(value, spec=".2f", none="not reached"):
    return none if value is None else format(value, spec)


def report(args, ours, rows, identical, elapsed):
    """(table, notes). ours: our rows, one per score (SCORES order); rows: the release's."""
    marks = checkpoints(args)
    thr = f"{args.threshold:g}"
    head = ["run", "s / iteration", f"s to {thr} dB", f"it to {thr} dB"] + [f"PSNR @ {m} it" for m in marks]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for row in ours + rows:
        cells = [row["label"], f"{row['s_per_it']:.3f}", fmt(row["time_to"]), fmt(row["iters_to"], "d")]
        cells += [fmt(row["psnr_at"].get(m), ".2f", "n/a") for m in marks]
        lines.append("| " + " | ".join(cells) + " |")
    ratios = []
    for mine in ours:
        for row in rows:
            if mine["time_to"] is not None and row["time_to"]:
                ratios.append(f"{mine['label'].split(' (')[0]} / {row['label'].split(' (')[0]}: "
                              f"{mine['time_to'] / row['time_to']:.2f}")
    import torch
    command = " ".join(["python benchmarks/vs_release.py RELEASE"] + args.options)
    notes = [
        f"Command: `{command}` ({datetime.date.today().isoformat()}, {platform.machine()} CPU, "
        f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads, {elapsed / 60:.1f} min in all).",
        f"Image: {os.path.relpath(args.image, ROOT) if args.image.startswith(ROOT) else args.image} at "
        f"{args.size}x{args.size}; SIREN {args.layers}x{args.width}, Adam lr 1e-4, B = 20%, dense, seed {args.seed}.",
        f"Time to {thr} dB, as a ratio (goal: at most 0.5 against the release, like for like: ours with the "
        "release's score, output_norm): " + ("; ".join(ratios) or "n/a") + ".",
        "Ours with output_norm computes the release's score by its calls (a VJP, then torch.func.jvp with the "
        "primal output kept), so each step does the release's work; ours with kg computes the paper's score "
        "(hand-written passes), a different score computed another way.",
        "The release's two runs end with " + ("identical weights (same updates; the evaluation only adds time)."
                                             if identical else "DIFFERENT weights: its no_io=1 time to "
                                             f"{thr} dB assumes the same updates and is doubtful."),
        f"Our runs are read every {args.eval_interval} steps (late by up to {args.eval_interval - 1}); the release's "
        f"PSNR every step (no_io=0; no_io=1 records none, so its row repeats the no_io=0 PSNR).",
    ]
    return "\n".join(lines), notes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("release", metavar="PATH_TO_RELEASE", help="a checkout of the NINT release")
    p.add_argument("--image", default=os.path.join(ROOT, "images", "01.png"))
    p.add_argument("--size", type=int, default=256, help="square size the image is resized to (default 256)")
    p.add_argument("--iterations", type=int, default=1000, help="training steps of every run (default 1000)")
    p.add_argument("--eval-interval", type=int, default=10, help="our evaluation interval (default 10)")
    p.add_argument("--threshold", type=float, default=30.0, help="PSNR to reach, dB (default 30)")
    p.add_argument("--layers", type=int, default=5, help="SIREN sine layers (default 5)")
    p.add_argument("--width", type=int, default=256, help="SIREN width (default 256)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scores", nargs="+", choices=SCORES, default=list(SCORES),
                   help="our NTK scores to run (default: output_norm, the release's computation, then kg)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for every run (0 = torch's default)")
    p.add_argument("--out", metavar="FILE.md", help="also write the table there (e.g. results/vs_release_cpu.md)")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (logs, run folders); default: a temporary folder")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    args.options = [a for a in argv if a != args.release]
    args.scores = list(dict.fromkeys(args.scores))  # each score once: a run folder per score
    try:
        if args.iterations < 2 or args.eval_interval < 1 or args.size < 8:
            raise Failure("--iterations must be >= 2, --eval-interval >= 1 and --size >= 8")
        if not os.path.isfile(args.image):
            raise Failure(f"image not found: {args.image}")
        release_src = os.path.abspath(args.release)
        check_release(release_src)
        return _main(args, release_src)
    except Failure as e:
        print(f"vs_release: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vs_release: interrupted", file=sys.stderr)
        return 130


def _main(args, release_src):
    started = time.perf_counter()
    work = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="nint_vs_release_")
    os.makedirs(work, exist_ok=True)
    try:
        release = os.path.join(work, "release")
        if os.path.exists(release):
            shutil.rmtree(release)
        shutil.copytree(release_src, release, ignore=shutil.ignore_patterns(".git", "outputs", "__pycache__"))
        standins = os.path.join(work, "standins")
        write_files(standins, STANDINS)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", WANDB_MODE="disabled", HYDRA_FULL_ERROR="1")
        env = thread_env(env, args.threads)
        env["PYTHONPATH"] = os.pathsep.join([standins, release] + [x for x in [os.environ.get("PYTHONPATH")] if x])
        probe = "import importlib.util as u, sys; print(','.join(m for m in sys.argv[1:] if u.find_spec(m) is None))"
        missing = subprocess.run([sys.executable, "-c", probe, *NEEDED, "wandb"], env=env, capture_output=True,
                                 text=True).stdout.strip()
        missing = [m for m in missing.split(",") if m]
        if "wandb" in missing:
            write_files(standins, WANDB_STANDIN)
            missing.remove("wandb")
        if missing:
            raise Failure(f"the release needs {', '.join(missing)} (pure Python): pip install -r benchmarks/requirements-vs-release.txt "
                          "(hydra-core, omegaconf, easydict and einops)")
        image = os.path.join(work, f"image_{args.size}.png")
        make_image(args.image, args.size, image)

        print(f"work folder: {work}", flush=True)
        total = len(args.scores) + 2
        ours = []
        for i, score in enumerate(args.scores, 1):
            print(f"[{i}/{total}] ours: NINT, nint.ntk_score={score}, {args.iterations} iterations ...", flush=True)
            ours.append(run_ours(args, image, work, score))
            print(f"      {ours[-1]['wall']:.0f} s wall", flush=True)
        print(f"[{total - 1}/{total}] the release, no_io=1 (its per-step evaluation off) ...", flush=True)
        quiet = run_release(args, release, image, work, env, no_io=1)
        print(f"      {quiet['wall']:.0f} s wall", flush=True)
        print(f"[{total}/{total}] the release, no_io=0 (its default: evaluation every step) ...", flush=True)
        evaluated = run_release(args, release, image, work, env, no_io=0)
        print(f"      {evaluated['wall']:.0f} s wall", flush=True)
        identical = same_weights(quiet["model"], evaluated["model"])
        rows = release_rows(args, quiet, evaluated)
        table, notes = report(args, ours, rows, identical, time.perf_counter() - started)
        print()
        print(table)
        print()
        for note in notes:
            print(note)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                f.write(f"# Ours vs the NINT release, time to {args.threshold:g} dB on one CPU\n\n")
                f.write(table + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
            print(f"written: {args.out}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
