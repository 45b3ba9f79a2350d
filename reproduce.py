"""Reproduce the paper's tables and figures, one command each.

    python reproduce.py list                               # the sweeps in config/paper/
    python reproduce.py table2 --preset cpu                # run what is missing, write results/table2_cpu.md/.csv + figures
    python reproduce.py table2 --preset paper --jobs 2     # the paper's settings (GPU), two processes at a time
    python reproduce.py table1 --images data/kodak         # every run over every image; mean ± std per cell
    python reproduce.py table2 --backend ray --address ray://head:10001   # on a Ray cluster
    python reproduce.py table2 --table-only                # rebuild the table and figures from the run folders
    python reproduce.py speedup --preset cpu --repeats 3   # Standard/INT/EVOS/Expansive/NINT: time and iterations to 30 dB
    python reproduce.py speedup --preset cpu --release-clock   # the same, evaluating at every step (the release's clock)
    python reproduce.py table1 --preset cpu --repeats 3    # each run 3 times, repeat k with seed + k - 1
    python reproduce.py scale --preset cpu                 # the scale ladder: results/scale_cpu.md + its figure
    python reproduce.py paper_size --preset cpu            # Table 2's iterations / Table 1 at 250 it, the paper's size
    python reproduce.py claims --preset cpu                # the paper's claims checked: results/claims_cpu.md
    python reproduce.py report --preset cpu                # results/README.md from the results files above
    python reproduce.py my_sweep.yaml                      # your own sweep file (format: config/paper/README.md)

Each run is one `python train_<task>.py` process with its own folder under
results/runs/<table>/<preset>/, named from its overrides. A finished run (summary.json)
is never redone, an interrupted one resumes from its checkpoint, a failed one is
reported in the table with its error line and the sweep goes on. Exit status: 0 when
every run finished, 1 when some failed (or on an unexpected error: one line, and its
traceback with NINT_TRACEBACK=1), 2 on bad input, 130 on Ctrl-C.
"""
import argparse
import os
import shlex
import sys

from utils.errors import UserError, one_line_errors


