""""What the numbers say": three findings computed from the results files, for claims_<preset>.md
and results/README.md. Each gives its numbers, the runs or repeats behind them and how strong the
evidence is, and says so when the files stop supporting it (nothing here is typed: a rerun that
changes the numbers changes the text, or turns a finding into "no longer supported").

    the clock       NINT's rank in seconds to 30 dB on the training clock (speedup, repeats) and
                    on the release's clock (speedup --release-clock)
    the NTK stream  NINT against NINT without its NTK stream (ablation_ntk, repeats; the scale
                    ladder's rungs) and NINT with the stream kept on
    size            NINT's iteration ratio to Standard and to the best other sampler against the
                    image side (the scale ladder), then at the paper's own size, image by image
                    (the paper-size sweep's per-image file)
"""
import csv
import math
import os

from utils.errors import UserError
from utils.reproduce.noise import Spread, eval_interval, intervals_by_network

HEADING = "## What the numbers say"
THRESHOLD = "time_to_psnr_30"
RIVALS = ("standard", "int", "evos", "expansive")  # the speed-up benchmark's other samplers


def _repeats(path: str, column: str) -> dict:
    """run -> [values of `column` over its completed repeats] from a <stem>_per_repeat.csv."""
    out = {}
    if not os.path.isfile(path):
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") == "completed" and row.get(column) not in ("", None):
                try:
                    out.setdefault(row["run"], []).append(float(row[column]))
                except ValueError:
                    pass
    return out


def _mean_sd(values: list) -> tuple:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def _median(values: list) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def clock_finding(preset: str, results_dir: str, spread) -> str:
    from utils.reproduce.claims import NotMeasurable, clock_side
    training = {r: _median(v) for r, v in _repeats(os.path.join(results_dir, f"speedup_{preset}_per_repeat.csv"),
                                                   THRESHOLD).items() if r in RIVALS + ("nint",)}
    n_train = min((len(v) for v in _repeats(os.path.join(results_dir, f"speedup_{preset}_per_repeat.csv"),
                                            THRESHOLD).values()), default=0)
    try:
        side = clock_side(preset, results_dir, spread)
        release = {r: side.value(r, THRESHOLD) for r in RIVALS + ("nint",) if r in side.samples}
    except (NotMeasurable, UserError):  # no release-clock run: the finding cannot be made
        release = {}
    if "nint" not in training or "nint" not in release or len(release) < 2:
        return ("**The clock.** Not supported by the files now: it needs the speed-up benchmark on both clocks "
                f"(speedup_{preset}_per_repeat.csv and the release-clock report).")
    rank_t = 1 + sum(v < training["nint"] for r, v in training.items() if r != "nint")
    order = sorted(release.items(), key=lambda p: p[1])
    rank_r = 1 + sum(v < release["nint"] for r, v in release.items() if r != "nint")
    nxt = next(p for p in order if p[0] != "nint")
    runner = ", ".join(f"{side.label(r)} {v:.2f} s" for r, v in order if r != "nint")
    lead = (nxt[1] - release["nint"]) / nxt[1]
    # The release clock's number per sampler is the benchmark's: the fastest of its repeats
    n_release = min((len(v) for v in _repeats(os.path.join(results_dir, f"speedup_{preset}_release_clock_per_repeat.csv"),
                                              "time_to_psnr_30").values()), default=1)
    runs = "one run per sampler" if n_release < 2 else f"the fastest of {n_release} repeats per sampler"
    strength = (f"{runs} on the release's clock; NINT's lead over the next "
                f"({100 * lead:.0f}%) is {'above' if spread and lead > spread.relative else 'within'} the "
                f"{100 * spread.relative:.0f}% run-to-run spread of seconds" if spread else runs)
    supported = rank_r == 1 and rank_t > 1
    head = ("**The clock.** " if supported else "**The clock (no longer supported as stated).** ")
    return (head + f"On the training clock NINT is {_ordinal(rank_t)} of {len(training)} in seconds to 30 dB "
            f"(median of {n_train} repeats: {training['nint']:.2f} s). On the release's clock (PSNR and SSIM at "
            f"every step, as its loop paid for them) it is {_ordinal(rank_r)} of {len(release)}: "
            f"{release['nint']:.2f} s against {runner}. That loop charges the samplers that never score all "
            f"points a forward pass for its per-step evaluation. Evidence: {strength}"
            + ("." if supported else "; the finding needs NINT first on the release's clock only."))


