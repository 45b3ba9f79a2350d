"""Run every run of a sweep once: skip the finished, resume the interrupted, record the failed.

A run is one `python train_<task>.py ...` process with its own folder:
- summary.json says completed (or diverged): finished, never redone;
- summary.json says interrupted and checkpoint.pt is there: `--resume FOLDER`;
- otherwise (never started, or failed last time): the folder is cleared and the run
  starts afresh;
- its config.yaml differs from what the sweep asks for now (the sweep file or preset
  was edited since; finished or interrupted): "stale", the old folder is kept as
  <folder>.stale-<time> and the run starts afresh, so a table never mixes two settings.
A failed run leaves failed.json (exit status + its error line) and the sweep goes on.

Backends: local subprocesses, `jobs` at a time (default 1, since training seconds
are the measure and parallel runs share the CPU/GPU); or Ray (`backend='ray'`): one
task per run on an existing cluster, one GPU per task when the cluster has GPUs, the
run folder shipped back to this machine's results/.
"""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from utils.engine.config import ROOT
from utils.errors import UserError
from utils.reproduce.results import (CHECKPOINT, FAILED, LOG, META, error_line, read_status,
                                     write_json)

RAY_VERSION = "2.60.0"  # the version tested here (pip install ray==2.60.0)
EXIT_DIVERGED, EXIT_INTERRUPTED = 3, 130
# Not shipped to a Ray cluster with the code: outputs, environments, VCS.
RAY_EXCLUDES = ["results/", "outputs/", ".venv/", "wandb/", ".git/", ".cache/", "**/__pycache__/"]


# Settings that say where and how a run was executed, not what it computed.
EXECUTION_KEYS = {"TRAIN_CONFIGS.out_root", "TRAIN_CONFIGS.out_dir", "TRAIN_CONFIGS.progress",
                  "TRAIN_CONFIGS.device", "TRAIN_CONFIGS.num_threads"}


def _flat(cfg: dict) -> dict:
    return {f"{s}.{k}": v for s, entries in (cfg or {}).items() if isinstance(entries, dict)
            for k, v in entries.items()}


def changed_setting(task: str, run) -> str:
    """'KEY: old -> new' for the first setting in which the run folder's config.yaml differs
    from what the sweep asks for now; None when they agree (or there is nothing to compare).

    Files are compared by their real paths (Ray runs get this machine's paths written back
    into their config.yaml when they return). A key the saved config lacks
    was added to the schema after the run: the run had its default, so it is stale only when
    the sweep asks for another value.
    """
    path = os.path.join(run.folder, "config.yaml")
    if not os.path.isfile(path):
        return None
    from utils.engine.config import load_config, read_yaml
    try:
        saved, wanted = _flat(read_yaml(path)), _flat(load_config(task, overrides=run.argv))
    except UserError:
        return None  # a bad override: the run itself will fail with that message
    # The defaults of the run's own model (its model_config keys and lr differ per model).
    model = wanted.get("model_config.name")
    defaults = _flat(load_config(task, overrides=[f"model_config.name={model}"] if model else ()))
    for key in set(wanted) - set(saved):
        if key in defaults and key not in EXECUTION_KEYS:
            saved[key] = defaults[key]
    for key, old in saved.items():
        if key in EXECUTION_KEYS or key not in wanted:
            continue
        new = wanted[key]
        if key.endswith("file_path") and isinstance(old, str) and isinstance(new, str):
            old, new = os.path.realpath(old), os.path.realpath(new)
        if old != new:
            return f"{key}: {old!r} -> {new!r}"
    return None


def plan(run, task: str = None) -> str:
    """'skip' (finished), 'resume' (interrupted with a checkpoint), 'stale' (run with other
    settings than the sweep's now; compared when `task` is given) or 'fresh'."""
    return plan_and_change(run, task)[0]


def plan_and_change(run, task: str = None) -> tuple:
    """(plan(run, task), the changed setting when the plan is 'stale', else None)."""
    status = read_status(run.folder)
    if task and status in ("completed", "diverged", "interrupted"):
        change = changed_setting(task, run)
        if change:
            return "stale", change
    if status in ("completed", "diverged"):
        return "skip", None
    if status == "interrupted" and os.path.isfile(os.path.join(run.folder, CHECKPOINT)):
        return "resume", None
    return "fresh", None


def train_argv(sweep, run, action: str) -> list:
    """The arguments after `python`: the task's script with the run's overrides, or --resume."""
    if action == "resume":
        return [sweep.script, "--resume", run.folder]
    return [sweep.script, *run.argv]


def prepare(run, action: str):
    """Clear what a fresh start must not find (train_<task>.py never reuses a non-empty folder)."""
    if action == "stale":  # another setting's result: kept aside, never overwritten
        stem = aside = f"{run.folder}.stale-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while os.path.exists(aside):
            n += 1
            aside = f"{stem}-{n}"
        os.rename(run.folder, aside)
    if action == "fresh" and os.path.isdir(run.folder):
        shutil.rmtree(run.folder)
    if action == "resume":
        for name in (FAILED,):
            path = os.path.join(run.folder, name)
            if os.path.isfile(path):
                os.remove(path)
    os.makedirs(os.path.dirname(run.folder), exist_ok=True)


