"""Columns of a reproduction table, and the table itself (Markdown + CSV) beside the paper's numbers.

A column is one number read from a run folder. The kinds (one per column):

    {metric: psnr, at_step: 1000}      the metric at that evaluation step (metrics.csv;
                                       the last evaluation at or before it)
    {metric: si_snr, at_seconds: 3}    the metric at the last evaluation within that many
                                       training seconds (the final one if training ended sooner)
    {best: psnr}, {final: psnr}        summary.json's best_* / final_*
    {time_to: psnr_30}                 training seconds to reach the threshold (summary.json)
    {iters_to: psnr_30}                iterations to reach it
    {summary: parameters}              any number in summary.json

Optional keys: id (what `paper:` and preset adjustments refer to; a default is made
from the spec), header, fmt (Python format spec, e.g. '.2f').
"""
import csv
import math
import os

from utils.errors import UserError
from utils.reproduce.execute import changed_setting
from utils.reproduce.results import RunResult, read_run
from utils.reproduce.sweep import describe_preset

KINDS = ("metric", "best", "final", "time_to", "iters_to", "summary")
COLUMN_KEYS = KINDS + ("at_step", "at_seconds", "id", "header", "fmt")
PRETTY = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "si_snr": "SI-SNR", "stoi": "STOI",
          "pesq": "PESQ", "iou": "IoU", "chamfer": "Chamfer"}
DEFAULT_FMT = {"psnr": ".2f", "si_snr": ".2f", "pesq": ".2f", "ssim": ".4f", "lpips": ".4f",
               "stoi": ".4f", "iou": ".4f", "chamfer": ".5f"}
TIME_ACCOUNTING = ("Time accounting: training seconds only (sampling + update, with the device synchronized "
                   "before each clock read); evaluation, logging and checkpoints are excluded. The NINT "
                   "release's clock also counted its per-step metric computation, so the paper's seconds "
                   "include work that ours leave out.")


def _pretty_threshold(key: str) -> str:
    metric, _, value = key.rpartition("_")
    return f"{PRETTY.get(metric, metric)} {value}"


def _kind(spec: dict) -> str:
    kinds = [k for k in KINDS if k in spec]
    if len(kinds) != 1:
        raise ValueError(f"column {spec}: give exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    if kind == "metric" and ("at_step" in spec) == ("at_seconds" in spec):
        raise ValueError(f"column {spec}: 'metric' needs exactly one of at_step, at_seconds")
    return kind


def _defaults(spec: dict) -> dict:
    kind = _kind(spec)
    value = spec[kind]
    if kind == "metric":
        name = PRETTY.get(value, value)
        if "at_step" in spec:
            cid, header = f"{value}_step{spec['at_step']}", f"{name} @ {spec['at_step']} it"
        else:
            cid, header = f"{value}_{spec['at_seconds']:g}s", f"{name} @ {spec['at_seconds']:g} s"
        fmt = DEFAULT_FMT.get(value, ".4g")
    elif kind in ("best", "final"):
        cid, header, fmt = f"{kind}_{value}", f"{kind} {PRETTY.get(value, value)}", DEFAULT_FMT.get(value, ".4g")
    elif kind == "time_to":
        cid, header, fmt = f"time_to_{value}", f"s to {_pretty_threshold(value)}", ".2f"
    elif kind == "iters_to":
        cid, header, fmt = f"iters_to_{value}", f"it to {_pretty_threshold(value)}", ".0f"
    else:
        cid, header, fmt = str(value), str(value), ",.6g"
    return {"id": cid, "header": header, "fmt": fmt}


def resolve_columns(columns, adjustments, where: str) -> list:
    """The sweep's columns with a preset's adjustments ({column id: {key: value}}) applied.

    An adjusted column keeps its id (so the paper's number stays beside it) and gets a
    header made from its new spec unless one is given.
    """
    if not isinstance(columns, list) or not columns:
        raise UserError(f"{where}: 'columns' must be a non-empty list of column specs")
    raw = []
    for i, spec in enumerate(columns):
        if not isinstance(spec, dict) or any(k not in COLUMN_KEYS for k in spec):
            raise UserError(f"{where}, columns[{i}]: a mapping with keys from {', '.join(COLUMN_KEYS)}")
        raw.append(dict(spec))
    try:
        ids = [{**_defaults(r), **r}["id"] for r in raw]
        if len(set(ids)) < len(ids):
            raise UserError(f"{where}: column ids must be unique: {', '.join(ids)}")
        for cid, change in (adjustments or {}).items():
            if cid not in ids:
                raise UserError(f"{where}: the preset adjusts column '{cid}', which is not a column id "
                                f"({', '.join(ids)})")
            if not isinstance(change, dict) or any(k not in COLUMN_KEYS for k in change):
                raise UserError(f"{where}: preset column '{cid}': expected a mapping such as {{at_step: 500}}")
            spec = raw[ids.index(cid)]
            for a, b in (("at_step", "at_seconds"), ("at_seconds", "at_step")):
                if a in change:
                    spec.pop(b, None)
            spec.update(change)
        return [{**_defaults(r), **r, "id": cid} for r, cid in zip(raw, ids)]
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None


def column_value(spec: dict, result) -> float:
    """One cell's number from a RunResult; None when not available (threshold not reached, run too short)."""
    summary, rows = result.summary or {}, result.rows
    kind = _kind(spec)
    if kind == "metric":
        name = spec["metric"]
        if "at_step" in spec:
            target = spec["at_step"]
            if not rows or rows[-1].get("step") is None or rows[-1]["step"] < target:
                return None
            within = [r for r in rows if r.get("step") is not None and r["step"] <= target]
        else:
            within = [r for r in rows if r.get("train_seconds") is not None and r["train_seconds"] <= spec["at_seconds"]]
        return within[-1].get(name) if within else None
    if kind in ("best", "final"):
        return summary.get(f"{kind}_{spec[kind]}")
    if kind in ("time_to", "iters_to"):
        return (summary.get(kind) or {}).get(spec[kind])
    value = summary.get(spec["summary"])
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value, fmt: str) -> str:
    if value is None:
        return ""
    try:
        return format(value, fmt)
    except (ValueError, TypeError):
        return str(value)


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
        entry["values"] = {}
        for spec in sweep.columns:
            values = [column_value(spec, res) for res in done]
            reached = [float(v) for v in values if v is not None and math.isfinite(float(v))]
            mean = sum(reached) / len(reached) if reached else None
            std = (math.sqrt(sum((v - mean) ** 2 for v in reached) / (len(reached) - 1))
                   if len(reached) > 1 else None)
            entry["values"][spec["id"]] = (mean, std, len(reached), len(done))
    return list(by_name.values())


