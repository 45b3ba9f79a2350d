"""The speed-up benchmark: Standard, INT, EVOS, Expansive and NINT on one image, one after another.

For each strategy, from its fastest repeat (--repeats N; the machine's load only ever adds
time): training seconds and iterations to PSNR 30 dB and their ratios to Standard's, then
what a step costs: training milliseconds per iteration (train_seconds / iterations of the
whole run) and the run's full passes over all N points (`full_passes`). The report ends
with a recommendation computed from those numbers: which strategy reaches 30 dB first on
this machine, which needs the fewest iterations, and where NINT stands against the other
methods (NINT's own variants, such as nint_release, are not counted as its rivals).

With --release-clock (reproduce.py) every run evaluates PSNR and SSIM at every step (LPIPS
off), as the NINT release's loop did, and the report adds the seconds to 30 dB on that
clock (metrics.csv's release_seconds, utils/engine/run.py): the training seconds plus what
the release's loop pays to evaluate each step. The NINT release's loop computes the metrics
at every step on the prediction of all N its sampler already holds before the update, so
NINT, INT and Standard pay the metrics alone at every step; EVOS pays them alone at its
fitness steps and a forward plus the metrics at the others; the samplers of the EVOS
release's loop pay a forward plus the metrics at every step (RELEASE_EVAL_FORWARD in
utils/engine/run.py; the report says which per strategy). The
PSNR the release reports is that pre-update prediction's: one update behind, and with
dense2 / incremental / decremental stale between re-selections; the PSNR here is always
the current model's.
"""
import os

from utils.engine.run import RELEASE_EVAL_FORWARD
from utils.reproduce.collect import TIME_ACCOUNTING, collect, is_rival

THRESHOLD = "psnr_30"
RELEASE_CLOCK = {"TRAIN_CONFIGS.eval_interval": 1, "TRAIN_CONFIGS.lpips": 0}  # --release-clock's overrides
FULL_PASSES = ("full passes: the run's passes over all N points, its whole run: no-grad forwards over N "
               "(`full_forwards`: the error-driven samplers' scoring), NTK scores (`ntk_scores`: one VJP and "
               "one JVP over N each) and training steps on all N (Standard: every iteration; EVOS: its "
               "`fitness_steps`), from summary.json's `sampler` block")


def _ratio(value, base):
    return value / base if value is not None and base else None


def full_passes(summary: dict):
    """Passes over all N points in the run (see FULL_PASSES); None without a `sampler` block."""
    counts = (summary or {}).get("sampler")
    if not isinstance(counts, dict):
        return None
    full_steps = summary.get("iterations") or 0 if summary.get("strategy") == "standard" else \
        counts.get("fitness_steps", 0)
    return int(counts.get("full_forwards", 0) + counts.get("ntk_scores", 0) + full_steps)


def wall_time_to(rows: list, metric: str = "psnr", threshold: float = 30.0):
    """release_seconds of the first evaluation at or above the threshold (the release's clock); None when
    never reached or when metrics.csv has no release_seconds (a run that did not evaluate every step)."""
    for row in rows:
        value = row.get(metric)
        if value is not None and value >= threshold:
            return row.get("release_seconds")
    return None


def release_evaluation_cost(strategy: str) -> str:
    """What the release's loop pays to evaluate a step of `strategy`, in words (RELEASE_EVAL_FORWARD)."""
    rule = RELEASE_EVAL_FORWARD.get(strategy, "every step")
    if rule == "never":
        return "the metrics alone at every step, on the sampler's prediction (no forward)"
    if rule == "sparse steps":
        return "the metrics alone at fitness steps, a forward plus the metrics at sparse steps"
    return "a forward over all points plus the metrics"


def _best_repeat(entry):
    """The completed repeat that reached 30 dB soonest in training seconds, else the first completed one."""
    done = [res for _, res in entry["results"] if res.status == "completed" and res.summary]
    reached = [res for res in done if (res.summary.get("time_to") or {}).get(THRESHOLD) is not None]
    if reached:
        return min(reached, key=lambda res: res.summary["time_to"][THRESHOLD])
    return done[0] if done else None


