"""Command line shared by train_image.py, train_audio.py and train_sdf.py.

    python train_<task>.py [--config FILE] [SECTION.key=value ...]
    python train_<task>.py --resume RUN_DIR [TRAIN_CONFIGS.lr=value]
    python train_<task>.py --print-config [--config FILE] [SECTION.key=value ...]

Bad input ends with one line on stderr and exit status 2; a diverged run exits
with 3; Ctrl-C or SIGTERM writes a checkpoint and exits with 130; anything unexpected
exits with 1 (NINT_TRACEBACK=1 shows its traceback). docs/running.md says more.
"""
import argparse
import os
import shlex
import sys

from utils.engine.config import load_config
from utils.errors import UserError, one_line_errors

RESUME_KEYS = ("TRAIN_CONFIGS.lr",)  # the only setting --resume may change (a diverged run, a lower lr)


def run_name(cfg: dict, task) -> str:
    stem = os.path.splitext(os.path.basename(cfg["DATASET_CONFIGS"]["file_path"]))[0]
    return f"{task.modality}_{stem}_{cfg['EXP_CONFIGS']['strategy_type']}_{cfg['model_config']['name']}"


def main(task_name: str, argv=None):
    parser = argparse.ArgumentParser(
        prog=f"train_{task_name}.py",
        description=f"Fit an implicit neural representation to one {task_name} signal.",
        epilog="Overrides: SECTION.key=value, the value parsed as YAML, e.g. TRAIN_CONFIGS.iterations=1000 "
               "EXP_CONFIGS.strategy_type=int. Defaults: config/train_%s.yaml." % task_name)
    parser.add_argument("--config", help="YAML file with any subset of the default keys")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its checkpoint")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration, every key with its meaning, and exit")
    parser.add_argument("overrides", nargs="*", help="SECTION.key=value")
    args = parser.parse_args(argv)
    # SIGTERM before or after the loop ends like Ctrl-C there (outside the training loop: loading,
    # saving); inside the loop the trainer catches both and checkpoints.
    return one_line_errors(lambda: _run(task_name, args), whole_process=argv is None)


def _saved_task(config_path: str):
    """The task ('image', 'audio', 'sdf') whose DATASET_CONFIGS keys a saved config.yaml has; None if unclear."""
    from utils.engine.config import read_yaml, task_defaults
    from utils.tasks import TASKS
    saved = set((read_yaml(config_path).get("DATASET_CONFIGS") or {}))
    for name in TASKS:
        keys = set(task_defaults(name)[0].get("DATASET_CONFIGS") or {})
        if keys and keys == saved:
            return name
    return None


def check_out_dir(out_root: str, out_dir):
    """UserError when a relative TRAIN_CONFIGS.out_dir leads out of out_root ('../x', 'a/..');
    an absolute out_dir is used as given, null names the folder after the run."""
    if out_dir is None or os.path.isabs(out_dir):
        return
    inside = os.path.relpath(os.path.normpath(os.path.join(out_root, out_dir)), os.path.normpath(out_root))
    if inside.split(os.sep)[0] in ("..", "."):
        raise UserError(f"TRAIN_CONFIGS.out_dir={out_dir!r} leads outside TRAIN_CONFIGS.out_root={out_root!r}; "
                        f"give a folder name inside it, or an absolute path")