def _cell(spec, value) -> str:
    mean, std, n_reached, n_done = value
    if n_done == 0:
        return ""
    if mean is None:
        return "not reached" if _kind(spec) in ("time_to", "iters_to") else "n/a"
    text = _fmt(mean, spec["fmt"])
    if std is not None:
        text += f" ± {_fmt(std, spec['fmt'])}"
    if n_reached < n_done:
        text += f" ({n_reached}/{n_done})"
    return text


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def execution_note(sweep, entries) -> str:
    """How the runs were executed: backend, how many at once, devices."""
    metas = [res.meta for e in entries for _, res in e["results"] if res.meta]
    if not metas:
        return "Execution: no run has been executed yet."
    parts = []
    for backend in sorted({m.get("backend", "?") for m in metas}):
        jobs = sorted({m.get("jobs") for m in metas if m.get("backend") == backend and m.get("jobs")})
        if backend == "ray":
            parts.append(f"on a Ray cluster, one task per run, up to {'/'.join(map(str, jobs))} at once")
        else:
            at_once = " or ".join(map(str, jobs))
            parts.append(f"locally, {at_once} process{'es' if jobs != [1] else ''} at a time (--jobs)")
    devices = sorted({res.summary.get("device") for e in entries for _, res in e["results"]
                      if res.summary and res.summary.get("device")})
    hosts = sorted({m.get("host") for m in metas if m.get("host")})
    text = "Execution: " + "; ".join(parts)
    if devices:
        text += f"; device {', '.join(devices)}"
    if hosts:
        text += f"; host {', '.join(hosts)}"
    wall_seconds = [m["wall_seconds"] for m in metas if isinstance(m.get("wall_seconds"), (int, float))]
    if wall_seconds:
        # With one run at a time, what a user waits for: start-up, training and evaluation.
        parallel = any(m.get("backend") == "ray" or (m.get("jobs") or 1) > 1 for m in metas)
        text += (f"; runtime {sum(wall_seconds) / 60:.1f} min in all (the process wall times of "
                 f"{len(wall_seconds)} runs, start-up and evaluation included, of the last execution when "
                 f"a run was resumed{'; summed, though runs went side by side' if parallel else ''})")
    return text + "."