def speedup_report(sweep) -> dict:
    """{'rows': [dict per strategy], 'recommendation': str, 'device': str}. Each row: name, label,
    seconds, time_ratio, iterations, iters_ratio, ms_per_iteration, full_passes, wall_seconds (to
    30 dB on the release's clock), wall_ratio, error."""
    entries = collect(sweep)
    # The release's clock means something only for runs that evaluated at every step (--release-clock).
    release_clock = sweep.stem.endswith("_release_clock")
    rows = []
    for e in entries:
        res = _best_repeat(e)
        s = res.summary if res else {}
        iterations = s.get("iterations")
        rows.append({
            "name": e["name"], "label": e["label"],
            "seconds": (s.get("time_to") or {}).get(THRESHOLD), "iterations": (s.get("iters_to") or {}).get(THRESHOLD),
            "ms_per_iteration": 1000.0 * s["train_seconds"] / iterations if iterations and s.get("train_seconds")
            is not None else None,
            "full_passes": full_passes(s) if res else None, "run_iterations": iterations,
            "wall_seconds": wall_time_to(res.rows) if res and release_clock else None,
            "release_cost": release_evaluation_cost(s.get("strategy") or (e["results"][0][0].overrides.get(
                "EXP_CONFIGS.strategy_type") if e["results"] else None) or ""),
            "error": e["errors"][0] if e["errors"] and e["n_completed"] == 0 else None})
    base = next((r for r in rows if r["name"] == "standard"), None)
    for r in rows:
        for key, ratio in (("seconds", "time_ratio"), ("iterations", "iters_ratio"), ("wall_seconds", "wall_ratio")):
            r[ratio] = _ratio(r[key], base[key]) if base else None
    devices = sorted({res.summary.get("device") for e in entries for _, res in e["results"]
                      if res.summary and res.summary.get("device")})
    device = ", ".join(devices) or "unknown device"
    return {"rows": rows, "device": device, "recommendation": recommendation(rows, device)}


def _f(value, fmt):
    return "n/a" if value is None else format(value, fmt)


def _names(rows):
    return " and ".join(r["label"] for r in rows)


def _cost(r) -> str:
    return (f"{_f(r['ms_per_iteration'], '.1f')} ms per iteration, {_f(r['full_passes'], ',.0f')} full passes "
            f"in {_f(r['run_iterations'], ',.0f')} iterations")


