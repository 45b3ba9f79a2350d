"""The table of a sweep beside the paper's numbers: results/<stem>.md and .csv.

Its columns are specified in columns.py; its numbers come from collect.py.
"""
import csv
import os
import re

from utils.reproduce.collect import TIME_ACCOUNTING, collect
from utils.reproduce.columns import column_kind, column_value
from utils.reproduce.sweep import describe_preset, describe_step_scale, paper_text


def _fmt(value, fmt: str) -> str:
    if value is None:
        return ""
    try:
        return format(value, fmt)
    except (ValueError, TypeError):
        return str(value)


def _cell(spec, value, n_ended_before: int = 0) -> str:
    """n_ended_before: runs whose training ended before an at_seconds column's time (no value)."""
    mean, std, n_reached, n_done = value
    if n_done == 0:
        return ""
    if mean is None:
        if column_kind(spec) in ("time_to", "iters_to"):
            return "not reached"
        return "not reached" if n_ended_before == n_done else "n/a"
    text = _fmt(mean, spec["fmt"])
    if std is not None:
        text += f" ± {_fmt(std, spec['fmt'])}"
    if n_reached < n_done:
        text += f" ({n_reached}/{n_done})"
    return text


def paper_source(sweep) -> str:
    """Where the sweep's `paper:` numbers come from: 'Table 7' for table7, else the tables its file cites."""
    match = re.fullmatch(r"table(\d+)", sweep.table)
    return f"Table {match.group(1)}" if match else "the tables its sweep file cites"


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


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shown_path(path: str) -> str:
    """A signal's path as a table prints it: relative to the repository when inside it."""
    full = os.path.abspath(path)
    return os.path.relpath(full, REPO_ROOT) if full.startswith(REPO_ROOT + os.sep) else path


def build_markdown(sweep, entries, command: str = None) -> str:
    statuses = [res.status for e in entries for _, res in e["results"]]
    counts = {s: statuses.count(s) for s in ("completed", "failed", "diverged", "interrupted", "stale", "missing")}
    has_paper = any(sweep.paper.get(e["name"]) for e in entries)
    lines = [f"# {sweep.table}: {sweep.title}", ""]
    if sweep.description:
        lines += [sweep.description, ""]
    lines.append(f"- Preset `{sweep.preset}`: {describe_preset(sweep)}")
    lines.append(f"- {describe_step_scale(sweep)}")
    if sweep.signals:
        if len(sweep.signals) == 1:
            lines.append(f"- Signal: `{shown_path(sweep.signals[0])}`.")
        else:
            names = ", ".join(os.path.basename(s) for s in sweep.signals)
            lines.append(f"- Signals: {len(sweep.signals)} files ({names}); each cell is the mean ± sample "
                         f"standard deviation across them; (k/n) = only k of n runs reached the threshold.")
    if sweep.repeats > 1:
        lines.append(f"- Repeats: every run ran {sweep.repeats} times, one after another (--repeats), repeat k "
                     f"with seed + k - 1 (the same seeds for every run); each cell is the mean ± sample standard "
                     f"deviation over the repeats; every repeat's own numbers: {sweep.stem}_per_repeat.csv.")
    lines.append(f"- Runs: {counts['completed']} completed, {counts['failed']} failed, {counts['diverged']} diverged, "
                 f"{counts['interrupted']} interrupted, "
                 + (f"{counts['stale']} stale (other settings), " if counts["stale"] else "")
                 + f"{counts['missing']} not run (of {len(statuses)}).")
    lines.append(f"- {execution_note(sweep, entries)}")
    lines.append(f"- {TIME_ACCOUNTING}")
    if has_paper:
        lines.append(f"- *paper*: the value in {paper_source(sweep)} of the paper (NINT, CVPR 2026; RTX 4090, "
                     f"its own clock) where it reports one; empty otherwise.")
    if any(column_kind(c) == "metric" and "at_seconds" in c for c in sweep.columns):
        lines.append("- A column read after a training time says `not reached` for a run whose training "
                     "ended sooner (it did not train that long).")
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
                cells.append(_cell(spec, e["values"][spec["id"]], e.get("ended_before", {}).get(spec["id"], 0)))
            if has_paper:
                paper = (sweep.paper.get(e["name"]) or {}).get(spec["id"])
                cells.append(paper_text(paper, spec["fmt"]))  # as the paper prints it
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
                row += [mean, std, n, paper_text((sweep.paper.get(e["name"]) or {}).get(cid)) or None]
            writer.writerow(["" if v is None else v for v in row])


def write_per_signal_csv(path: str, sweep, entries):
    """One row per run process: its signal, repeat and seed, status and every column's own value."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "label", "signal", "repeat", "seed", "status", "error"] + [c["id"] for c in sweep.columns])
        for e in entries:
            for run, res in e["results"]:
                values = [column_value(c, res) if res.status == "completed" else None for c in sweep.columns]
                writer.writerow([e["name"], e["label"], run.signal or "", run.repeat,
                                 "" if run.seed is None else run.seed, res.status, res.error or ""]
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
    if sweep.repeats > 1:
        out.append(os.path.join(sweep.results_dir, f"{sweep.stem}_per_repeat.csv"))
        write_per_signal_csv(out[-1], sweep, entries)
    return out