def record(run, action: str, returncode: int, stdout: str, stderr: str, meta: dict) -> str:
    """Write reproduce.log / reproduce.json (and failed.json) into the run folder; returns the status."""
    os.makedirs(run.folder, exist_ok=True)
    with open(os.path.join(run.folder, LOG), "a") as f:
        f.write(f"=== {action} {time.strftime('%Y-%m-%d %H:%M:%S')} exit {returncode}\n"
                f"{stdout or ''}{stderr or ''}")
    write_json(os.path.join(run.folder, META), dict(meta, returncode=returncode, action=action))
    if returncode in (0, EXIT_DIVERGED, EXIT_INTERRUPTED) and read_status(run.folder) != "missing":
        return read_status(run.folder)
    write_json(os.path.join(run.folder, FAILED), {"returncode": returncode, "error": error_line(stderr, returncode)})
    return "failed"


def _subprocess_env(jobs: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        # N processes at once share the cores; without this each would start one thread per core.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def run_local(sweep, run, action: str, jobs: int) -> str:
    prepare(run, action)
    argv = [sys.executable, *train_argv(sweep, run, action)]
    t0 = time.time()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=_subprocess_env(jobs))
    meta = {"backend": "local", "jobs": jobs, "host": socket.gethostname(),
            "wall_seconds": round(time.time() - t0, 2), "command": " ".join(argv[1:])}
    return record(run, action, proc.returncode, proc.stdout, proc.stderr, meta)


def _summary_line(run, status: str) -> str:
    from utils.reproduce.results import read_run
    if status in ("failed", "diverged"):
        return f"{status}: {read_run(run.folder).error}"
    if status != "completed":
        return status
    summary = read_run(run.folder).summary or {}
    metric = next((k for k in summary if k.startswith("final_") and summary[k] is not None), None)
    shown = f", {metric[6:]} {summary[metric]:.4g}" if metric else ""
    return f"completed ({summary.get('train_seconds', 0):.1f} s of training{shown})"


def execute(sweep, jobs: int = 1, backend: str = "local", address: str = None, log=print) -> dict:
    """Run what is not finished yet. Returns {run folder: status}. Ctrl-C stops after the running ones."""
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    todo, statuses = [], {}
    for run in sweep.runs:
        action, change = plan_and_change(run, sweep.task)
        if action == "stale":
            log(f"{os.path.relpath(run.folder, sweep.runs_dir)} ran with other settings "
                f"({change}): run again, the old folder kept as .stale-*")
        if action == "skip":
            statuses[run.folder] = read_status(run.folder)
        else:
            todo.append((run, action))
    skipped = len(sweep.runs) - len(todo)
    log(f"{sweep.table} ({sweep.preset}): {len(sweep.runs)} runs, {skipped} already finished, "
        f"{len(todo)} to run ({backend}{'' if backend == 'ray' else f', {jobs} at a time'})")
    if not todo:
        return statuses
    if backend == "ray":
        statuses.update(run_on_ray(sweep, todo, address, log))
        return statuses
    if backend != "local":
        raise UserError(f"--backend must be local or ray, got {backend!r}")

    stop = threading.Event()
    counter = iter(range(1, len(todo) + 1))
    lock = threading.Lock()

    def one(item):
        run, action = item
        if stop.is_set():
            return run.folder, "not started"
        status = run_local(sweep, run, action, jobs)
        if status == "interrupted":
            stop.set()  # Ctrl-C reached the children too: start nothing new
        with lock:
            log(f"[{next(counter)}/{len(todo)}] {os.path.relpath(run.folder, sweep.runs_dir)}: "
                f"{'resumed, ' if action == 'resume' else ''}{_summary_line(run, status)}")
        return run.folder, status

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, item) for item in todo]
    try:
        for future in futures:
            folder, status = future.result()
            statuses[folder] = status
    except KeyboardInterrupt:
        stop.set()
        log("interrupted: waiting for the running processes to save their checkpoints; "
            "run the same command again to continue")
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return statuses


# ----------------------------------------------------------------------------- Ray


def _shipped_files(run) -> dict:
    """Override keys whose value is a file on this machine (the signal): key -> (name, bytes)."""
    shipped = {}
    for text in run.argv:
        key, _, value = text.partition("=")
        if key.endswith("file_path") and value and os.path.isfile(value):
            with open(value, "rb") as f:
                shipped[key] = (os.path.basename(value), f.read())
    return shipped


