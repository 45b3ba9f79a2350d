"""The scale ladder's report: results/scale_<preset>.md and scale_<preset>_ratios.png.

The sweep config/paper/scale.yaml runs every sampler at several image sides and network
sizes; each run carries tags `side` (pixels), `network` ('3x128'), `strategy` (its
sampler's run name: standard, nint, nint_release, ...) and `sampler` (its label). Here each run's training seconds and
iterations to the threshold (the sweep's time_to / iters_to column) become ratios: to
Standard's at the same side and network, and to the best other sampler's there (the best of
the others that are not NINT in any form, for the NINT rows; the best of every other row for
the rest). Below 1 = better. With repeats, each number is the median repeat's.

A run stopped by its cap (iterations or TRAIN_CONFIGS.max_train_seconds) before the threshold
still bounds a ratio: it would have needed more than the seconds and iterations it ran (the
sweep's `train_seconds` and `iterations` columns; with repeats, the median of each repeat's
number where it got there and what it ran where it did not), so NINT's ratio to a Standard that never
got there is at most NINT's seconds over Standard's (shown "<0.31"), and a NINT that never got
there is at least its own over Standard's (">1.20"). Such a row carries `<key>_bound`: "<" or ">".
When the run folders are gone (a fresh checkout), the rows come from the committed
<stem>.csv / <stem>_per_repeat.csv (`source` names the file).

    ladder(preset, results_dir)     -> (rows, threshold): one dict per run, the ratios
    report_markdown(sweep, rows)    the report's ratio table and what it says (Markdown)
    plot_ratios(rows, path)         the figure: NINT's ratios against image side, per network
    write_report(sweep)             scale_<preset>.md: the report, then the sweep's full table
    report_section(preset, ...)     report_markdown of the finished runs, None before any ran
"""
import math
import os

from utils.reproduce.collect import collect_or_stored
from utils.reproduce.columns import column_kind
from utils.reproduce.sweep import load_sweep, repeats_made

SWEEP = "scale"
NINT_FORMS = ("nint", "nint_release", "nint_no_ntk")  # judged against the others, never each other's rival
STYLE = {"nint": "-", "nint_release": "--", "nint_no_ntk": ":"}  # the figure's line per NINT form


def _median(values: list):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _threshold_columns(sweep) -> tuple:
    time_col = next(c for c in sweep.columns if column_kind(c) == "time_to")
    iters_col = next(c for c in sweep.columns if column_kind(c) == "iters_to")
    return time_col, iters_col


def ladder_rows(sweep) -> list:
    """One dict per run name: side, network, strategy, label, seconds and iterations to the
    threshold (median over completed repeats; inf: not reached; None: not finished), the
    seconds and iterations it ran (`ran_seconds`, `ran_iterations`; None when the sweep has no
    such column) and the four ratios (None when neither a number nor a bound can be given; a
    bound is flagged in `<ratio>_bound`)."""
    time_col, iters_col = _threshold_columns(sweep)
    ran_cols = {c.get("summary"): c for c in sweep.columns if column_kind(c) == "summary"}
    entries, source = collect_or_stored(sweep)
    rows = []
    for e in entries:
        tags = e["tags"]
        row = {"name": e["name"], "label": tags.get("sampler", e["label"]), "side": tags.get("side"),
               "network": tags.get("network"),
               "strategy": tags.get("strategy", e["name"]), "completed": e["n_completed"], "source": source}
        for key, col in (("seconds", time_col), ("iterations", iters_col)):
            samples = list(e["samples"].get(col["id"], {}).values()) if e["n_completed"] else []
            row[key] = _median([math.inf if v is None else float(v) for v in samples]) if samples else None
        for key, name, col in (("ran_seconds", "train_seconds", time_col), ("ran_iterations", "iterations", iters_col)):
            # What each repeat shows the threshold needs at least: its number where it got there,
            # else what it ran; the median of these bounds the median repeat's number.
            ran = e["samples"].get(ran_cols[name]["id"], {}) if name in ran_cols else {}
            least = [float(v) if v is not None else ran.get(k) for k, v in e["samples"].get(col["id"], {}).items()]
            row[key] = (_median([float(v) for v in least]) if e["n_completed"] and least
                        and all(v is not None for v in least) else None)
        rows.append(row)
    for row in rows:
        peers = [r for r in rows if r["side"] == row["side"] and r["network"] == row["network"] and r is not row]
        standard = next((r for r in peers if r["strategy"] == "standard"), None)
        others = [r for r in peers if r["strategy"] not in NINT_FORMS] if row["strategy"] in NINT_FORMS else peers
        for key, short in (("seconds", "time"), ("iterations", "iters")):
            ratio, bound = _ratio(row, standard, key)
            row[f"{short}_ratio_standard"], row[f"{short}_ratio_standard_bound"] = ratio, bound
            finite = [r for r in others if r[key] is not None and math.isfinite(r[key])]
            best = min(finite, key=lambda r: r[key]) if finite else None
            ratio, bound = _ratio(row, best, key) if best else (None, None)
            row[f"{short}_ratio_best_other"], row[f"{short}_ratio_best_other_bound"] = ratio, bound
            row[f"{short}_best_other"] = best["label"] if best else None
    return rows


