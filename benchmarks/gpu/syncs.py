"""Which lines of a training step make the host wait for the GPU, per image sampler.

    python benchmarks/gpu/syncs.py --out results/gpu/syncs.md     # CUDA only

Trains every image sampler for --steps steps on a --size image with
torch.cuda.set_sync_debug_mode("warn"), which warns at every operation that synchronises
the host with the device (.item(), .cpu(), copies from pageable host memory, nonzero, ...),
and records where each warning came from: the innermost frame in this repository and whether
it ran inside the training step or in the evaluation / checkpoint code outside the clock. The
trainer's own torch.cuda.synchronize() around the step (the clock) is not such a warning.
"""
import argparse
import collections
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
OFF_CLOCK = {"evaluate", "save_checkpoint", "save_outputs", "write_summary", "save_figures", "save_snapshot",
             "after_evaluation", "log", "summary_extra"}


def site_of(stack):
    """(where, 'step' | 'off the clock') for a warning raised with this Python stack."""
    mine = [f for f in stack if f.filename.startswith(ROOT) and not any(
        part in f.filename for part in (os.sep + "benchmarks" + os.sep, "site-packages", os.sep + ".venv"))]
    if not mine:
        return "(outside the repository)", "step"
    names = {f.name for f in mine}
    phase = "off the clock" if names & OFF_CLOCK else "step"
    f = mine[-1]
    return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} {f.name}: {(f.line or '').strip()}", phase


def census(strategy, args, work):
    from utils.engine.config import load_config
    from utils.tasks import build_task
    from utils.engine.trainer import train
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
            counts[site_of(traceback.extract_stack()[:-1])] += 1
        else:
            previous(message, category, filename, lineno, file, line)

    run_dir = os.path.join(work, strategy)
    os.makedirs(run_dir, exist_ok=True)
    with warnings.catch_warnings():  # restores filters and showwarning on exit
        warnings.simplefilter("always")
        warnings.showwarning = record
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            train(cfg, task, run_dir, device, log=lambda *a: None)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode("default")
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
             "torch.cuda.set_sync_debug_mode('warn'). `per step` = count / steps; the trainer's clock "
             "synchronisation (torch.cuda.synchronize before and after each step) is not counted.", "",
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
                lines.append(f"| {strategy} | {phase} | {n / args.steps:.2f} | {n} | `{cell}` |")
            print(f"{strategy}: {sum(n for (w, ph), n in counts.items() if ph == 'step')} syncs in the step, "
                  f"{sum(n for (w, ph), n in counts.items() if ph != 'step')} off the clock", flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
