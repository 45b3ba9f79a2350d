"""One run folder: what it holds, what that says about its run, and what to do with it next.

Files the training CLI writes: summary.json (the "finished" marker; status
completed | interrupted | diverged), metrics.csv (one row per evaluation),
checkpoint.pt (resume). Files reproduce.py adds: reproduce.json (how the run was
executed: backend, how many ran at once, host, exit status), reproduce.log (the
process's stdout and stderr) and, when the process failed, failed.json (exit
status and its error line).

The plan for a run (`plan`), from its folder's state:
- summary.json says completed (or diverged): finished, never redone ('skip');
- summary.json says interrupted and checkpoint.pt is there: `--resume FOLDER` ('resume');
- its config.yaml differs from what the sweep asks for now (the sweep file or preset
  was edited since; finished or interrupted): 'stale', the old folder is kept as
  <folder>.stale-<time> and the run starts afresh, so a table never mixes two settings;
- otherwise (never started, or failed last time): the folder is cleared and the run
  starts afresh ('fresh').
`prepare` readies the folder for that plan and `record` writes what came of it; both
backends (local.py, ray_backend.py) use them.
"""
import csv
import json
import os
import shutil
import time
from dataclasses import dataclass, field

from utils.errors import UserError

SUMMARY, METRICS, CHECKPOINT = "summary.json", "metrics.csv", "checkpoint.pt"
FAILED, META, LOG = "failed.json", "reproduce.json", "reproduce.log"
EXIT_DIVERGED, EXIT_INTERRUPTED = 3, 130  # train_<task>.py's exit statuses that are not failures


# ----------------------------------------------------------------------------- reading


@dataclass
class RunResult:
    """status: completed | interrupted | diverged | failed | missing (never started)."""
    status: str
    summary: dict = None
    rows: list = field(default_factory=list)
    error: str = None
    meta: dict = field(default_factory=dict)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _number(text):
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_metrics(folder: str) -> list:
    """metrics.csv as a list of {column: float or None}, in step order."""
    path = os.path.join(folder, METRICS)
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_status(folder: str) -> str:
    if os.path.isfile(os.path.join(folder, FAILED)):
        return "failed"
    summary = _read_json(os.path.join(folder, SUMMARY))
    if summary and summary.get("status") in ("completed", "interrupted", "diverged"):
        return summary["status"]
    return "missing"


def read_run(folder: str) -> RunResult:
    status = read_status(folder)
    summary = _read_json(os.path.join(folder, SUMMARY))
    meta = _read_json(os.path.join(folder, META)) or {}
    error = None
    if status == "failed":
        error = (_read_json(os.path.join(folder, FAILED)) or {}).get("error") or "unknown error"
    elif status == "diverged":
        error = f"diverged at step {summary.get('iterations')}"
    return RunResult(status=status, summary=summary, rows=read_metrics(folder), error=error, meta=meta)


def error_line(stderr: str, returncode: int) -> str:
    """The line that says why a run failed: its 'error: ...' line, else stderr's last line."""
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return lines[-1] if lines else f"exit status {returncode}"


def write_json(path: str, data: dict):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the plan

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
        if new == "auto" and key.endswith("_chunk") and isinstance(old, int):
            continue  # the run recorded what 'auto' meant on its device
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


# ----------------------------------------------------------------------------- before and after a run


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


def summary_line(run, status: str) -> str:
    """The progress log's line for a run that just ended, e.g. 'completed (12.3 s of training, psnr 30.1)'."""
    if status in ("failed", "diverged"):
        return f"{status}: {read_run(run.folder).error}"
    if status != "completed":
        return status
    summary = read_run(run.folder).summary or {}
    metric = next((k for k in summary if k.startswith("final_") and summary[k] is not None), None)
    shown = f", {metric[6:]} {summary[metric]:.4g}" if metric else ""
    return f"completed ({summary.get('train_seconds', 0):.1f} s of training{shown})"