def ntk_finding(preset: str, results_dir: str) -> str:
    from utils.reproduce.scale import ladder
    from utils.reproduce.sweep import load_sweep
    path = os.path.join(results_dir, f"ablation_ntk_{preset}_per_repeat.csv")
    its = _repeats(path, "iters_to_psnr_30")
    if "nint" not in its or "nint_no_ntk" not in its:
        return f"**The NTK stream.** Not supported by the files now: ablation_ntk_{preset}_per_repeat.csv is missing."
    try:
        interval = eval_interval(load_sweep("ablation_ntk", preset, results_dir=results_dir))
    except UserError:
        interval = None
    (m, sd), (m0, sd0) = _mean_sd(its["nint"]), _mean_sd(its["nint_no_ntk"])
    n = min(len(its["nint"]), len(its["nint_no_ntk"]))
    from utils.reproduce.claims import paired_verdict
    diffs = [b - a for a, b in zip(its["nint"], its["nint_no_ntk"])]  # positive: the stream saves iterations
    verdict, interval_text = paired_verdict(diffs)
    no_gain = verdict != "holds" or (interval is not None and abs(sum(diffs) / len(diffs)) <= interval)
    text = (f"NINT without it needs {m0:.0f} ± {sd0:.0f} iterations to 30 dB, against NINT's {m:.0f} ± {sd:.0f} "
            f"({n} repeats; {interval_text or 'one pair'})")
    rungs, same = 0, 0
    try:
        rows, _ = ladder(preset, results_dir)
    except UserError:
        rows = []
    ladder_intervals = _ladder_intervals(preset, results_dir)
    for key in sorted({(r["side"], r["network"]) for r in rows}):
        pair = {r["strategy"]: r["iterations"] for r in rows if (r["side"], r["network"]) == key}
        a, b = pair.get("nint"), pair.get("nint_no_ntk")
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            rungs += 1
            rung_interval = ladder_intervals.get(key[1], interval)  # the rung's own resolution
            same += rung_interval is not None and abs(a - b) <= rung_interval
    kept = its.get("nint_ntk_kept")
    kept_text = ""
    if kept:
        mk, sdk = _mean_sd(kept)
        kv, kint = paired_verdict([k - a for a, k in zip(its["nint"], kept)])
        kept_text = (f" Keeping the stream on for the whole run {'hurts' if kv == 'holds' else 'does not measurably hurt'}"
                     f": {mk:.0f} ± {sdk:.0f} iterations ({kint or 'one pair'}).")
    ladder_text = (f" On the scale ladder the two are within one evaluation interval at {same} of {rungs} rungs "
                   f"(one run each)." if rungs else "")
    if no_gain:
        return ("**The NTK stream.** No measurable contribution to the iterations: " + text + "." + ladder_text
                + kept_text + f" Evidence: {n} paired repeats" + (f" and {rungs} ladder rungs" if rungs else "")
                + f"; a difference within one evaluation interval ({interval} it; on the ladder, each rung's own) "
                  "is not a difference.")
    return ("**The NTK stream (no longer supported as stated: the stream now saves iterations).** " + text + "."
            + ladder_text + kept_text)


def _ladder_intervals(preset: str, results_dir: str) -> dict:
    """network -> the scale ladder's evaluation interval for its rungs (the 5x256 rungs are read
    more often than the 3x128 ones); {} when the sweep cannot be read."""
    from utils.reproduce.sweep import load_sweep
    try:
        sweep = load_sweep("scale", preset, results_dir=results_dir)
    except UserError:
        return {}
    return intervals_by_network(sweep)


def _iteration_gap(rows: list, row: dict, reference: str):
    """NINT's iterations minus the reference's at row's rung ('standard' or 'best other'); None
    when either did not reach the threshold."""
    rung = [r for r in rows if (r["side"], r["network"]) == (row["side"], row["network"])]
    if reference == "standard":
        ref = next((r for r in rung if r["strategy"] == "standard"), None)
    else:
        ref = next((r for r in rung if r["label"] == row.get("iters_best_other") and r is not row), None)
    if ref is None or row["iterations"] is None or ref["iterations"] is None:
        return None
    gap = row["iterations"] - ref["iterations"]
    return gap if math.isfinite(gap) else None


