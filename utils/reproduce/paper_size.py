"""The paper-size sweep's report: results/paper_size_<preset>.md, .csv and _per_signal.csv.

config/paper/paper_size.yaml runs Table 2's rows (plus NINT with the release's score and NINT
without its NTK stream) at the paper's exact setting on two images, each run stopped by the stop
setting at 30 dB past step 250 (cap 2000). That takes many CPU hours and several sessions, and a
new session may start on a machine without results/runs/. So the committed per-image file is
part of the sweep's state:

- `committed_rows`: the rows of results/paper_size_<preset>_per_signal.csv, keyed by the run's
  name and the image's file name (the `signal` column holds a path; only its file name is matched);
- `runs_to_execute`: the sweep's runs less those whose folder is gone but whose row is committed
  (they are never run again);
- `gather`: one record per run and image, from its run folder where there is one (a folder made
  with other settings than the sweep's now is stale and left out), else from the committed row;
- `write_report`: the three files, from `gather`, so the committed rows and the new runs merge.

A threshold a run did not reach before it stopped is a bound: it would have needed more than
the iterations (and training seconds) it ran, written ">2000" in the cells and the CSVs. A mean
over images with a bound in it is a bound too.

The projection column: our iterations times the paper's own seconds per iteration for that row,
the paper's Table 2 seconds between 30 and 35 dB over its iterations between them (Standard:
(184.78 - 49.11) / (2043 - 523)), beside the paper's seconds: do the paper's seconds follow from
its iterations on its clock? NINT with the release's score takes NINT's rate (the paper's NINT
numbers come from the release); NINT without its NTK stream has no row in the paper.
This machine's training seconds are shown as its own and never compared with the paper's.
"""
import csv
import os

from utils.reproduce.collect import TIME_ACCOUNTING
from utils.reproduce.run_folder import changed_setting, read_run
from utils.reproduce.sweep import load_sweep, paper_text
from utils.reproduce.table import shown_path

SWEEP = "paper_size"
ITERATION_COLUMNS = ("iters_to_psnr_25", "iters_to_psnr_30")
TIME_COLUMNS = ("time_to_psnr_25", "time_to_psnr_30")
QUALITY_COLUMNS = ("psnr_250", "ssim_250", "lpips_250")
RATE_ROW = {"nint_release": "nint"}  # whose paper rate a row without its own takes
EXTRA_FIELDS = ("stopped_by", "num_threads")  # per-signal columns besides the sweep's own


def per_signal_path(sweep) -> str:
    return os.path.join(sweep.results_dir, f"{sweep.stem}_per_signal.csv")


# ------------------------------------------------------------------------- cells and bounds

def parse_cell(text):
    """A CSV cell -> (value, bound): ('' -> (None, None)), ('523' -> (523.0, None)),
    ('>2000' -> (2000.0, '>'))."""
    text = (text or "").strip()
    if not text:
        return None, None
    bound = None
    if text[0] in "<>":
        bound, text = text[0], text[1:]
    return float(text), bound


def cell_text(value, bound=None, fmt: str = "g") -> str:
    if value is None:
        return ""
    return f"{bound or ''}{format(value, fmt)}"


def exact_text(value, bound=None) -> str:
    """A per-image CSV cell that reads back (`parse_cell`) to the very same float: the shortest such
    text, integers without a decimal point. A table rebuilt from the committed CSV on a fresh machine
    then rounds exactly as the one built from the run folders (six significant digits did not:
    28.64501 was written as 28.645, which rounds to 28.64)."""
    if value is None:
        return ""
    value = float(value)
    return f"{bound or ''}{int(value) if value.is_integer() else repr(value)}"


