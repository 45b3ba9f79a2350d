"""Noise rules that a single run cannot fool (the claims' verdicts on our runs).

Two rules come on top of the paired test of claims.paired_verdict:

- Iterations are read every `eval_interval` steps, so an iteration difference of at most one
  evaluation interval is within noise, whatever its paired interval says ("90 against 80,
  CI [-10, -10]" is one evaluation step, not a certainty): `within_one_interval`.
- A difference in seconds that rests on one run per side is within noise when it is smaller
  than the run-to-run spread this machine shows for seconds to a threshold: `seconds_spread`
  measures it from the repeated tables (<stem>_per_repeat.csv: every run repeated with its own
  seed), and `under_spread` applies it. The spread is stated wherever it decides.

Both rules apply to our runs only; the paper's numbers are one number per cell (no noise).
"""
import csv
import glob
import math
import os
from dataclasses import dataclass

from utils.engine.config import task_defaults

EVAL_KEY = "TRAIN_CONFIGS.eval_interval"


def eval_interval(sweep, runs: list = None) -> int:
    """The largest evaluation interval of the sweep's runs, or of `runs` of it (run override, else
    preset, else the task's default): the resolution their iterations to a threshold are read at."""
    default = task_defaults(sweep.task)[0].get("TRAIN_CONFIGS", {}).get("eval_interval", 1)
    preset = sweep.preset_overrides.get(EVAL_KEY, default)
    runs = sweep.runs if runs is None else runs
    return int(max([r.overrides.get(EVAL_KEY, preset) for r in runs] or [preset]))


def intervals_by_network(sweep) -> dict:
    """network tag -> eval_interval of that network's runs (the scale ladder reads its 5x256 rungs
    more often than its 3x128 ones)."""
    networks = dict.fromkeys(r.tags.get("network") for r in sweep.runs)
    return {net: eval_interval(sweep, [r for r in sweep.runs if r.tags.get("network") == net]) for net in networks}


def within_one_interval(diff: float, interval: int) -> bool:
    """An iteration difference no larger than one evaluation interval (both finite). A difference
    rebuilt from ratios ((38/36 - 1) * 36 = 2.0000000000000009) is compared with a little slack."""
    return interval is not None and math.isfinite(diff) and abs(diff) <= interval * (1 + 1e-9)


@dataclass
class Spread:
    """The run-to-run spread of seconds to a threshold on this machine: the median, over every
    repeated run and seconds-to-threshold column of the repeated tables, of (max - min) / median
    across its repeats. `runs`: how many (run, column) sets it rests on; `files`: the tables."""
    relative: float
    runs: int
    files: list

    def text(self) -> str:
        return (f"{100 * self.relative:.0f}% (the median range of seconds to a threshold across repeats, "
                f"{self.runs} repeated runs x columns of {', '.join(self.files)})")


def _number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None  # empty (not reached) or a bound such as ">2000"
    return v if math.isfinite(v) else None


def seconds_spread(results_dir: str, preset: str):
    """Spread of seconds to a threshold from every <table>_<preset>_per_repeat.csv; None without any."""
    ranges, files = [], []
    for path in sorted(glob.glob(os.path.join(results_dir, f"*_{preset}_per_repeat.csv"))):
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("status") == "completed"]
        if not rows:
            continue
        cols = [c for c in rows[0] if c.startswith("time_to_")]
        groups = {}
        for r in rows:
            for c in cols:
                v = _number(r.get(c))
                if v is not None:
                    groups.setdefault((r["run"], r["signal"], c), []).append(v)
        found = [(max(v) - min(v)) / _median(v) for v in groups.values() if len(v) >= 2 and _median(v) > 0]
        if found:
            ranges += found
            files.append(os.path.basename(path))
    if not ranges:
        return None
    return Spread(_median(ranges), len(ranges), files)


def relative_gap(a: float, b: float) -> float:
    """|a - b| over their mean (inf when either is not finite)."""
    if not (math.isfinite(a) and math.isfinite(b)) or a + b == 0:
        return math.inf
    return abs(a - b) / (abs(a + b) / 2)


def under_spread(a: float, b: float, spread) -> bool:
    """Two one-run seconds (or ratios of seconds) closer than the machine's spread."""
    return spread is not None and relative_gap(a, b) < spread.relative


def _median(values: list) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
