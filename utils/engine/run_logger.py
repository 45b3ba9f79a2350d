"""Per-run outputs: a fresh run folder, metrics.csv, summary.json and time-to-threshold.

Times are training seconds: sampling + update with the device synchronized
before each clock read; evaluation is excluded. Beside them, metrics.csv's
`wall_seconds` is the loop's elapsed wall time, evaluation included (the NINT
release timed the whole loop that way).
"""
import csv
import json
import math
import os

from utils.errors import UserError
from utils.locks import claim_folder


def fresh_run_dir(root: str, name: str) -> str:
    """root/name, or root/name_1, root/name_2, ... when that path exists and is not an empty
    folder (an earlier run's outputs are never overwritten). The folder is claimed atomically
    (utils/locks.py: its lock file created with O_EXCL), so two runs started at the same moment
    get two folders, and this process holds its lock until it ends. A folder that cannot be made
    is a UserError naming the path and why."""
    # The first part of the path that exists but is not a folder (e.g. out_root is a file)
    parent = os.path.abspath(os.path.join(root, name))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if os.path.exists(parent) and not os.path.isdir(parent) and parent != os.path.abspath(os.path.join(root, name)):
        raise UserError(f"cannot create the run folder {os.path.join(root, name)}: {parent} is a file, not a "
                        f"folder (TRAIN_CONFIGS.out_root / out_dir)")
    path, k = os.path.join(root, name), 0
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        while claim_folder(path) is None:
            k += 1
            path = os.path.join(root, f"{name}_{k}")
    except OSError as e:
        raise UserError(f"cannot create the run folder {path}: {e.strerror or type(e).__name__} "
                        f"(TRAIN_CONFIGS.out_root / out_dir)") from None
    return path


def threshold_key(metric: str, value) -> str:
    return f"{metric}_{value:g}" if isinstance(value, float) else f"{metric}_{value}"


def _clean(x):
    """JSON-safe: NaN and inf become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class RunLogger:
    """Collects one row per evaluation and writes metrics.csv and summary.json."""

    def __init__(self, run_dir: str, metrics: dict, thresholds: dict):
        self.run_dir = run_dir
        self.metrics = metrics          # name -> higher is better
        self.thresholds = thresholds    # name -> tuple of thresholds
        self.rows = []
        self.columns = ["step", "train_seconds", "wall_seconds"] + list(metrics) + ["batch_size", "loss"]

    def log(self, row: dict):
        self.rows.append(row)
        self.write_csv()

    def write_csv(self):
        with open(os.path.join(self.run_dir, "metrics.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in self.columns})

    def best(self, name):
        values = [r[name] for r in self.rows if r.get(name) is not None and not math.isnan(r[name])]
        if not values:
            return None
        return max(values) if self.metrics[name] else min(values)

    def first_reaching(self, name, threshold):
        """The first row whose `name` reaches `threshold` (>= when higher is better, else <=)."""
        higher = self.metrics[name]
        for r in self.rows:
            v = r.get(name)
            if v is not None and (v >= threshold if higher else v <= threshold):
                return r
        return None

    def summary(self, extra: dict) -> dict:
        out = {}
        for name in self.metrics:
            out[f"best_{name}"] = _clean(self.best(name))
            out[f"final_{name}"] = _clean(self.rows[-1].get(name)) if self.rows else None
        time_to, iters_to = {}, {}
        for name, values in self.thresholds.items():
            for t in values:
                r = self.first_reaching(name, t)
                key = threshold_key(name, t)
                time_to[key] = r["train_seconds"] if r else None
                iters_to[key] = r["step"] if r else None
        out["time_to"], out["iters_to"] = time_to, iters_to
        out.update(extra)
        return out

    def write_summary(self, extra: dict) -> dict:
        summary = self.summary(extra)
        tmp = os.path.join(self.run_dir, "summary.json.tmp")
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
        # summary.json is the "run finished" marker for reproduce.py: write it atomically.
        os.replace(tmp, os.path.join(self.run_dir, "summary.json"))
        return summary

    def state_dict(self):
        return {"rows": self.rows}

    def load_state_dict(self, state):
        self.rows = list(state["rows"])