def _run_values(sweep, result) -> dict:
    """{column id: (value, bound)} of a completed run folder; a threshold not reached is bounded
    by what the run ran (iterations, training seconds)."""
    from utils.reproduce.columns import column_value
    summary = result.summary or {}
    values = {}
    for spec in sweep.columns:
        value = column_value(spec, result)
        bound = None
        if value is None and spec["id"] in ITERATION_COLUMNS:
            value, bound = summary.get("iterations"), ">"
        elif value is None and spec["id"] in TIME_COLUMNS:
            value, bound = summary.get("train_seconds"), ">"
        values[spec["id"]] = (None if value is None else float(value), bound)
    return values


# ------------------------------------------------------------------------- the state

def committed_rows(sweep) -> dict:
    """{(run name, image file name): row} of the committed per-signal CSV's completed rows."""
    path = per_signal_path(sweep)
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        return {(row["run"], os.path.basename(row["signal"])): row for row in csv.DictReader(f)
                if row.get("status") == "completed"}


def _key(run) -> tuple:
    return run.name, os.path.basename(run.signal or "")


def runs_to_execute(sweep) -> list:
    """The sweep's runs less those with a committed row and no run folder of their own."""
    committed = committed_rows(sweep)
    return [run for run in sweep.runs
            if _key(run) not in committed or os.path.isdir(run.folder)]


def gather(sweep) -> list:
    """One dict per run and image, in the sweep's order: name, label, image, signal (shown path),
    status (completed | <status of the folder> | not run), source ('run folder' | 'committed'),
    values {column id: (value, bound)}, stopped_by, num_threads."""
    committed = committed_rows(sweep)
    records = []
    for run in sweep.runs:
        record = {"name": run.name, "label": run.label, "image": os.path.basename(run.signal or ""),
                  "signal": shown_path(run.signal) if run.signal else "", "repeat": run.repeat, "seed": run.seed,
                  "status": "not run", "source": None, "values": {}, "stopped_by": None, "num_threads": None,
                  "error": ""}
        result = read_run(run.folder) if os.path.isdir(run.folder) else None
        if result is not None and result.status == "completed" and not changed_setting(sweep.task, run):
            summary = result.summary or {}
            record.update(status="completed", source="run folder", values=_run_values(sweep, result),
                          stopped_by=summary.get("stopped_by"), num_threads=summary.get("num_threads"))
        elif _key(run) in committed:
            row = committed[_key(run)]
            record.update(status="completed", source="committed",
                          values={c["id"]: parse_cell(row.get(c["id"])) for c in sweep.columns},
                          stopped_by=row.get("stopped_by") or None,
                          num_threads=int(row["num_threads"]) if row.get("num_threads") else None)
        elif result is not None and result.status != "missing":
            record.update(status=result.status, error=result.error or "")
        records.append(record)
    return records


# ------------------------------------------------------------------------- numbers

def mean_cell(records: list, cid: str) -> tuple:
    """(mean, bound, n) over the completed records' values of `cid`; a mean with a bound in it
    is a '>' bound; (None, None, 0) without a value."""
    pairs = [r["values"].get(cid, (None, None)) for r in records if r["status"] == "completed"]
    pairs = [(v, b) for v, b in pairs if v is not None]
    if not pairs:
        return None, None, 0
    mean = sum(v for v, _ in pairs) / len(pairs)
    return mean, (">" if any(b for _, b in pairs) else None), len(pairs)


def common_images(records: list) -> list:
    """The images on which every row has finished, in the sweep's order."""
    images = list(dict.fromkeys(r["image"] for r in records))
    return [im for im in images if all(r["status"] == "completed" for r in records if r["image"] == im)]


def averaged(records: list) -> tuple:
    """(the records the mean table averages, the images they cover). While the sweep runs, a mean
    over whatever each row has finished would set one row's two images against another's one, so
    the means cover only the images every row has finished; with none yet, every finished run
    (and the note says rows may average different images)."""
    common = common_images(records)
    return ([r for r in records if r["image"] in common], common) if common else (records, [])


