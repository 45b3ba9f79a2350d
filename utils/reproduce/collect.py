"""A sweep's results, gathered once for every report (tables, figures, the speed-up report).

`collect` reads each run folder, marks runs made with other settings than the sweep's
now as stale, and gives each run name its per-column (mean, std, n reached, n completed)
and, per column, how many completed runs ended training before an at_seconds column's time.
Each entry also keeps every completed run's own value per column (`samples`: column id ->
{(signal, repeat): value, None when not reached}), so that two runs can be compared pair by
pair: the same signal and the same repeat (the same seed).

`stored_samples` gives the same per-run values read back from a sweep's committed results files,
for a machine whose run folders are gone.

It also names the rows' roles, shared by the reports that judge NINT (speedup, claims):
`is_nint`, `is_rival`, and `RELEASE`, the run of NINT with the release's score.
"""
import csv
import math
import os

from utils.reproduce.columns import column_value, ended_before
from utils.reproduce.run_folder import RunResult, changed_setting, read_run

TIME_ACCOUNTING = ("Time accounting: training seconds only (sampling + update, with the device synchronized "
                   "before each clock read); evaluation, logging and checkpoints are excluded. The NINT "
                   "release's clock also counted its per-step metric computation, so the paper's seconds "
                   "include work that ours leave out.")
RELEASE = "nint_release"  # NINT with the release's score (nint.ntk_score: output_norm)


def is_nint(name: str) -> bool:
    """NINT rows as the paper states the method (K g); the release's score is neither NINT nor a rival."""
    return name.startswith("nint") and name != RELEASE


def is_rival(name: str) -> bool:
    """A row NINT is judged against: every run not named nint... (NINT's own forms, such as the
    release's score, NINT without its NTK stream or re-selecting every 5 steps, are not rivals)."""
    return not name.startswith("nint")


def collect(sweep) -> list:
    """One entry per run name: its label, statuses and per-column (mean, std, n reached, n completed)."""
    by_name = {}
    for run in sweep.runs:
        entry = by_name.setdefault(run.name, {"name": run.name, "label": run.label, "tags": run.tags,
                                              "results": [], "errors": []})
        result = read_run(run.folder)
        if result.status in ("completed", "diverged", "interrupted"):
            change = changed_setting(sweep.task, run)
            if change:  # e.g. --table-only after the sweep file was edited: never mix settings
                result = RunResult(status="stale", error=f"ran with other settings ({change}); "
                                   f"run the sweep again", meta=result.meta)
        entry["results"].append((run, result))
        if result.status in ("failed", "diverged", "stale"):
            where = f" ({os.path.basename(run.signal)})" if run.signal and sweep.per_signal_folders else ""
            entry["errors"].append(f"{result.status}{where}: {result.error}")
    for entry in by_name.values():
        done = [res for _, res in entry["results"] if res.status == "completed"]
        entry["n_total"], entry["n_completed"] = len(entry["results"]), len(done)
        entry["values"], entry["ended_before"], entry["samples"] = {}, {}, {}
        for spec in sweep.columns:
            entry["ended_before"][spec["id"]] = sum(ended_before(spec, res) for res in done)
            entry["samples"][spec["id"]] = {(run.signal, run.repeat): column_value(spec, res)
                                            for run, res in entry["results"] if res.status == "completed"}
            values = [column_value(spec, res) for res in done]
            reached = [float(v) for v in values if v is not None and math.isfinite(float(v))]
            mean = sum(reached) / len(reached) if reached else None
            std = (math.sqrt(sum((v - mean) ** 2 for v in reached) / (len(reached) - 1))
                   if len(reached) > 1 else None)
            entry["values"][spec["id"]] = (mean, std, len(reached), len(done))
    return list(by_name.values())


def stored_samples(sweep) -> tuple:
    """(samples, file) read back from the sweep's committed results files, for a machine whose
    run folders are gone (results/runs/ is not in git): every run process's own values from
    <stem>_per_repeat.csv or <stem>_per_signal.csv, else the single run's from <stem>.csv (a
    cell's value with n 1, None when its threshold was not reached). ({}, None) without one."""
    per_run = [f"{sweep.stem}_per_repeat.csv", f"{sweep.stem}_per_signal.csv"]
    ids = [c["id"] for c in sweep.columns]
    names = set(r.name for r in sweep.runs)

    def number(text):
        return float(text) if text not in ("", None) else None
    for name in per_run:
        path = os.path.join(sweep.results_dir, name)
        if os.path.isfile(path):
            samples = {}
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if row["run"] in names and row["status"] == "completed":
                        key = (row["signal"] or None, int(row["repeat"]))
                        for cid in ids:
                            samples.setdefault(row["run"], {}).setdefault(cid, {})[key] = number(row.get(cid))
            return samples, path
    path = os.path.join(sweep.results_dir, f"{sweep.stem}.csv")
    if not os.path.isfile(path):
        return {}, None
    samples = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["run"] in names and int(row["completed"] or 0) == 1:
                samples[row["run"]] = {cid: {(None, 1): number(row.get(cid)) if int(row.get(f"{cid}_n") or 0) else None}
                                       for cid in ids}
    return samples, path


def collect_or_stored(sweep) -> tuple:
    """(entries as `collect` gives them, None) from the run folders; where none of the sweep's is
    on this machine (a fresh checkout), the same entries with `samples` and `n_completed` read
    from its committed results files, and that file's path."""
    entries = collect(sweep)
    if any(e["n_completed"] or e["errors"] for e in entries):
        return entries, None
    samples, path = stored_samples(sweep)
    if not samples:
        return entries, None
    for e in entries:
        e["samples"] = samples.get(e["name"], {})
        e["n_completed"] = len(next(iter(e["samples"].values()), {}))
    return entries, path
