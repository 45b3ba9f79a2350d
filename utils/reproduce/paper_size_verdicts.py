"""The scorecard's column "at the paper's size": `reproduce.py paper_size --preset <preset>`
(config/paper/paper_size.yaml: Table 2's rows and NINT without its NTK stream at the paper's
image size and network, on two images) read back from its per-image file
results/paper_size_<preset>_per_signal.csv.

What it judges (the paper's claims that run at that size, and one question of ours):

    readme        NINT needs fewer iterations than Standard to 25 and 30 dB
    table2        NINT reaches 25 and 30 dB in fewer iterations than every other sampler
    table1        NINT leads PSNR, SSIM and LPIPS at 250 iterations (the best other per image)
    ablation_ntk  NINT needs fewer iterations than NINT without the NTK stream (ours)

Each cell is judged per image: `holds` where NINT is ahead on both images by more than a margin,
`fails` where it is behind on both by more than it, else `within noise`, both numbers shown. The
margin: one evaluation interval for iterations; for quality, the across-repeat spread of Table 1's
repeated runs (<table1 stem>_per_repeat.csv: per metric, the median over runs and columns of
max - min across the repeats). Each image's comparison says which side of the margin it falls on
(NINT ahead, NINT behind, within the margin). A threshold not reached by the cap is written as a bound (">2000")
and counts as that many iterations at least. Until the file exists the column reads "not yet
run"; while the sweep is running, what its finished runs can decide is judged and the row says
"n of 24 runs".
"""
import csv
import math
import os
from dataclasses import dataclass

from utils.reproduce.collect import is_rival
from utils.reproduce.noise import eval_interval
from utils.reproduce.paper_size import SWEEP, parse_cell
from utils.reproduce.sweep import load_sweep

NOT_RUN = "not yet run"
HOLDS, FAILS, NOISE = "holds", "fails", "within noise"
LOWER_IS_BETTER = ("iters_to", "lpips")
IMAGE_WORDS = {1: "NINT ahead", -1: "NINT behind", 0: "within the margin"}  # one image's comparison
HEADERS = {"iters_to_psnr_25": "it to PSNR 25", "iters_to_psnr_30": "it to PSNR 30", "psnr_250": "PSNR @ 250 it",
           "ssim_250": "SSIM @ 250 it", "lpips_250": "LPIPS @ 250 it"}
# claim key -> (the columns it reads, the reference run: a name, or None for the best other sampler)
CHECKS = {"readme": (("iters_to_psnr_25", "iters_to_psnr_30"), "standard"),
          "table2": (("iters_to_psnr_25", "iters_to_psnr_30"), None),
          "table1": (("psnr_250", "ssim_250", "lpips_250"), None),
          "ablation_ntk": (("iters_to_psnr_25", "iters_to_psnr_30"), "nint_no_ntk")}
# What a claim's numbers leave out, said beside them.
NOTES = {"table1": "the best other sampler is taken from this sweep's rows, which do not include Table 1's "
                   "EVOS without CFS",
         "ablation_ntk": "compared directly, iterations against iterations (the other columns judge the NTK "
                         "stream's share of NINT's gain over Uniform)"}


@dataclass
class Layout:
    """What the sweep file says for a preset: its runs, its images and the iteration margin."""
    runs: tuple           # the run names (config/paper/paper_size.yaml's rows)
    images: tuple         # the image file names the rows run on
    eval_interval: int    # iterations between evaluations: the margin for iterations

    @property
    def expected(self) -> int:
        return len(self.runs) * len(self.images)


def layout(preset: str, results_dir: str = "results") -> Layout:
    sweep = load_sweep(SWEEP, preset, results_dir=results_dir)
    return Layout(runs=tuple(dict.fromkeys(r.name for r in sweep.runs)),
                  images=tuple(dict.fromkeys(os.path.basename(r.signal) for r in sweep.runs if r.signal)),
                  eval_interval=eval_interval(sweep))


def path_of(preset: str, results_dir: str) -> str:
    return os.path.join(results_dir, f"{SWEEP}_{preset}_per_signal.csv")


def _value(text):
    """A cell as (value, is_bound): "523" -> (523.0, False), ">2000" -> (2000.0, True); None when empty
    or not a number."""
    try:
        value, bound = parse_cell(text)
    except ValueError:
        return None
    return None if value is None else (value, bound == ">")