def size_finding(preset: str, results_dir: str) -> str:
    from utils.reproduce.scale import ladder
    try:
        rows, _ = ladder(preset, results_dir)
    except UserError:
        rows = []
    intervals = _ladder_intervals(preset, results_dir)
    nint = [r for r in rows if r["strategy"] == "nint" and r["iters_ratio_standard"] is not None]
    if not nint:
        return "**Size.** Not supported by the files now: the scale ladder has not run."
    parts, falls, beyond = [], [], []
    for net in dict.fromkeys(r["network"] for r in nint):
        rungs = sorted((r for r in nint if r["network"] == net), key=lambda r: r["side"])
        if len(rungs) < 2:
            continue

        def show(r, key):
            b = r.get(key + "_bound") or ""
            return f"{b}{r[key]:.2f}" if r[key] is not None else "n/a"
        parts.append(f"SIREN {net}: x Standard " + " -> ".join(f"{show(r, 'iters_ratio_standard')} ({r['side']} px)"
                                                                for r in rungs)
                     + ", x best other " + " -> ".join(show(r, "iters_ratio_best_other") for r in rungs))
        first, last = rungs[0], rungs[-1]
        falls.append(all(last[k] is not None and first[k] is not None and last[k] < first[k]
                         for k in ("iters_ratio_standard", "iters_ratio_best_other")))
        # The noise rule: the fall counts only where NINT's gap to each reference (in iterations)
        # moves by more than one evaluation interval from the smallest side to the largest. A gap
        # to a run stopped by its cap is a bound that only grows, so it counts.
        interval = intervals.get(net)
        moved = []
        for ref in ("standard", "best other"):
            a, b = _iteration_gap(rows, first, ref), _iteration_gap(rows, last, ref)
            moved.append(b is None or a is None or interval is None or abs(b - a) > interval)
        beyond.append(falls[-1] and all(moved))
        parts[-1] += f" (read every {interval} it)" if interval else ""
    if not parts:
        return "**Size.** Not supported by the files now: no network has two image sides on the ladder."
    supported = any(beyond)
    bounds = any((r.get("iters_ratio_standard_bound") or r.get("iters_ratio_best_other_bound")) for r in nint)
    noise = sum(f and not b for f, b in zip(falls, beyond))
    return (("**Size.** NINT's iteration ratio, to Standard and to the best other sampler, falls as the image side "
             "grows" if supported else "**Size (no longer supported as stated: the ratio does not fall by more than "
             "one evaluation interval).** NINT's iteration ratios by image side")
            + f" (beyond one evaluation interval for {sum(beyond)} of {len(beyond)} networks"
            + (f"; within it for {noise}" if noise else "") + "): " + "; ".join(parts)
            + ". Evidence: weak, one run per rung (no repeats); a fall counts only where NINT's gap in iterations to each reference "
              "moves by more than one evaluation interval"
            + ("; a `<` is a bound (a reference stopped by its cap first)" if bounds else "")
            + ". " + paper_size_rung(preset, results_dir))


def paper_size_rung(preset: str, results_dir: str, cid: str = "iters_to_psnr_30") -> str:
    """The sentence on the paper's own size (`reproduce.py paper_size`, one run per image): NINT's
    iterations to 30 dB over Standard's and over the best other sampler's, image by image; without
    that sweep's file, that the ladder stops short of the paper's size."""
    from utils.reproduce.paper_size_verdicts import path_of, read_runs, rivals_on
    path = path_of(preset, results_dir)
    runs = read_runs(path) if os.path.isfile(path) else {}
    parts = []
    for image in dict.fromkeys(img for _, img in runs):
        mine, standard = (runs.get((r, image), {}).get(cid) for r in ("nint", "standard"))
        others = [v for _, v in rivals_on(runs, image, cid)]
        if not (mine and standard and others) or any(v[1] for v in [mine, standard, *others]):
            continue  # a bound (a run stopped by its cap) gives no ratio to show here
        best = min(v[0] for v in others)
        parts.append(f"{image} x Standard {mine[0] / standard[0]:.2f}, x best other {mine[0] / best:.2f}")
    if not parts:
        return "The ladder's largest side is 256 px; the paper's is 512 px."
    return ("The ladder's largest side is 256 px; at the paper's own size (512 px, SIREN 5x256; "
            f"{os.path.basename(path)}, one run per image) NINT's iterations to 30 dB are: " + "; ".join(parts)
            + " (judged per image in the scorecard's column \"at the paper's size\").")


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n, f"{n}th")


def findings_markdown(preset: str, results_dir: str = "results", spread: Spread = None) -> str:
    """The section: its heading, a line on how it is made, the three findings."""
    return "\n".join([HEADING, "",
                      f"Computed from the results files by utils/reproduce/findings.py when `reproduce.py claims "
                      f"--preset {preset}` runs; each finding says how strong its evidence is, and says so when "
                      "the files stop supporting it.", "",
                      "- " + clock_finding(preset, results_dir, spread),
                      "- " + ntk_finding(preset, results_dir),
                      "- " + size_finding(preset, results_dir)]) + "\n"