def paired_means(records: list, reference: list, cid: str) -> tuple:
    """(mean of `cid` over the records, the reference's mean over the same images): a saving
    compares a row with its reference on the images both have finished."""
    ref = {r["image"]: r for r in reference if r["status"] == "completed"}
    mine = [r for r in records if r["status"] == "completed" and r["image"] in ref]
    return mean_cell(mine, cid), mean_cell([ref[r["image"]] for r in mine], cid)


def paper_rates(preset: str = "paper") -> dict:
    """{row: the paper's seconds per iteration between 30 and 35 dB} from Table 2's numbers."""
    table2 = load_sweep("table2", preset).paper
    rates = {}
    for name, cells in table2.items():
        try:
            rates[name] = ((float(cells["time_to_psnr_35"]) - float(cells["time_to_psnr_30"]))
                           / (float(cells["iters_to_psnr_35"]) - float(cells["iters_to_psnr_30"])))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
    return rates


def rate_of(name: str, rates: dict):
    return rates.get(name, rates.get(RATE_ROW.get(name)))


def cpu_hours(records: list) -> float:
    """Training-process hours of the finished runs on this machine: the loop's wall seconds
    (evaluation included, every resumed segment summed) times the threads it used, over 3600."""
    total = 0.0
    for r in records:
        wall = r["values"].get("wall_seconds", (None, None))[0]
        if r["status"] == "completed" and wall is not None:
            total += wall * (r["num_threads"] or 1)
    return total / 3600.0


# ------------------------------------------------------------------------- the files

def _by_name(records: list) -> list:
    names = []
    for r in records:
        if r["name"] not in names:
            names.append(r["name"])
    return [(n, [r for r in records if r["name"] == n]) for n in names]


def _fmt(value, bound, fmt):
    return cell_text(value, bound, fmt) if value is not None else ""


