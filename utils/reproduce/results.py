"""What one run folder says about its run.

Files the training CLI writes: summary.json (the "finished" marker; status
completed | interrupted | diverged), metrics.csv (one row per evaluation),
checkpoint.pt (resume). Files reproduce.py adds: reproduce.json (how the run was
executed: backend, how many ran at once, host, exit status), reproduce.log (the
process's stdout and stderr) and, when the process failed, failed.json (exit
status and its error line).
"""
import csv
import json
import os
from dataclasses import dataclass, field

SUMMARY, METRICS, CHECKPOINT = "summary.json", "metrics.csv", "checkpoint.pt"
FAILED, META, LOG = "failed.json", "reproduce.json", "reproduce.log"


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