def _default_preset() -> str:
    try:
        import torch
        return "paper" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="reproduce.py", description="Run the sweeps of the paper's tables and write tables and figures.",
        epilog="Tables: %(prog)s list. Sweep format: config/paper/README.md.")
    parser.add_argument("tables", nargs="+", metavar="TABLE",
                        help="table1 ... table10, ablation_ntk, speedup, scale, table2_range, a path to a sweep "
                             "YAML, 'claims' (the paper's claims checked against the finished tables), 'report' "
                             "(results/README.md from the results files) or 'list'")
    parser.add_argument("--preset", default=None,
                        help="paper (the paper's full settings, meant for a GPU) or cpu (reduced sizes); "
                             "default: paper when CUDA is available, else cpu")
    parser.add_argument("--images", metavar="DIR", help="repeat every run over each file of this folder "
                                                        "(DATASET_CONFIGS.file_path); cells = mean ± std")
    parser.add_argument("--image", metavar="FILE", help="speedup: the image to use (default: the sweep's)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="local processes at once (default 1: training seconds are the measure)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="Ray cluster address for --backend ray (e.g. ray://head:10001, auto)")
    parser.add_argument("--results", default="results", help="where tables, figures and runs/ go (default: results)")
    parser.add_argument("--table-only", action="store_true", help="run nothing; rebuild tables/figures from run folders")
    parser.add_argument("--dry-run", action="store_true", help="print each run's command and plan; run nothing")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    parser.add_argument("--release-clock", action="store_true",
                        help="speedup: evaluate PSNR and SSIM at every step (LPIPS off), as the NINT release's loop "
                             "did, and report the seconds to 30 dB on that clock (the loop's wall time) beside the "
                             "training clock; its runs and report are kept apart (<preset>_release_clock)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="run every run N times, one after another (folders <name>__repeat-<k>, repeat k "
                             "with seed + k - 1); tables give mean ± std and every repeat (<table>_per_repeat.csv), "
                             "the speedup report each strategy's fastest repeat (default: the preset's "
                             "`repeats:`, else 1; claims: as many as the run folders hold)")
    return parser.parse_args(argv)


def _command_line(args, table) -> str:
    parts = ["python reproduce.py", table]
    for flag, value in (("--preset", args.preset), ("--images", args.images), ("--image", args.image)):
        if value:
            parts.append(f"{flag} {shlex.quote(value)}")
    if args.jobs != 1:
        parts.append(f"--jobs {args.jobs}")
    if args.repeats is not None:
        parts.append(f"--repeats {args.repeats}")
    if getattr(args, "release_clock", False):
        parts.append("--release-clock")
    if args.backend != "local":
        parts.append(f"--backend {args.backend}" + (f" --address {args.address}" if args.address else ""))
    return " ".join(parts)


def run_table(name: str, args) -> int:
    from utils.reproduce.execute import execute
    from utils.reproduce.figures import write_figures
    from utils.reproduce.paper_size import is_paper_size
    from utils.reproduce.run_folder import plan, train_argv
    from utils.reproduce.speedup import RELEASE_CLOCK, speedup_report, format_report, write_report
    from utils.reproduce.sweep import load_sweep
    from utils.reproduce.table import write_table

    is_speedup = os.path.splitext(os.path.basename(name))[0] == "speedup"  # also a user's speedup.yaml
    if args.release_clock and not is_speedup:
        raise UserError("--release-clock is an option of the speed-up benchmark (python reproduce.py speedup ...)")
    if args.image and not is_speedup:
        raise UserError("--image is an option of the speed-up benchmark; a table repeats its runs over --images DIR")
    images = args.image if is_speedup and args.image else args.images
    flag = "--image" if is_speedup and args.image else "--images"
    release = {"extra_overrides": RELEASE_CLOCK, "variant": "release_clock"} if args.release_clock else {}
    sweep = load_sweep(name, args.preset, images=images, results_dir=args.results, repeats=args.repeats,
                       images_flag=flag, **release)
    if args.dry_run:  # each run's plan; its configuration validated and its signal file's existence checked
        problems = 0
        todo = None
        if is_paper_size(name):  # a run whose row is committed and whose folder is gone is not rerun
            from utils.reproduce.paper_size import runs_to_execute
            todo = {id(r) for r in runs_to_execute(sweep)}
        for run in sweep.runs:
            action = "kept" if todo is not None and id(run) not in todo else plan(run, sweep.task)
            print(f"{action:6s} python {' '.join(shlex.quote(a) for a in train_argv(sweep, run, action))}")
            problem = run_problem(sweep, run)
            if problem:
                problems += 1
                print(f"error  run '{run.name}' would fail: {problem}", file=sys.stderr)
        if problems:
            raise UserError(f"{problems} of {len(sweep.runs)} run(s) of {sweep.table} have bad settings (above)")
        return 0
    if is_paper_size(name):
        return run_paper_size(sweep, args, name)
    _check_results_dir(args.results)  # made now and written in, before anything runs
    table_file = os.path.join(sweep.results_dir, sweep.stem + ".md")
    if args.table_only and os.path.isfile(table_file) and not any(os.path.isdir(r.folder) for r in sweep.runs):
        # A fresh machine has no run folders: rebuilding would replace the committed numbers with "not run".
        raise UserError(f"--table-only: none of the {len(sweep.runs)} run folders of {sweep.table} "
                        f"(--preset {sweep.preset}) is under {_shown(sweep.runs_dir)}; "
                        f"{_shown(table_file)} is kept as it is (run the sweep to remake it)")
    if not args.table_only:
        from utils.locks import lock_folder
        os.makedirs(sweep.runs_dir, exist_ok=True)
        # One sweep at a time in a run tree (a second is refused in one line); read-only commands never lock.
        with lock_folder(sweep.runs_dir, f"running the sweep {sweep.table} --preset {sweep.preset} there"):
            # The benchmark compares seconds: its runs go one after another, never side by side.
            execute(sweep, jobs=1 if is_speedup else args.jobs, backend=args.backend, address=args.address)
    paths = write_table(sweep, _command_line(args, name))
    if not args.no_figures:
        paths += write_figures(sweep)
    for path in paths:
        print(f"wrote {_shown(path)}")
    failed = [r for r in sweep.runs if r.folder and _status(r.folder) == "failed"]
    if os.path.splitext(os.path.basename(name))[0] == "scale":
        from utils.reproduce.scale import write_report as write_scale_report
        for path in write_scale_report(sweep):
            print(f"wrote {_shown(path)}")
    if is_speedup:
        report = speedup_report(sweep)
        print(format_report(sweep, report), end="")
        print(f"wrote {_shown(write_report(sweep, report))}")
    if failed:
        print(f"{len(failed)} run(s) failed; their error lines are in the table", file=sys.stderr)
        return 1
    return 0


def run_paper_size(sweep, args, name: str) -> int:
    """The paper-size sweep: its runs less those whose rows are committed (a machine without their
    folders runs them no more), then its report from the run folders and the committed rows."""
    import dataclasses
    from utils.reproduce.execute import execute
    from utils.reproduce.paper_size import gather, runs_to_execute, write_report
    if not args.table_only:
        todo = runs_to_execute(sweep)
        if len(todo) < len(sweep.runs):
            print(f"{len(sweep.runs) - len(todo)} run(s) finished on another machine: their rows in "
                  f"{_shown(os.path.join(sweep.results_dir, sweep.stem + '_per_signal.csv'))} are kept")
        execute(dataclasses.replace(sweep, runs=todo), jobs=args.jobs, backend=args.backend, address=args.address)
    for path in write_report(sweep, _command_line(args, name)):
        print(f"wrote {_shown(path)}")
    failed = [r for r in gather(sweep) if r["status"] == "failed"]
    if failed:
        print(f"{len(failed)} run(s) failed; their error lines are in the table", file=sys.stderr)
        return 1
    return 0


def _check_results_dir(path: str, write: bool = True):
    """UserError unless --results is a folder or can be made one, and (`write`: every command but
    --dry-run) one this process can write in: it is made here, and a file written and removed."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise UserError(f"--results {path}: {probe} is a file, not a folder")
    if write:
        try:
            os.makedirs(path, exist_ok=True)
            test = os.path.join(path, f".write_test_{os.getpid()}")
            open(test, "w").close()
            os.remove(test)
        except OSError as e:
            raise UserError(f"--results {path}: cannot write there ({e.strerror or type(e).__name__}); "
                            f"give a folder you can write in") from None


def run_problem(sweep, run):
    """Why train_<task>.py would refuse the run, as its one-line error, as far as the configuration
    (keys, values, ranges) and the signal file's existence tell; None when they pass. Not checked,
    as that needs the signal loaded or the model and sampler built: a file that exists but cannot be
    read, a sampler not defined for the task, a batch ratio below one point of the signal."""
    from utils.engine.config import ROOT, load_config
    from utils.errors import require_file
    try:
        cfg = load_config(sweep.task, overrides=run.argv, notify=lambda *_: None)
        path = cfg["DATASET_CONFIGS"]["file_path"]
        require_file(path if os.path.isabs(path) else os.path.join(ROOT, path), f"{sweep.task} file")
    except UserError as e:
        return str(e)
    return None


def run_claims(args) -> int:
    """results/claims[_<preset>].md from the finished tables; runs nothing."""
    from utils.reproduce.scorecard import write_claims
    if args.images or args.image or args.release_clock:
        raise UserError("claims reads the tables of the presets' own signals; --images, --image and "
                        "--release-clock do not apply")
    _check_results_dir(args.results)
    command = f"python reproduce.py claims --preset {args.preset}" + (
        f" --repeats {args.repeats}" if args.repeats is not None else "")
    path = write_claims(args.preset, args.results, args.repeats, command)
    print(open(path).read(), end="")
    print(f"wrote {_shown(path)}")
    return 0


def run_report(args) -> int:
    """results/README.md from the results files of the preset; runs nothing."""
    from utils.reproduce.report import write_report
    _check_results_dir(args.results)
    print(f"wrote {_shown(write_report(args.results, args.preset))}")
    return 0


def _shown(path: str) -> str:
    """A path relative to the working directory when it lies below it, else as it is."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _status(folder):
    from utils.reproduce.run_folder import read_status
    return read_status(folder)


def main(argv=None) -> int:
    args = parse_args(argv)
    return one_line_errors(lambda: _main(args), interrupted="interrupted; run the same command again to continue",
                           on_sigterm=_stop_training_processes, whole_process=argv is None)


def _stop_training_processes():
    """On SIGTERM the running training processes get it too: they checkpoint and exit."""
    from utils.reproduce.local import terminate_running
    terminate_running()


def _check_preset(preset: str):
    """UserError unless a sweep of config/paper/ has `preset`."""
    from utils.reproduce.sweep import available_sweeps, sweep_presets
    presets = sorted({p for name in available_sweeps() for p in sweep_presets(name)})
    if preset not in presets:
        raise UserError(f"--preset {preset}: no sweep has that preset; presets: {', '.join(presets)}")


def _main(args) -> int:
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: give the number of processes at once, 1 or more")
    if "list" in args.tables:
        if args.tables != ["list"]:
            raise UserError("'list' takes no other table names")
        from utils.reproduce.sweep import available_sweeps, load_sweep
        names = available_sweeps()
        preset = args.preset or "cpu"
        _check_preset(preset)
        for name in names:
            try:
                sweep = load_sweep(name, preset)
                print(f"{name:10s} {sweep.task:6s} {len(sweep.runs):3d} runs  {sweep.title}")
            except UserError as e:
                print(f"{name:10s} unavailable: {e}")
        return 0
    if args.preset is None:
        args.preset = _default_preset()
        print(f"preset: {args.preset} ({'CUDA found' if args.preset == 'paper' else 'no CUDA'}; "
              f"choose with --preset paper|cpu)")
    _check_results_dir(args.results, write=False)  # every command but list reads or writes there
    if args.address and args.backend != "ray":
        raise UserError("--address is a Ray cluster's address, used only with --backend ray; this command runs "
                        "locally: add --backend ray, or drop --address")
    if args.address and args.dry_run:
        print(f"note: --address {args.address} is ignored with --dry-run (nothing runs, no cluster is contacted)")
    if {"claims", "report"} & set(args.tables):  # these read the paper's tables of that preset
        _check_preset(args.preset)
    status = 0
    for name in args.tables:
        run = {"claims": run_claims, "report": run_report}.get(name)
        status = max(status, run(args) if run else run_table(name, args))
    return status


if __name__ == "__main__":
    sys.exit(main())