def _ratio(row: dict, base, key: str) -> tuple:
    """(row's `key` over base's, None) when both reached the threshold; (bound, '<' or '>') when
    one of them stopped short of it (it needed more than it ran); (None, None) otherwise."""
    if base is None:
        return None, None
    a, b = row[key], base[key]
    if a is None or b is None:
        return None, None
    ran = "ran_" + key
    if math.isfinite(a) and math.isfinite(b):
        return (a / b, None) if b else (None, None)
    if math.isfinite(a) and base[ran]:  # the base stopped first: the ratio is at most this
        return a / base[ran], "<"
    if math.isfinite(b) and row[ran] and b:  # this run stopped first: at least this
        return row[ran] / b, ">"
    return None, None


def ladder(preset: str, results_dir: str = "results") -> tuple:
    """(rows of the finished runs, the threshold's name) of the scale sweep at `preset`; rows is
    empty when nothing has run. UserError when the sweep cannot be read."""
    sweep = load_sweep(SWEEP, preset, results_dir=results_dir, repeats=repeats_made(SWEEP, preset, results_dir))
    rows = [r for r in ladder_rows(sweep) if r["completed"]]
    return rows, _threshold_columns(sweep)[0]["header"][5:]


def report_section(preset: str, results_dir: str = "results"):
    """The ladder's report for results/README.md: report_markdown of the finished runs; None when
    nothing has run at `preset` (or the sweep has no such preset)."""
    from utils.errors import UserError
    try:
        sweep = load_sweep(SWEEP, preset, results_dir=results_dir, repeats=repeats_made(SWEEP, preset, results_dir))
    except UserError:
        return None
    rows = [r for r in ladder_rows(sweep) if r["completed"]]
    return report_markdown(sweep, rows) if rows else None


def _show(v, fmt: str, bound=None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "not reached"
    return (bound or "") + format(v, fmt)


def report_markdown(sweep, rows: list) -> str:
    """The ratio table and what it says; for results/scale_<preset>.md and results/README.md."""
    threshold = _threshold_columns(sweep)[0]["header"][5:]
    lines = [f"## Scale ladder: seconds and iterations to {threshold}, as ratios", "",
             f"Each run's training seconds and iterations to {threshold}, divided by Standard's at the same image "
             "side and network (x Standard) and by the best other sampler's there (x best other: for the NINT "
             "rows the best of Standard, Uniform, INT, EVOS and Expansive; for the others the best of every "
             "other row). Below 1: sooner. With repeats, the median repeat. Figure: "
             f"{sweep.stem}_ratios.png.", "",
             "| side | network | strategy | s | x Standard | x best other (who) | it | x Standard | x best other (who) |",
             "|---:|---|---|---:|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in (
            r["side"], r["network"], r["label"], _show(r["seconds"], ".2f"),
            _show(r["time_ratio_standard"], ".2f", r["time_ratio_standard_bound"]),
            _show(r["time_ratio_best_other"], ".2f", r["time_ratio_best_other_bound"])
            + (f" ({r['time_best_other']})" if r["time_best_other"] else ""),
            _show(r["iterations"], ".0f"), _show(r["iters_ratio_standard"], ".2f", r["iters_ratio_standard_bound"]),
            _show(r["iters_ratio_best_other"], ".2f", r["iters_ratio_best_other_bound"])
            + (f" ({r['iters_best_other']})" if r["iters_best_other"] else ""),
        )) + " |")
    stopped = [r for r in rows if r["seconds"] is not None and math.isinf(r["seconds"])]
    if stopped:
        lines += ["", "Stopped by a cap before " + threshold + ": " + "; ".join(
            f"{r['label']} at {r['side']} px, {r['network']} (after {_show(r['ran_iterations'], '.0f')} iterations, "
            f"{_show(r['ran_seconds'], '.1f')} training s)" for r in stopped)
            + ". A ratio to such a run is a bound: it would have needed more than it ran, so \"<0.31\" reads "
            "\"at most 0.31\" and \">1.20\" \"at least 1.20\"."]
    nint = [r for r in rows if r["strategy"] == "nint" and r["time_ratio_standard"] is not None]
    if nint:
        lines += ["", "NINT's training seconds as a ratio to Standard's: " + ", ".join(
            f"{r['network']} at {r['side']} px {_show(r['time_ratio_standard'], '.2f', r['time_ratio_standard_bound'])}x"
            for r in nint)
            + ". The claim \"NINT's saving grows with size\" is judged on these in the scorecard (claims)."]
    source = next((r["source"] for r in rows if r.get("source")), None)
    if source:
        lines += ["", f"(From {os.path.basename(source)}: the run folders are not on this machine.)"]
    return "\n".join(lines) + "\n"