def read_runs(path: str) -> dict:
    """{(run, image file name): {column id: (value, is_bound)}} of the completed runs."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status", "completed") != "completed":
                continue
            image = os.path.basename(row.get("signal") or "")
            out[(row["run"], image)] = {c: _value(row.get(c)) for c in row if c not in (
                "run", "label", "signal", "repeat", "seed", "status", "error")}
    return out


def quality_spread(preset: str, results_dir: str) -> dict:
    """metric -> the across-repeat spread of Table 1's repeated runs (median over runs and columns of
    max - min across the repeats), from <table1 stem>_per_repeat.csv; {} without it."""
    path = os.path.join(results_dir, f"table1_{preset}_per_repeat.csv")
    if not os.path.isfile(path):
        return {}
    groups = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") != "completed":
                continue
            for cid, text in row.items():
                metric = cid.split("_")[0]
                if metric in ("psnr", "ssim", "lpips") and _value(text):
                    groups.setdefault((metric, row["run"], row["signal"], cid), []).append(_value(text)[0])
    spread = {}
    for (metric, *_), values in groups.items():
        if len(values) >= 2:
            spread.setdefault(metric, []).append(max(values) - min(values))
    return {m: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1]) / 2
            for m, v in spread.items()}


def rivals_on(runs: dict, image: str, cid: str) -> list:
    """[(run, (value, is_bound))] of the other samplers (not NINT's own rows) with a `cid` value on `image`."""
    return [(r, v[cid]) for (r, img), v in runs.items() if img == image and is_rival(r) and v.get(cid) is not None]


def _lower(cid: str) -> bool:
    return any(cid.startswith(p) for p in LOWER_IS_BETTER)


def _show(cid: str, v) -> str:
    value, bound = v
    if cid.startswith("iters_to"):
        return (">" if bound else "") + f"{value:.0f}"
    return f"{value:.4f}" if not cid.startswith("psnr") else f"{value:.2f}"


def _margin(cid: str, spread: dict, interval: int):
    return interval if cid.startswith("iters_to") else spread.get(cid.split("_")[0])


def judge_cell(runs: dict, cid: str, reference, spread: dict, size: Layout) -> tuple:
    """(verdict, text) of one column over the images where NINT and its reference both ran; None
    when no image has both."""
    margin = _margin(cid, spread, size.eval_interval)
    parts, signs = [], []
    for image in size.images:
        mine = runs.get(("nint", image), {}).get(cid)
        if reference:
            theirs = [(reference, runs.get((reference, image), {}).get(cid))]
            theirs = [(r, v) for r, v in theirs if v is not None]
        else:
            theirs = rivals_on(runs, image, cid)
        if mine is None or not theirs:
            continue
        pick = min if _lower(cid) else max
        rival, best = pick(theirs, key=lambda p: p[1][0])
        ahead = (best[0] - mine[0]) if _lower(cid) else (mine[0] - best[0])
        if mine[1] and best[1]:
            ahead = 0.0  # neither reached it by the cap: nothing to tell them apart
        elif mine[1]:
            ahead = -math.inf  # NINT stopped at its cap short of the threshold, the other reached it
        elif best[1]:
            ahead = math.inf
        sign = 1 if margin is not None and ahead > margin else -1 if margin is not None and ahead < -margin else 0
        signs.append(sign)
        parts.append(f"{image} NINT {_show(cid, mine)} vs {rival} {_show(cid, best)} "
                     f"({IMAGE_WORDS[sign]})")
    if not signs:
        return None
    verdict = HOLDS if all(s > 0 for s in signs) else FAILS if all(s < 0 for s in signs) else NOISE
    why = ""
    if len(signs) < len(size.images):
        verdict = NOISE  # one image cannot decide "on both images"
        why = f": {len(signs)} of {len(size.images)} images so far"
    return verdict, f"{HEADERS.get(cid, cid)}: {'; '.join(parts)} [{verdict}{why}]"


def paper_size_verdicts(preset: str, results_dir: str = "results") -> dict:
    """claim key -> (verdict, numbers) for the claims CHECKS lists; "not yet run" without the file."""
    path = path_of(preset, results_dir)
    if not os.path.isfile(path):
        return {key: (NOT_RUN, "") for key in CHECKS}
    runs = read_runs(path)
    spread = quality_spread(preset, results_dir)
    size = layout(preset, results_dir)
    partial = f"{len(runs)} of {size.expected} runs" if len(runs) < size.expected else ""
    out = {}
    for key, (columns, reference) in CHECKS.items():
        cells = [c for c in (judge_cell(runs, cid, reference, spread, size) for cid in columns) if c]
        if not cells:
            out[key] = (NOT_RUN + (f" ({partial})" if partial else ""), "")
            continue
        verdicts = [v for v, _ in cells]
        verdict = FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else NOISE
        text = verdict + (f": {verdicts.count(HOLDS)} of {len(cells)}" if len(cells) > 1 else "")
        extra = [NOTES.get(key, ""), savings(runs, size) if key == "readme" else ""]
        numbers = "; ".join([t for _, t in cells] + [e for e in extra if e])
        out[key] = (text + (f"; {partial}" if partial else ""), numbers)
    return out


def savings(runs: dict, size: Layout, cid: str = "iters_to_psnr_30") -> str:
    """NINT's iteration saving against Standard at 30 dB per image, as the claim states it (1 - NINT's
    iterations / Standard's, in %); "" where no image has both runs reached it."""
    parts = []
    for image in size.images:
        mine, standard = (runs.get((r, image), {}).get(cid) for r in ("nint", "standard"))
        if mine and standard and not mine[1] and not standard[1]:
            parts.append(f"{image} {100 * (1 - mine[0] / standard[0]):.0f}%")
    return f"NINT's iteration saving against Standard at 30 dB: {', '.join(parts)}" if parts else ""


def legend(preset: str, results_dir: str = "results") -> str:
    """What the column means and its margins, for the scorecard's legend."""
    spread = quality_spread(preset, results_dir)
    size = layout(preset, results_dir)
    quality = ", ".join(f"{m.upper()} {v:.3g}" for m, v in sorted(spread.items())) or "not measured"
    return (f"At the paper's size: `reproduce.py {SWEEP} --preset {preset}` on {' and '.join(size.images)}, judged per "
            f"image (holds / fails only where both images agree by more than the margin, else within noise); "
            f"margins: one evaluation interval ({size.eval_interval} it) for iterations, Table 1's across-repeat "
            f"spread for quality ({quality}); \"{NOT_RUN}\" while no image has both runs a verdict compares "
            f"(with how many of the {size.expected} runs of {os.path.basename(path_of(preset, results_dir))} have "
            f"finished).")