def build_markdown(sweep, entries, command: str = None) -> str:
    statuses = [res.status for e in entries for _, res in e["results"]]
    counts = {s: statuses.count(s) for s in ("completed", "failed", "diverged", "interrupted", "stale", "missing")}
    has_paper = any(sweep.paper.get(e["name"]) for e in entries)
    lines = [f"# {sweep.table}: {sweep.title}", ""]
    if sweep.description:
        lines += [sweep.description, ""]
    lines.append(f"- Preset `{sweep.preset}`: {describe_preset(sweep)}")
    if sweep.signals:
        if len(sweep.signals) == 1:
            lines.append(f"- Signal: `{sweep.signals[0]}`.")
        else:
            names = ", ".join(os.path.basename(s) for s in sweep.signals)
            lines.append(f"- Signals: {len(sweep.signals)} files ({names}); each cell is the mean ± sample "
                         f"standard deviation across them; (k/n) = only k of n runs reached the threshold.")
    if sweep.repeats > 1:
        lines.append(f"- Repeats: every run ran {sweep.repeats} times, one after another (--repeats); each cell is "
                     f"the mean ± sample standard deviation over the repeats (the metrics repeat exactly, the "
                     f"seconds vary with the machine's load).")
    lines.append(f"- Runs: {counts['completed']} completed, {counts['failed']} failed, {counts['diverged']} diverged, "
                 f"{counts['interrupted']} interrupted, "
                 + (f"{counts['stale']} stale (other settings), " if counts["stale"] else "")
                 + f"{counts['missing']} not run (of {len(statuses)}).")
    lines.append(f"- {execution_note(sweep, entries)}")
    lines.append(f"- {TIME_ACCOUNTING}")
    if has_paper:
        lines.append("- *paper*: the paper's value (NINT, CVPR 2026; RTX 4090, its own clock) where "
                     "SPEC.md section 8 lists it; empty otherwise.")
    if command:
        lines.append(f"- Command: `{command}`")
    lines.append("")
    header = ["run"]
    for spec in sweep.columns:
        header.append(spec["header"])
        if has_paper:
            header.append("*paper*")
    lines.append("| " + " | ".join(_escape(h) for h in header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for e in entries:
        cells = [e["label"]]
        failed_all = e["n_completed"] == 0 and e["errors"]
        for i, spec in enumerate(sweep.columns):
            if failed_all:
                cells.append(e["errors"][0] if i == 0 else "")
            elif e["n_completed"] == 0:
                cells.append("not run" if i == 0 else "")
            else:
                cells.append(_cell(spec, e["values"][spec["id"]]))
            if has_paper:
                paper = (sweep.paper.get(e["name"]) or {}).get(spec["id"])
                cells.append(_fmt(paper, spec["fmt"]) if isinstance(paper, (int, float)) else (paper or ""))
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    notes = [f"- {e['label']}: {err}" for e in entries for err in e["errors"]
             if not (e["n_completed"] == 0 and err == e["errors"][0])]
    if notes:
        lines += ["", "Failures:", *notes]
    return "\n".join(lines) + "\n"


def write_csv(path: str, sweep, entries):
    ids = [c["id"] for c in sweep.columns]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "label", "completed", "total", "error"]
                        + [x for cid in ids for x in (cid, f"{cid}_std", f"{cid}_n", f"paper_{cid}")])
        for e in entries:
            row = [e["name"], e["label"], e["n_completed"], e["n_total"], "; ".join(e["errors"])]
            for cid in ids:
                mean, std, n, _ = e["values"][cid]
                row += [mean, std, n, (sweep.paper.get(e["name"]) or {}).get(cid)]
            writer.writerow(["" if v is None else v for v in row])


def write_per_signal_csv(path: str, sweep, entries):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "label", "signal", "status", "error"] + [c["id"] for c in sweep.columns])
        for e in entries:
            for run, res in e["results"]:
                values = [column_value(c, res) if res.status == "completed" else None for c in sweep.columns]
                writer.writerow([e["name"], e["label"], run.signal or "", res.status, res.error or ""]
                                + ["" if v is None else v for v in values])


def write_table(sweep, command: str = None) -> list:
    """results/<stem>.md and .csv (and <stem>_per_signal.csv over several signals); returns the paths."""
    os.makedirs(sweep.results_dir, exist_ok=True)
    entries = collect(sweep)
    md = os.path.join(sweep.results_dir, f"{sweep.stem}.md")
    with open(md, "w") as f:
        f.write(build_markdown(sweep, entries, command))
    out = [md, os.path.join(sweep.results_dir, f"{sweep.stem}.csv")]
    write_csv(out[1], sweep, entries)
    if sweep.signals and len(sweep.signals) > 1:
        out.append(os.path.join(sweep.results_dir, f"{sweep.stem}_per_signal.csv"))
        write_per_signal_csv(out[-1], sweep, entries)
    return out