def localise_config(run):
    """Write this machine's signal paths (the run's overrides) back into a run's config.yaml:
    a Ray worker trained on its own copy, whose path means nothing here (figures read the
    ground truth from config.yaml, the stale check compares paths)."""
    path = os.path.join(run.folder, "config.yaml")
    if not os.path.isfile(path):
        return
    from utils.engine.config import dump_config, parse_override, read_yaml
    cfg = read_yaml(path)
    for text in run.argv:
        section, key, value = parse_override(text)
        if key.endswith("file_path") and key in (cfg.get(section) or {}):
            cfg[section][key] = value
    dump_config(cfg, path)


def _folder_files(folder: str) -> dict:
    files = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def _make_ray_task():
    """The function a Ray worker runs for one run (defined here so it ships by value: stdlib only)."""

    def train_on_worker(payload: dict) -> dict:
        import os
        import shutil
        import socket
        import subprocess
        import sys
        import tempfile
        import time

        import yaml

        root = payload["code_root"]
        if not os.path.isfile(os.path.join(root, payload["script"])):
            root = os.getcwd()  # the code came with the job's runtime_env working_dir
        tmp = tempfile.mkdtemp(prefix="nint_run_")
        try:
            local = {}
            for key, (name, data) in payload["signals"].items():
                path = os.path.join(tmp, "signals", key.replace(".", "_"), name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                local[key] = path
            folder = os.path.join(tmp, "runs", payload["name"])
            if payload["resume"]:
                for rel, data in payload["files"].items():
                    path = os.path.join(folder, rel)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                cfg_path = os.path.join(folder, "config.yaml")
                with open(cfg_path) as f:
                    cfg = yaml.safe_load(f)
                for key, path in local.items():  # the saved config names the driver's paths
                    section, k = key.split(".", 1)
                    cfg[section][k] = path
                with open(cfg_path, "w") as f:
                    yaml.safe_dump(cfg, f, sort_keys=False)
                argv = [payload["script"], "--resume", folder]
            else:
                argv = [payload["script"]]
                for text in payload["argv"]:
                    key = text.split("=", 1)[0]
                    if key in local:
                        text = f"{key}={local[key]}"
                    elif key == "TRAIN_CONFIGS.out_root":
                        text = f"{key}={os.path.join(tmp, 'runs')}"
                    elif key == "TRAIN_CONFIGS.out_dir":
                        text = f"{key}={payload['name']}"
                    argv.append(text)
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            t0 = time.time()
            proc = subprocess.run([sys.executable, *argv], cwd=root, capture_output=True, text=True, env=env)
            files = _folder_files(folder)  # the shipped working_dir makes this module importable
            return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                    "files": files, "host": socket.gethostname(), "wall_seconds": round(time.time() - t0, 2)}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return train_on_worker


def run_on_ray(sweep, todo: list, address: str, log=print) -> dict:
    """One Ray task per run; results written back into each run's folder here."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--backend ray needs the optional package ray: pip install ray=={RAY_VERSION}") from None
    if not ray.is_initialized():
        if not address:
            raise UserError("--backend ray needs --address ADDR of a running cluster (e.g. ray://head:10001 "
                            "or auto), or start one here with `ray start --head`")
        try:
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"working_dir": ROOT, "excludes": RAY_EXCLUDES})
        except Exception as e:  # connection refused, bad address, version mismatch
            raise UserError(f"cannot connect to Ray at {address}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    slots = int(gpus) if gpus >= 1 else int(resources.get("CPU", 1))
    task = ray.remote(num_cpus=1, num_gpus=1 if gpus >= 1 else 0, max_retries=0)(_make_ray_task())
    refs = {}
    for run, action in todo:
        prepare(run, action)
        payload = {"code_root": ROOT, "script": sweep.script, "argv": run.argv, "name": os.path.basename(run.folder),
                   "resume": action == "resume", "signals": _shipped_files(run),
                   "files": _folder_files(run.folder) if action == "resume" else {}}
        refs[task.remote(payload)] = (run, action)
    log(f"ray: {len(refs)} tasks sent ({'1 GPU' if gpus >= 1 else '1 CPU'} each; up to {slots} at once)")
    statuses, done = {}, 0
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            run, action = refs[ready[0]]
            done += 1
            try:
                out = ray.get(ready[0])
            except Exception as e:  # the worker died, or the task raised
                out = {"returncode": -1, "stdout": "", "stderr": f"error: ray task failed: "
                       f"{str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}",
                       "files": {}, "host": "?", "wall_seconds": None}
            if action == "fresh" and os.path.isdir(run.folder):
                shutil.rmtree(run.folder)
            for rel, data in out["files"].items():
                path = os.path.join(run.folder, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            localise_config(run)
            meta = {"backend": "ray", "jobs": slots, "host": out["host"], "wall_seconds": out["wall_seconds"],
                    "command": " ".join(train_argv(sweep, run, action))}
            status = record(run, action, out["returncode"], out["stdout"], out["stderr"], meta)
            statuses[run.folder] = status
            log(f"[{done}/{len(refs)}] {os.path.relpath(run.folder, sweep.runs_dir)}: {_summary_line(run, status)}")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        log("interrupted: the unfinished Ray tasks were cancelled; run the same command again to continue")
        raise
    return statuses