def recommendation(rows: list, device: str) -> str:
    """One paragraph from the measured numbers: who reaches 30 dB first, who needs the fewest
    iterations, why (per-iteration cost), where NINT stands among its rivals (collect.is_rival:
    NINT's own variants are not counted), and the release's clock if measured."""
    reached = [r for r in rows if r["seconds"] is not None]
    if not reached:
        return f"No strategy reached PSNR 30 dB on {device}: nothing to recommend from this run."
    t_min = min(r["seconds"] for r in reached)
    fastest = [r for r in reached if r["seconds"] == t_min]
    i_min = min(r["iterations"] for r in reached if r["iterations"] is not None)
    fewest = [r for r in reached if r["iterations"] == i_min]
    ratio = f", {fastest[0]['time_ratio']:.2f}x Standard's" if fastest[0]["time_ratio"] is not None else ""
    text = (f"On this machine ({device}), {_names(fastest)} reaches PSNR 30 dB first: {t_min:.2f} training "
            f"seconds{ratio} ({_cost(fastest[0])}). {_names(fewest)} {'need' if len(fewest) > 1 else 'needs'} "
            f"the fewest iterations, {i_min:,}"
            + (f" ({fewest[0]['iters_ratio']:.2f}x Standard's)" if fewest[0]["iters_ratio"] is not None else "")
            + ((", at " + (_cost(fewest[0]) if len(fewest) == 1 else
                           "; ".join(f"{r['label']}: {_cost(r)}" for r in fewest)) + ".")
               if fewest[0] not in fastest else "."))
    nint = next((r for r in rows if r["name"] == "nint"), None)
    if nint is not None and nint not in fastest:
        if nint["seconds"] is None:
            text += f" NINT did not reach 30 dB ({_cost(nint)})."
        else:  # ranked among its rivals only: NINT's own forms (nint_release, nint_every5, ...) are left out
            rivals = [r for r in reached if is_rival(r["name"])]
            t_rank = 1 + sum(r["seconds"] < nint["seconds"] for r in rivals)
            i_rank = 1 + sum(r["iterations"] < nint["iterations"] for r in rivals if r["iterations"] is not None)
            text += (f" Among NINT and the other methods (NINT's own variants left out), NINT is "
                     f"{_ordinal(t_rank)} of {len(rivals) + 1} in time ({nint['seconds']:.2f} s, "
                     f"{_cost(nint)}) and {_ordinal(i_rank)} in iterations ({nint['iterations']:,}).")
    walls = [r for r in rows if r["wall_seconds"] is not None]
    if walls:
        w_min = min(r["wall_seconds"] for r in walls)
        first = [r for r in walls if r["wall_seconds"] == w_min]
        text += (f" On the release's clock (PSNR and SSIM at every step, as its loop pays for them), "
                 f"{_names(first)} reaches 30 dB first: {w_min:.2f} s.")
    return text


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def format_report(sweep, report: dict) -> str:
    repeats = (f" Each ran {sweep.repeats} times (--repeats); the table gives its fastest repeat "
               f"(the machine's load only ever adds time)." if sweep.repeats > 1 else "")
    release = any(r["wall_seconds"] is not None for r in report["rows"])
    header = "| strategy | s to PSNR 30 | x Standard | it to PSNR 30 | x Standard | ms / iteration | full passes |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if release:
        header += " s to PSNR 30, release clock | x Standard | the release's evaluation per step |"
        rule += "---:|---:|---|"
    lines = [f"# Speed-up benchmark ({sweep.preset} preset)", "",
             "Each strategy ran in its own process, one after another, on the same image." + repeats,
             f"{TIME_ACCOUNTING}",
             f"ms / iteration: training milliseconds per iteration over the whole run; {FULL_PASSES}."]
    if release:
        lines.append("Release clock: every run evaluated PSNR and SSIM at every step (LPIPS off), as the NINT "
                     "release's loop did; its seconds to 30 dB are the training seconds plus what that loop pays to "
                     "evaluate each step: the metrics alone where the release's sampler already holds a prediction of "
                     "all points (NINT, INT, Standard at every step; EVOS at its fitness steps), one forward plus the "
                     "metrics where it holds none (the last column). The PSNR the release reports "
                     "is its sampler's pre-update prediction's (stale between re-selections with dense2, incremental "
                     "and decremental); the PSNR here is the current model's.")
    lines += ["", header, rule]
    for r in report["rows"]:
        if r["error"]:
            lines.append(f"| {r['label']} | {r['error'].replace('|', '/')} |" + " |" * (header.count("|") - 3))
            continue
        cells = [r["label"], _f(r["seconds"], ".2f") if r["seconds"] is not None else "not reached",
                 _f(r["time_ratio"], ".3f"),
                 _f(r["iterations"], ".0f") if r["iterations"] is not None else "not reached",
                 _f(r["iters_ratio"], ".3f"), _f(r["ms_per_iteration"], ".1f"), _f(r["full_passes"], ",.0f")]
        if release:
            cells += [_f(r["wall_seconds"], ".2f") if r["wall_seconds"] is not None else "not reached",
                      _f(r["wall_ratio"], ".3f"), r["release_cost"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Recommendation: {report['recommendation']}"]
    return "\n".join(lines) + "\n"


def write_report(sweep, report: dict) -> str:
    path = os.path.join(sweep.results_dir, f"{sweep.stem}_report.md")
    os.makedirs(sweep.results_dir, exist_ok=True)
    with open(path, "w") as f:
        f.write(format_report(sweep, report))
    return path