def plot_ratios(rows: list, path: str) -> str:
    """Four panels (seconds and iterations to the threshold, x Standard and x best other) against
    image side, one colour per network and one line style per NINT form; None when nothing to draw."""
    drawn = [r for r in rows if r["strategy"] in NINT_FORMS]
    if not any(r["time_ratio_standard"] is not None for r in drawn):
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    networks = list(dict.fromkeys(r["network"] for r in drawn))
    colours = list(matplotlib.colormaps["tab10"].colors)
    labels = {r["strategy"]: r["label"] for r in drawn}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.4), squeeze=False)
    for ax, key, title in ((axes[0][0], "time_ratio_standard", "training s to threshold, x Standard"),
                           (axes[0][1], "time_ratio_best_other", "training s to threshold, x best other"),
                           (axes[1][0], "iters_ratio_standard", "iterations to threshold, x Standard"),
                           (axes[1][1], "iters_ratio_best_other", "iterations to threshold, x best other")):
        for i, net in enumerate(networks):
            for form in NINT_FORMS:
                points = sorted((r["side"], r[key], r[key + "_bound"]) for r in drawn
                                if r["network"] == net and r["strategy"] == form and r[key] is not None)
                if points:
                    colour = colours[i % len(colours)]
                    ax.plot([p[0] for p in points], [p[1] for p in points], STYLE[form], marker="o",
                            color=colour, label=f"{labels[form]}, SIREN {net}")
                    for x, y, bound in points:  # a bound: the true ratio lies below (v) or above (^)
                        if bound:
                            ax.plot([x], [y], marker="v" if bound == "<" else "^", markersize=11,
                                    color=colour, markerfacecolor="white")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xscale("log", base=2)
        sides = sorted({r["side"] for r in drawn})
        ax.set_xticks(sides)
        ax.set_xticklabels([f"{s}x{s}" for s in sides])
        ax.set_xlabel("image side (pixels)")
        ax.set_ylabel("ratio (below 1: sooner)")
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=8, loc="best")
    if any(r[k + "_bound"] for r in drawn for k in ("time_ratio_standard", "time_ratio_best_other",
                                                      "iters_ratio_standard", "iters_ratio_best_other")):
        fig.text(0.5, 0.005, "hollow triangle: a bound (the run compared against stopped at its cap before the "
                 "threshold); the ratio lies below (v) or above (^) it", ha="center", fontsize=9)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(sweep) -> list:
    """<stem>.md: the ladder's report put above the sweep's full table (written just before by
    table.write_table), and <stem>_ratios.png; returns the paths written."""
    rows = ladder_rows(sweep)
    md_path = os.path.join(sweep.results_dir, f"{sweep.stem}.md")
    with open(md_path) as f:
        head, _, rest = f.read().partition("\n")
    with open(md_path, "w") as f:
        f.write(head + "\n\n" + report_markdown(sweep, [r for r in rows if r["completed"]])
                + "\n## Every run\n" + rest)
    out = [md_path]
    figure = plot_ratios([r for r in rows if r["completed"]], os.path.join(sweep.results_dir,
                                                                          f"{sweep.stem}_ratios.png"))
    if figure:
        out.append(figure)
    return out