def _run(task_name, args):
    # Heavy imports after argument parsing, so that --help and config errors are instant.
    from utils.engine.run import resolve_device
    from utils.engine.run_logger import fresh_run_dir
    from utils.engine.trainer import Interrupted, TrainingDiverged, train
    from utils.tasks import build_task

    if args.resume:
        run_dir = args.resume.rstrip("/") or "/"
        saved = os.path.join(run_dir, "config.yaml")
        changes = [o for o in args.overrides if o.split("=", 1)[0].strip() not in RESUME_KEYS]
        if args.config or changes:
            raise UserError(f"--resume continues a run with its saved config.yaml; drop --config and overrides "
                            f"({', '.join(changes) or '--config'}): only {' '.join(k + '=...' for k in RESUME_KEYS)} "
                            f"may be given, to continue with another learning rate")
        if not os.path.isfile(saved):
            raise UserError(f"cannot resume {run_dir}: no config.yaml there (not a run folder)")
        owner = _saved_task(saved)
        if owner is not None and owner != task_name:
            raise UserError(f"{run_dir} is an {owner} run; resume it with python train_{owner}.py --resume "
                            f"{shlex.quote(run_dir)}")
        if args.print_config:  # the run's own configuration, as it will continue
            from utils.engine.reference import commented_yaml
            print(commented_yaml(task_name, load_config(task_name, saved, args.overrides)), end="")
            return 0
        from utils.locks import lock_folder
        lock_folder(run_dir, "training it")  # held until this process ends: a second --resume is refused
        if not os.path.isfile(os.path.join(run_dir, "checkpoint.pt")):
            raise UserError(f"cannot resume {run_dir}: no checkpoint.pt there (the run stopped before its first "
                            f"evaluation, or the file was removed)")
        status = _summary_status(run_dir)
        if status == "completed":
            raise UserError(f"{run_dir} already finished (summary.json status: completed)")
        cfg = load_config(task_name, saved, args.overrides)  # TRAIN_CONFIGS.lr: Run applies it to the optimizer
    else:
        cfg = load_config(task_name, args.config, args.overrides)
        if args.print_config:
            from utils.engine.reference import commented_yaml
            print(commented_yaml(task_name, cfg), end="")
            return 0
        check_out_dir(cfg["TRAIN_CONFIGS"]["out_root"], cfg["TRAIN_CONFIGS"]["out_dir"])  # before the signal loads

    device = resolve_device(cfg["TRAIN_CONFIGS"]["device"])
    task = build_task(task_name, cfg, device)
    if not args.resume:
        name = cfg["TRAIN_CONFIGS"]["out_dir"] or run_name(cfg, task)
        run_dir = fresh_run_dir(cfg["TRAIN_CONFIGS"]["out_root"], name)
    print(f"run folder: {run_dir}")
    try:
        summary = train(cfg, task, run_dir, device, resume=bool(args.resume))
    except UserError:
        # A setting only the model or sampler can check (e.g. a sampler not defined for
        # this modality): leave no empty run folder behind.
        if not args.resume:
            from utils.locks import lock_folder, remove_if_unused
            remove_if_unused(lock_folder(run_dir))
        raise
    except Interrupted as e:
        by = f" by {e.signal_name}" if e.signal_name else ""
        print(f"interrupted{by}: checkpoint saved. Continue with: python train_{task_name}.py --resume "
              f"{shlex.quote(run_dir)}", file=sys.stderr)
        return 130
    except TrainingDiverged as e:
        ckpt = os.path.join(run_dir, "checkpoint.pt")
        kept = (f"the last good checkpoint is {ckpt} (step {e.checkpoint_step}; its weights, optimizer and "
                f"sampler state all finite)"
                if e.checkpoint_step is not None and os.path.isfile(ckpt)
                else "no checkpoint was written before it diverged (each one is checked finite first)")
        print(f"error: {e}; stopped, {kept} ({_lower_lr_advice(task_name, cfg, run_dir, e)})", file=sys.stderr)
        return 3
    _print_result(summary, task, run_dir)
    return 0


def _lower_lr_advice(task_name, cfg, run_dir, error) -> str:
    """How to go on after a divergence with a lower learning rate: from the last good checkpoint
    (--resume with TRAIN_CONFIGS.lr, which the optimizer then takes), or with a new run."""
    lr = cfg["TRAIN_CONFIGS"]["lr"] if cfg["TRAIN_CONFIGS"]["lr"] is not None else cfg["model_config"]["lr"]
    lower = f"TRAIN_CONFIGS.lr={lr / 10:g}"
    if error.checkpoint_step is None or not os.path.isfile(os.path.join(run_dir, "checkpoint.pt")):
        return f"start a new run with a lower learning rate than {lr:g}, e.g. {lower}"
    return (f"to continue from that checkpoint with a lower learning rate than {lr:g}: python train_{task_name}.py "
            f"--resume {shlex.quote(run_dir)} {lower}; or start a new run with it")


def _summary_status(run_dir):
    """summary.json's status (None when there is none); UserError naming the file when it is
    not a summary (empty, truncated, edited)."""
    import json
    path = os.path.join(run_dir, "summary.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f)
    except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        summary = e
    if not isinstance(summary, dict):
        raise UserError(f"cannot resume {run_dir}: {path} is not a run's summary (not a JSON object); "
                        f"remove it (the run writes a new one) to resume from checkpoint.pt")
    return summary.get("status")


def _print_result(summary, task, run_dir):
    parts = []
    for name in task.metrics:
        v = summary.get(f"final_{name}")
        if v is not None:
            parts.append(f"{name} {v:.4g}")
    print(f"done: {', '.join(parts)} after {summary['iterations']} steps, "
          f"{summary['train_seconds']:.1f} s of training (evaluation excluded)")
    print(f"outputs: {run_dir}/ (metrics.csv, summary.json, model.pt, ...)")