def build_markdown(sweep, records: list, rates: dict, command: str = None) -> str:
    """rates: `paper_rates()`."""
    images = sorted({r["image"] for r in records})
    done = [r for r in records if r["status"] == "completed"]
    from_files = sum(r["source"] == "committed" for r in done)
    bounded = [r for r in done if any(r["values"].get(c, (None, None))[1] for c in ITERATION_COLUMNS)]
    lines = [f"# {sweep.table}: {sweep.title}", "", sweep.description.strip(), ""]
    lines.append(f"- Preset `{sweep.preset}`: {sweep.preset_note}.")
    lines.append(f"- Runs: {len(done)} of {len(records)} finished ({len(done) - from_files} read from their run "
                 f"folders, {from_files} from the committed {os.path.basename(per_signal_path(sweep))}); "
                 f"{len(records) - len(done)} still to run. Images: {', '.join(images)}; one seed.")
    so_far = " so far" if len(done) < len(records) else ""
    lines.append(f"- CPU hours measured{so_far}: {cpu_hours(records):.1f} (the finished runs' loop wall seconds, "
                 f"evaluation included, times their threads).")
    lines.append("- GPU: none was available to the sessions that ran this sweep, so no seconds here can be "
                 "compared with the paper's like for like.")
    rows = len({r["name"] for r in records})
    averaged_records, covered = averaged(records)
    groups = _by_name(averaged_records)  # the mean tables' rows: the same images for every row
    if set(covered) == set(images):
        lines.append(f"- Each cell is the mean over the images ({', '.join(images)}).")
    elif covered:
        lines.append(f"- Each cell is the mean over {', '.join(covered)}: the images on which all {rows} rows "
                     f"have finished, so that every row averages the same images; the runs on the other "
                     f"images are in the per-image table.")
    else:
        lines.append("- No image has all its rows finished yet: each cell is the mean over the runs its row has "
                     "finished (n in the per-image table), so rows may average different images; a saving "
                     "compares a row with Standard on the images both have finished.")
    lines.append("- A run stops at the first evaluation past step 250 with 30 dB reached, or at "
                 "step 2000; a threshold it did not reach is a bound, `>N` (it would have needed more than "
                 "the N iterations or seconds it ran), and so is a mean with such a run in it."
                 + (f" Bounded: {', '.join(sorted({r['label'] + ' (' + r['image'] + ')' for r in bounded}))}."
                    if bounded else " No finished run is bounded."))
    lines.append("- Iterations to a threshold have the resolution of the evaluation interval (10).")
    lines.append(f"- {TIME_ACCOUNTING}")
    if command:
        lines.append(f"- Command: `{command}`")

    def paper(name, cid, fmt=None):
        return paper_text((sweep.paper.get(name) or {}).get(cid), fmt)

    lines += ["", "## Iterations to 25 and 30 dB (Table 2's iteration half)", "",
              "| run | it to 25 dB | *paper* | it to 30 dB | *paper* | saving at 30 dB vs Standard | *paper* |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    standard = dict(groups).get("standard", [])
    paper_std30 = (sweep.paper.get("standard") or {}).get("iters_to_psnr_30")
    for name, rs in groups:
        label = rs[0]["label"]
        it25, b25, n = mean_cell(rs, "iters_to_psnr_25")
        it30, b30, _ = mean_cell(rs, "iters_to_psnr_30")
        saving = ""
        (mine30, mb30, _), std30 = paired_means(rs, standard, "iters_to_psnr_30")
        if mine30 is not None and std30[0] is not None and name != "standard" and not (mb30 and std30[1]):
            sign = {(None, None): "", (">", None): "<", (None, ">"): ">"}[(mb30, std30[1])]
            saving = f"{sign}{1 - mine30 / std30[0]:.0%}"
        p30 = (sweep.paper.get(name) or {}).get("iters_to_psnr_30")
        paper_saving = f"{1 - float(p30) / float(paper_std30):.0%}" if p30 and paper_std30 and name != "standard" else ""
        lines.append(f"| {label} | {_fmt(it25, b25, '.0f') or 'not run'} | {paper(name, 'iters_to_psnr_25')} | "
                     f"{_fmt(it30, b30, '.0f')} | {paper(name, 'iters_to_psnr_30')} | {saving} | {paper_saving} |")

    lines += ["", "## Quality after 250 iterations (Table 1's first column)", "",
              "| run | PSNR @ 250 | *paper* | SSIM @ 250 | *paper* | LPIPS @ 250 | *paper* |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rs in groups:
        cells = [rs[0]["label"]]
        for cid, fmt in (("psnr_250", ".2f"), ("ssim_250", ".4f"), ("lpips_250", ".4f")):
            value, bound, _ = mean_cell(rs, cid)
            cells += [_fmt(value, bound, fmt), paper(name, cid)]
        lines.append("| " + " | ".join(cells) + " |")

    lines += ["", "## Seconds: the paper's projected from our iterations, and this machine's own", "",
              "*projected* = our iterations to the threshold x the paper's seconds per iteration for that row "
              "(its Table 2 seconds between 30 and 35 dB over its iterations between them; NINT with the "
              "release's score takes NINT's rate). Beside the paper's seconds it shows whether those follow "
              "from the iterations on the paper's clock. *this CPU* is this machine's training seconds, "
              "on a shared 2-core machine with the threads the per-image table gives (a mean may mix runs on one "
              "and two threads): reported, never compared with the paper's.", "",
              "| run | paper's s / it | *projected* s to 25 dB | *paper* | *projected* s to 30 dB | *paper* | "
              "this CPU: s to 25 dB | this CPU: s to 30 dB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rs in groups:
        rate = rate_of(name, rates)
        cells = [rs[0]["label"], f"{rate:.4f}" if rate else "no paper row"]
        for it_col, t_col in zip(ITERATION_COLUMNS, TIME_COLUMNS):
            value, bound, _ = mean_cell(rs, it_col)
            cells += [_fmt(value * rate, bound, ".2f") if rate and value is not None else "", paper(name, t_col)]
        for t_col in TIME_COLUMNS:
            value, bound, _ = mean_cell(rs, t_col)
            cells.append(_fmt(value, bound, ".0f"))
        lines.append("| " + " | ".join(cells) + " |")

    lines += ["", "## Per image", "",
              "| run | image | it to 25 dB | it to 30 dB | PSNR @ 250 | SSIM @ 250 | LPIPS @ 250 | stopped by | "
              "iterations run | threads | source |", "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in records:
        if r["status"] != "completed":
            lines.append(f"| {r['label']} | {r['image']} | {r['status']}{': ' + r['error'] if r['error'] else ''} "
                         f"| | | | | | | | |")
            continue
        v = r["values"]
        cells = [r["label"], r["image"]] + [_fmt(*v.get(c, (None, None)), ".0f") for c in ITERATION_COLUMNS]
        cells += [_fmt(*v.get(c, (None, None)), f) for c, f in zip(QUALITY_COLUMNS, (".2f", ".4f", ".4f"))]
        cells += [r["stopped_by"] or "", _fmt(*v.get("iterations", (None, None)), ".0f"),
                  "" if r["num_threads"] is None else str(r["num_threads"]), r["source"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_per_signal_csv(path: str, sweep, records: list):
    """One row per run and image, finished or not: the sweep's columns (bounds as '>N') and the
    stop reason; the state a fresh machine resumes from."""
    ids = [c["id"] for c in sweep.columns]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "label", "signal", "repeat", "seed", "status", "error"] + ids + list(EXTRA_FIELDS))
        for r in records:
            values = [exact_text(*r["values"].get(cid, (None, None))) for cid in ids]
            writer.writerow([r["name"], r["label"], r["signal"], r["repeat"], "" if r["seed"] is None else r["seed"],
                             r["status"], r["error"]] + values
                            + [r["stopped_by"] or "", "" if r["num_threads"] is None else r["num_threads"]])


def write_mean_csv(path: str, sweep, records: list, rates: dict):
    ids = [c["id"] for c in sweep.columns]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "label", "completed", "total"]
                        + [x for cid in ids for x in (cid, f"{cid}_n", f"paper_{cid}")]
                        + ["paper_seconds_per_iteration", "projected_time_to_psnr_25", "projected_time_to_psnr_30"])
        for name, rs in _by_name(averaged(records)[0]):
            row = [name, rs[0]["label"], sum(r["status"] == "completed" for r in rs), len(rs)]
            for cid in ids:
                value, bound, n = mean_cell(rs, cid)
                row += [cell_text(value, bound, ".6g"), n, paper_text((sweep.paper.get(name) or {}).get(cid))]
            rate = rate_of(name, rates)
            row.append(f"{rate:.6g}" if rate else "")
            for cid in ITERATION_COLUMNS:
                value, bound, _ = mean_cell(rs, cid)
                row.append(cell_text(value * rate, bound, ".6g") if rate and value is not None else "")
            writer.writerow(row)


def write_report(sweep, command: str = None) -> list:
    """results/<stem>.md, .csv and _per_signal.csv from the run folders and the committed rows."""
    os.makedirs(sweep.results_dir, exist_ok=True)
    records, rates = gather(sweep), paper_rates()  # Table 2's numbers, read once for both files
    md = os.path.join(sweep.results_dir, f"{sweep.stem}.md")
    with open(md, "w") as f:
        f.write(build_markdown(sweep, records, rates, command))
    mean_csv, per_signal = os.path.join(sweep.results_dir, f"{sweep.stem}.csv"), per_signal_path(sweep)
    write_mean_csv(mean_csv, sweep, records, rates)
    write_per_signal_csv(per_signal, sweep, records)
    return [md, mean_csv, per_signal]


def is_paper_size(name: str) -> bool:
    return os.path.splitext(os.path.basename(name))[0] == SWEEP
