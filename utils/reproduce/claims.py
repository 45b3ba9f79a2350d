"""The paper's claims, checked: results/claims.md (paper preset) or claims_<preset>.md.

One row per claim of the paper, its supplement and the authors' release README: what it
says and where, and three verdicts: on the paper's own numbers (the `paper:` section of the
claim's sweep file), on ours with NINT as the paper states it (the run `nint`, the NTK
stream ranked by K g), and on ours with the release's score (the run `nint_release`,
nint.ntk_score: output_norm) where the claim's sweep has that run.

A verdict on ours weighs the noise. Two runs are compared pair by pair: the same signal and
the same repeat (`--repeats`: repeat k of every run has the same seed). With two or more
pairs, a claim's difference decides it only when the 95% Student-t interval of the paired
differences excludes zero (`holds` or `fails`); otherwise it is `within noise`. With one
pair the sign decides and the verdict says `one run`; a tie is `within noise`. A threshold
never reached is worse than any reached. The paper's side has one number per cell and no
noise: a tie there is not a lead (`fails`).

Verdicts: holds | fails | within noise | not measurable: <why> | not measurable (no GPU) |
release score not run.

Nothing in this file is a number of the paper: the paper's side is computed from the sweep
files, ours from the run folders (or, where a sweep's run folders are gone, from the results
files its last run wrote: `collect.stored_samples`). What the file does fix are the readings of words in the
claims (`NEAR`, `FAR`, `LARGE_MARGIN_DB`, `PRIMARY_SHARE`, `NEARLY_HALF`, `MAINTAIN_DB`,
`MOST`) and the numbers a claim itself states (Table 8's "9 of 12", the README's "26.58%"
and "48.99%", Table 4's "11.57%"); the report prints them.
"""
import math
import os
import re
from dataclasses import dataclass

from utils.errors import UserError
from utils.reproduce.collect import RELEASE, collect, collect_or_stored, is_nint, is_rival
from utils.reproduce.columns import column_kind
from utils.reproduce.scale import ladder
from utils.reproduce.sweep import load_sweep, repeats_made
from utils.tasks import task_class

NEAR = 0.10             # "at or near the best": within 10% of the best row's value
FAR = 0.25              # "far off": more than 25% above the best row's value (times, iterations)
LARGE_MARGIN_DB = 1.0   # "by a large margin": every NINT row at least 1 dB above every other row
PRIMARY_SHARE = 0.5     # "the primary driver": more than half of NINT's gain over Uniform
NEARLY_HALF = 0.6       # "nearly half the training time": at most 0.6x Standard's seconds to 30 dB
MAINTAIN_DB = 1.0       # "maintaining quality": final PSNR less than LARGE_MARGIN_DB (1 dB) below Standard's
MOST = 0.5              # "in most cases": in more than half of the cells
TABLE8_CLAIMED = 9      # Table 8's text: the default is best or second best in 9 of its 12 metrics
README_CLAIMED = (26.58, 48.99)  # the release README: up to 26.58% fewer iterations, 48.99% less time
TABLE4_CLAIMED_PSNR = 11.57      # Table 4's text: PSNR at fixed times up by up to 11.57%
CONFIDENCE = 0.95       # the paired-difference interval
HOLDS, FAILS, NOISE = "holds", "fails", "within noise"


class NotMeasurable(Exception):
    """The claim cannot be checked on this side; the message says why."""


# ------------------------------------------------------------------------------------- noise

def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with df degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


@dataclass
class Cell:
    """One decided comparison: verdict (holds / fails / within noise), how many pairs, the numbers."""
    verdict: str
    n: int
    text: str


def paired_verdict(diffs: list, exact: bool = False) -> tuple:
    """(verdict, the interval's text) of paired differences, positive = the claim's way.

    Any infinite difference (a threshold one run reached and the other never did): decided by
    the signs alone. One pair: by its sign (0: within noise). Two or more: `holds` when the 95%
    t-interval of the mean lies above 0, `fails` below, `within noise` when it holds 0. exact
    (the paper's side, no noise): a tie fails.
    """
    if not diffs:
        raise NotMeasurable("no pair of runs to compare")
    if exact or len(diffs) == 1 or any(math.isinf(d) for d in diffs):
        if all(d > 0 for d in diffs):
            return HOLDS, ""
        if all(d < 0 for d in diffs) or (exact and all(d <= 0 for d in diffs)):
            return FAILS, ""
        return NOISE, ""
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    interval = f"paired diff {mean:+.3g}, 95% CI [{lo:+.3g}, {hi:+.3g}], n={n}"
    if lo > 0:
        return HOLDS, interval
    if hi < 0:
        return FAILS, interval
    return NOISE, interval


def all_of(cells: list, text: str) -> Cell:
    """Every cell holds: holds; any fails: fails; else within noise."""
    if not cells:
        raise NotMeasurable("nothing to compare")
    verdicts = [c.verdict for c in cells]
    verdict = FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else NOISE
    return Cell(verdict, min(c.n for c in cells), text)


def count_of(cells: list, needed: int, text: str) -> Cell:
    """At least `needed` cells hold: holds; too few even if every noisy cell held: fails; else within noise."""
    if not cells:
        raise NotMeasurable("nothing to compare")
    h = sum(c.verdict == HOLDS for c in cells)
    w = sum(c.verdict == NOISE for c in cells)
    verdict = HOLDS if h >= needed else FAILS if h + w < needed else NOISE
    return Cell(verdict, min(c.n for c in cells), text + f" ({h} hold, {w} within noise, of {len(cells)}; "
                                                       f"needed {needed})")


# ------------------------------------------------------------------------------------- a side

class Side:
    """One side of a claim's check: the paper's numbers, or ours, for one sweep (`source`: the
    results file they were read from when the run folders are gone, else None).

    samples: run name -> {column id: {pair key: value}} (None: not reached, or no value; a
    missing column: no number); absent: run name -> why it has no numbers at all. exact: the
    paper's side (one number per cell, no noise).
    """

    def __init__(self, sweep, samples: dict, absent: dict, who: str, exact: bool = False):
        self.sweep, self.samples, self.absent, self.who, self.exact = sweep, samples, absent, who, exact
        self.source = None
        self.specs = {c["id"]: c for c in sweep.columns}
        self.labels = {r.name: r.label for r in sweep.runs}
        self.names = list(dict.fromkeys(r.name for r in sweep.runs))
        self._metrics = task_class(sweep.task).metrics  # name -> higher is better

    def runs(self, nint: bool = None) -> list:
        """Run names in the sweep's order; nint True: NINT rows (K g); False: the rivals."""
        return [n for n in self.names if nint is None or (is_nint(n) if nint else is_rival(n))]

    def has(self, run: str) -> bool:
        return run in self.names

    def lower_is_better(self, cid: str) -> bool:
        spec = self.specs[cid]
        kind = column_kind(spec)
        if kind in ("time_to", "iters_to"):
            return True
        return not self._metrics.get(spec[kind], True)

    def reached_kind(self, cid: str) -> bool:
        return column_kind(self.specs[cid]) in ("time_to", "iters_to")

    def _comparable(self, v, cid):
        if isinstance(v, str) or v is None:  # the paper's "N/A", or a threshold never reached
            return math.inf if self.reached_kind(cid) else None
        return float(v)

    def pairs(self, run: str, cid: str) -> dict:
        """{pair key: comparable number} (+inf: not reached); NotMeasurable without any."""
        if run in self.absent:
            raise NotMeasurable(self.absent[run])
        if run not in self.samples:
            raise NotMeasurable(f"{self.who}: no {self.label(run)} run")
        cells = self.samples[run].get(cid)
        if not cells:
            raise NotMeasurable(f"{self.who}: no value for {self.label(run)}, {self.header(cid)}")
        out = {k: self._comparable(v, cid) for k, v in cells.items()}
        out = {k: v for k, v in out.items() if v is not None}
        if not out:
            raise NotMeasurable(f"{self.who}: no value for {self.label(run)}, {self.header(cid)}")
        return out

    def value(self, run: str, cid: str) -> float:
        """The median over the run's repeats (+inf: not reached); the paper's number on its side."""
        values = sorted(self.pairs(run, cid).values())
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    def label(self, run: str) -> str:
        return " ".join(self.labels.get(run, run).split())  # a product's empty part leaves no gap

    def header(self, cid: str) -> str:
        return self.specs[cid]["header"]

    def show(self, cid: str, value: float) -> str:
        if math.isinf(value):
            return "not reached"
        return format(value, self.specs[cid]["fmt"])

    def best(self, runs: list, cid: str) -> tuple:
        """(median value, run) of the best of `runs` in column `cid`."""
        scored = [(self.value(r, cid), r) for r in runs]
        if not scored:
            raise NotMeasurable(f"{self.who}: no run to compare in {self.header(cid)}")
        pick = min if self.lower_is_better(cid) else max
        return pick(scored, key=lambda p: p[0])

    def better_by(self, a: float, b: float, cid: str) -> float:
        """How much better a is than b in column cid (positive: better); both +inf: 0."""
        if math.isinf(a) and math.isinf(b):
            return 0.0
        return b - a if self.lower_is_better(cid) else a - b

    def diffs(self, a: str, b: str, cid: str, shift: float = 0.0) -> list:
        """Per pair: how much better run a is than run b in cid, minus `shift`."""
        pa, pb = self.pairs(a, cid), self.pairs(b, cid)
        keys = [k for k in pa if k in pb]
        if not keys:
            raise NotMeasurable(f"{self.who}: {self.label(a)} and {self.label(b)} have no run in common")
        return [self.better_by(pa[k], pb[k], cid) - shift for k in keys]

    def compare(self, a: str, b: str, cid: str, shift: float = 0.0) -> Cell:
        """Run a better than run b in cid (by more than `shift`, in the column's units)?"""
        verdict, interval = paired_verdict(self.diffs(a, b, cid, shift), self.exact)
        text = (f"{self.header(cid)}: {self.label(a)} {self.show(cid, self.value(a, cid))}, "
                f"{self.label(b)} {self.show(cid, self.value(b, cid))}" + (f" ({interval})" if interval else ""))
        return Cell(verdict, len(self.diffs(a, b, cid)), text)

    def bound(self, values: list, text: str) -> Cell:
        """Per pair numbers that must be above 0 for the claim."""
        verdict, interval = paired_verdict(values, self.exact)
        return Cell(verdict, len(values), text + (f" ({interval})" if interval else ""))

    def ratio_pairs(self, a: str, b: str, cid: str) -> list:
        """Per pair: run a's value over run b's (inf when a never reached; NotMeasurable when b never did)."""
        pa, pb = self.pairs(a, cid), self.pairs(b, cid)
        out = []
        for k in (k for k in pa if k in pb):
            if math.isinf(pb[k]) or not pb[k]:
                raise NotMeasurable(f"{self.who}: {self.label(b)} never reached {self.header(cid)}")
            out.append(pa[k] / pb[k])
        if not out:
            raise NotMeasurable(f"{self.who}: {self.label(a)} and {self.label(b)} have no run in common")
        return out


def _pct(new: float, old: float) -> str:
    """'-26.58%': the change from old to new."""
    if math.isinf(new) or math.isinf(old) or not old:
        return "n/a"
    return f"{100.0 * (new - old) / old:+.2f}%"


def _saving(new: float, old: float):
    """1 - new/old (0.37 = 37% less), None when either was not reached."""
    if math.isinf(new) or math.isinf(old) or not old:
        return None
    return 1.0 - new / old


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# ------------------------------------------------------------------------------------- the checks
# Each takes a Side and the NINT run to judge (`nint`, or `nint_release` for the release's
# score) and returns a Cell; NotMeasurable when it cannot.

def _leads_every_cell(side: Side, nint_rows: list, columns: list) -> Cell:
    cells = []
    for cid in columns:
        _, mine = side.best(nint_rows, cid)
        _, rival = side.best(side.runs(nint=False), cid)
        cells.append(side.compare(mine, rival, cid))
    lead = sum(c.verdict == HOLDS for c in cells)
    text = f"NINT leads {lead} of {len(cells)} cells against the best other: " + "; ".join(
        f"{c.text} [{c.verdict}]" for c in cells)
    return all_of(cells, text)


def headline(side: Side, nint: str = "nint") -> Cell:
    t, q = "time_to_psnr_30", "final_psnr"
    ratios = side.ratio_pairs(nint, "standard", t)
    time_cell = side.bound([NEARLY_HALF - r for r in ratios],
                           f"{side.header(t)}: {side.label(nint)} {side.show(t, side.value(nint, t))}, Standard "
                           f"{side.show(t, side.value('standard', t))}: {_median(ratios):.2f}x Standard's "
                           f"(nearly half: at most {NEARLY_HALF:g}x)")
    quality = side.compare(nint, "standard", q, shift=-MAINTAIN_DB)
    quality.text += f" (kept: at most {MAINTAIN_DB:g} dB below)"
    return all_of([time_cell, quality], f"{time_cell.text}; {quality.text}")


def _median(values: list) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


THRESHOLDS = ("25", "30", "35")


def readme(side: Side, nint: str = "nint") -> Cell:
    """The largest saving against Standard over 25 / 30 / 35 dB reaches the README's figures."""
    cells, parts = [], []
    for kind, claimed in zip(("iters_to", "time_to"), README_CLAIMED):
        best = None
        for th in THRESHOLDS:
            cid = f"{kind}_psnr_{th}"
            try:
                saving = _saving(side.value(nint, cid), side.value("standard", cid))
            except NotMeasurable:
                continue
            if saving is not None and (best is None or saving > best[0]):
                best = (saving, cid)
        if best is None:
            raise NotMeasurable(f"{side.who}: NINT and Standard reached no threshold both")
        cid = best[1]
        ratios = side.ratio_pairs(nint, "standard", cid)
        # The paper prints two decimals of a percentage: compare at that precision.
        need = claimed / 100 - (0.00005 if side.exact else 0.0)
        cell = side.bound([(1 - r) - need for r in ratios],
                          f"{'iterations' if kind == 'iters_to' else 'time'}: largest saving "
                          f"{100 * best[0]:.2f}% ({side.header(cid)}), claimed {claimed:.2f}%")
        if side.exact and abs(100 * best[0] - claimed) < 0.005:
            cell.verdict = HOLDS
        cells.append(cell)
        parts.append(cell.text)
    return all_of(cells, "; ".join(parts))


def table1(side: Side, nint: str = "nint") -> Cell:
    return _leads_every_cell(side, [nint], list(side.specs))


FIG4_TIMES = 5  # Fig. 4 read at 1/5, 2/5, ... 5/5 of the shortest run's training time


def fig4(side: Side, nint: str = "nint") -> Cell:
    """Table 1's runs read along training time (its curves): SSIM and LPIPS at FIG4_TIMES even
    times up to the shortest run's training seconds, NINT against the best other at each."""
    cells = []
    for cid in side.specs:  # the time columns fig4_side added
        _, rival = side.best(side.runs(nint=False), cid)
        cells.append(side.compare(nint, rival, cid))
    lead = sum(c.verdict == HOLDS for c in cells)
    return all_of(cells, f"NINT leads {lead} of {len(cells)} time x metric cells against the best other: "
                  + "; ".join(f"{c.text} [{c.verdict}]" for c in cells))


def fig4_side(sweep) -> Side:
    """Our side of Table 1 with its columns replaced by SSIM and LPIPS at even training times."""
    import dataclasses
    entries = collect(sweep)
    seconds = [res.summary.get("train_seconds") for e in entries for _, res in e["results"]
               if res.status == "completed" and res.summary and res.summary.get("train_seconds")]
    if not seconds:
        raise NotMeasurable(f"{sweep.table} not run at the {sweep.preset} preset")
    end = min(seconds)
    columns = [{"id": f"{m}_{k}", "metric": m, "at_seconds": end * k / FIG4_TIMES, "fmt": ".4f",
                "header": f"{m.upper()} @ {end * k / FIG4_TIMES:.1f} s"}
               for k in range(1, FIG4_TIMES + 1) for m in ("ssim", "lpips")]
    return _our_side(dataclasses.replace(sweep, columns=columns))


def table2(side: Side, nint: str = "nint") -> Cell:
    cell = _leads_every_cell(side, [nint], list(side.specs))
    savings = []
    for cid in side.specs:
        try:
            savings.append(f"{side.header(cid)} {_pct(side.value(nint, cid), side.value('standard', cid))}")
        except NotMeasurable:
            pass
    cell.text += ". Against Standard: " + ", ".join(savings)
    return cell


def _pairs(side: Side) -> list:
    """(prefix, standard run, NINT run) of the sweep's `<x>_standard` / `<x>_nint` rows, in order."""
    return [(n[:-len("_standard")], n, n[:-len("_standard")] + "_nint") for n in side.names
            if n.endswith("_standard") and n[:-len("_standard")] + "_nint" in side.names]


def _grows(side: Side, savings: list, what: str, show=lambda v: f"{100 * v:.2f}%") -> Cell:
    """savings: [(size, per-pair savings)] in growing size: each step up at least as large (paired);
    show: how one saving is printed."""
    if len(savings) < 2:
        raise NotMeasurable(f"{side.who}: fewer than two sizes with {what}")
    cells = []
    for (a, sa), (b, sb) in zip(savings, savings[1:]):
        diffs = [y - x for x, y in zip(sa, sb)]
        verdict, interval = paired_verdict(diffs, side.exact)
        if side.exact and all(d == 0 for d in diffs):
            verdict = HOLDS  # "grows" on the paper's numbers: not smaller
        cells.append(Cell(verdict, len(diffs), f"{a} -> {b}" + (f" ({interval})" if interval else "")))
    shown = ", ".join(f"{s} {show(_median(v))}" for s, v in savings)
    not_growing = [c.text for c in cells if c.verdict != HOLDS]
    return all_of(cells, f"{what}: {shown}" + (f"; not growing at {'; '.join(not_growing)}" if not_growing else ""))


def table3(side: Side, nint: str = "nint") -> Cell:
    cid = "time_to_psnr_25"
    savings = []
    for size, std, n in _pairs(side):
        try:
            ratios = side.ratio_pairs(n, std, cid)
        except NotMeasurable:
            continue
        if all(math.isfinite(r) for r in ratios):
            savings.append((size, [1 - r for r in ratios]))
    return _grows(side, savings, f"NINT's time saving to {side.header(cid)[5:]} by size (parameters growing)")


def table3_psnr(side: Side, nint: str = "nint") -> Cell:
    cols = [c for c in ("psnr_500", "psnr_1000", "psnr_2500") if c in side.specs]
    cells, gains = [], []
    for size, std, n in _pairs(side):
        for cid in cols:
            cells.append(side.compare(n, std, cid))
            if size == "1x64":
                gains.append(side.value(n, cid) / side.value(std, cid) - 1)
    behind = [f"{c.text}" for c in cells if c.verdict != HOLDS]
    text = f"NINT above Standard in {sum(c.verdict == HOLDS for c in cells)} of {len(cells)} size x checkpoint cells"
    if gains:
        text += f"; 1x64: up to {100 * max(gains):+.2f}% PSNR"
    return all_of(cells, text + (f"; not in {'; '.join(behind)}" if behind else ""))


def fig5(side: Side, nint: str = "nint") -> Cell:
    cid = "psnr_150s"
    cells, gaps = [], []
    for size, std, n in _pairs(side):
        try:
            cell = side.compare(n, std, cid)
        except NotMeasurable:
            continue  # the run ended before that time (it did not train that long)
        cells.append(cell)
        gaps.append((size, [d for d in side.diffs(n, std, cid)]))
    if not cells:
        raise NotMeasurable(f"{side.who}: no size has both runs at {side.header(cid)}")
    beats = all_of(cells, "")
    widens = _grows(side, gaps, f"NINT's PSNR gain at {side.header(cid)} by size", show=lambda v: f"{v:+.2f} dB")
    return all_of([beats, widens], "; ".join(c.text for c in cells) + f". {widens.text}")


def table4(side: Side, nint: str = "nint") -> Cell:
    cols = [c for c in side.specs if c.startswith("psnr_")] + ["time_to_psnr_25"]
    cells, best_time, best_psnr, shown = [], None, None, []
    for arch, std, n in _pairs(side):
        for cid in cols:
            try:
                a, b = side.value(n, cid), side.value(std, cid)
            except NotMeasurable:
                continue
            if math.isinf(a) and math.isinf(b):
                continue  # neither reached it: nothing to compare
            cell = side.compare(n, std, cid)
            cells.append(cell)
            if cell.verdict != HOLDS:
                shown.append(f"{arch} {cell.text}")
            if cid.startswith("time_to"):
                s = _saving(a, b)
                if s is not None and (best_time is None or s > best_time[0]):
                    best_time = (s, arch)
            elif math.isfinite(a) and math.isfinite(b) and b:
                g = a / b - 1
                if best_psnr is None or g > best_psnr[0]:
                    best_psnr = (g, arch, side.header(cid))
    if not cells:
        raise NotMeasurable(f"{side.who}: no architecture has both runs")
    text = f"NINT better than Standard in {sum(c.verdict == HOLDS for c in cells)} of {len(cells)} architecture x column cells"
    if best_time:
        text += f"; largest time saving {100 * best_time[0]:.2f}% ({best_time[1]})"
    if best_psnr:
        text += f"; largest PSNR gain {100 * best_psnr[0]:.2f}% ({best_psnr[1]}, {best_psnr[2]})"
    return all_of(cells, text + (f"; not in {'; '.join(shown)}" if shown else ""))


def table5(side: Side, nint: str = "nint") -> Cell:
    worst_default, worst_any = (0.0, None), (0.0, None, None)
    for cid in side.specs:
        best, _ = side.best(side.runs(), cid)
        if math.isinf(best):
            continue  # no setting reached it: nothing to compare
        for run in side.runs():
            v = side.value(run, cid)
            gap = math.inf if math.isinf(v) else v / best - 1.0
            if run == "nint" and gap >= worst_default[0]:
                worst_default = (gap, cid)
            if gap >= worst_any[0]:
                worst_any = (gap, run, cid)
    if worst_any[1] is None and worst_default[1] is None:
        raise NotMeasurable(f"{side.who}: no setting reached any threshold")

    def gap(g):
        return "never reached" if math.isinf(g) else f"+{100 * g:.1f}%"
    near, far = worst_default[0] <= NEAR, worst_any[0] > FAR
    text = (f"the default's largest gap to the best setting: {gap(worst_default[0])}"
            + (f" ({side.header(worst_default[1])})" if worst_default[1] else "")
            + f"; largest gap of any setting: {gap(worst_any[0])}"
            + (f" ({side.label(worst_any[1])}, {side.header(worst_any[2])})" if worst_any[1] else ""))
    n = min(len(side.pairs(r, c)) for r in side.runs() for c in side.specs if r not in side.absent
            and side.samples.get(r, {}).get(c))
    if not side.exact and n > 1:
        text += " (on the medians over the repeats)"
    return Cell(HOLDS if near and not far else FAILS, n, text)


def table6(side: Side, nint: str = "nint") -> Cell:
    cid = "si_snr_3s"
    _, rival = side.best(side.runs(nint=False), cid)
    cells = [side.compare(r, rival, cid, shift=LARGE_MARGIN_DB) for r in side.runs(nint=True)]
    margins = [f"{side.label(r)} {side.value(r, cid) - side.value(rival, cid):+.2f} dB"
               for r in side.runs(nint=True)]
    return all_of(cells, f"{side.header(cid)}: margin over the best other ({side.label(rival)} "
                         f"{side.show(cid, side.value(rival, cid))} dB): " + ", ".join(margins)
                  + f" (a large margin: at least {LARGE_MARGIN_DB:g} dB)")


def _step_gains(side: Side, columns: list) -> list:
    if not side.has("nint_step"):
        raise NotMeasurable(f"{side.who}: the sweep has no NINT + step run")
    return [side.compare("nint_step", "nint", cid) for cid in columns if _has_both(side, cid)]


def _has_both(side, cid) -> bool:
    try:
        side.pairs("nint_step", cid), side.pairs("nint", cid)
        return True
    except NotMeasurable:
        return False


def table6_step(side: Side, nint: str = "nint") -> Cell:
    cells = _step_gains(side, list(side.specs))
    behind = [c.text for c in cells if c.verdict != HOLDS]
    return all_of(cells, f"NINT + step above NINT in {sum(c.verdict == HOLDS for c in cells)} of {len(cells)} "
                         f"cells" + (f"; not in {'; '.join(behind)}" if behind else ""))


def table7(side: Side, nint: str = "nint") -> Cell:
    return _leads_every_cell(side, side.runs(nint=True), [c for c in side.specs if c.startswith("iou_")])


def table7_chamfer(side: Side, nint: str = "nint") -> Cell:
    cols = [c for c in side.specs if c.startswith("chamfer") and _any_value(side, c)]
    cells = []
    for cid in cols:
        _, mine = side.best(side.runs(nint=True), cid)
        _, rival = side.best(side.runs(nint=False), cid)
        cells.append(side.compare(mine, rival, cid))
    return count_of(cells, len(cells) // 2 + 1, "Chamfer columns where NINT (either scheduler) is below the best other")


def _any_value(side: Side, cid: str) -> bool:
    try:
        side.pairs("nint", cid)
        return True
    except NotMeasurable:
        return False


def table7_step(side: Side, nint: str = "nint") -> Cell:
    cells = _step_gains(side, list(side.specs))
    return count_of(cells, int(len(cells) * MOST) + 1, "cells where NINT + step is better than NINT")


def table8(side: Side, nint: str = "nint") -> Cell:
    cells, ranks = [], []
    for cid in side.specs:
        others = sorted((side.value(r, cid), r) for r in side.runs() if r != "nint")
        if side.lower_is_better(cid) is False:
            others.reverse()
        second = others[1][1]  # best or second best <=> better than the second best of the others
        cell = side.compare("nint", second, cid)
        if side.exact and all(d == 0 for d in side.diffs("nint", second, cid)):
            cell.verdict = HOLDS  # a tie for second place is second place
        cells.append(cell)
        mine = side.value("nint", cid)
        rank = 1 + sum(side.better_by(side.value(r, cid), mine, cid) > 0 for r in side.runs() if r != "nint")
        if rank > 2:
            ranks.append(f"{side.header(cid)} ({_ordinal(rank)})")
    top2 = len(side.specs) - len(ranks)
    return count_of(cells, TABLE8_CLAIMED, f"the default is best or second best in {top2} of {len(side.specs)}"
                    + (f"; not in {', '.join(ranks)}" if ranks else "") + "; cells decided against the second best")


def table9(side: Side, nint: str = "nint") -> Cell:
    return _leads_every_cell(side, [nint], list(side.specs))


def table10(side: Side, nint: str = "nint") -> Cell:
    cid = "time_to_psnr_30"
    _, rival = side.best(side.runs(nint=False), cid)
    cell = side.compare(nint, rival, cid)
    saving = _saving(side.value(nint, cid), side.value("standard", cid))
    if saving is not None:
        cell.text += f"; Standard {side.show(cid, side.value('standard', cid))} (NINT {100 * saving:.2f}% sooner)"
    return cell


def ablation(side: Side, nint: str = "nint") -> Cell:
    """The NTK stream carries more than PRIMARY_SHARE of NINT's gain over Uniform, pair by pair:
    (nint - no_ntk) - share x (nint - uniform) > 0 in each column."""
    cells, parts = [], []
    for cid in ("iters_to_psnr_30", "psnr_1000"):
        for run in (nint, "nint_no_ntk", "uniform"):
            if any(math.isinf(v) for v in side.pairs(run, cid).values()):
                raise NotMeasurable(f"{side.who}: {side.header(cid)} not reached by {side.label(run)}")
        gain = side.diffs(nint, "uniform", cid)
        if _median(gain) <= 0:
            raise NotMeasurable(f"{side.who}: {side.label(nint)} gains nothing over Uniform in {side.header(cid)} "
                                f"({side.show(cid, side.value(nint, cid))} vs "
                                f"{side.show(cid, side.value('uniform', cid))}), so there is no gain to attribute")
        ntk = side.diffs(nint, "nint_no_ntk", cid)
        share = _median(ntk) / _median(gain)
        cell = side.bound([a - PRIMARY_SHARE * b for a, b in zip(ntk, gain)],
                          f"{side.header(cid)}: {side.label(nint)} {side.show(cid, side.value(nint, cid))}, without "
                          f"the NTK stream {side.show(cid, side.value('nint_no_ntk', cid))}, Uniform "
                          f"{side.show(cid, side.value('uniform', cid))}: the NTK stream's share of the gain "
                          f"{100 * share:.0f}%")
        cells.append(cell)
        parts.append(cell.text)
    return all_of(cells, "; ".join(parts))


def scale_ladder(side, nint: str = "nint") -> Cell:
    """Our scale ladder (utils/reproduce/scale.py): NINT's time ratio to Standard falls as the
    image side grows, for each network, and from the small network to the large at each side.
    A ratio that is a bound (Standard, or NINT, stopped by its cap before the threshold) decides a
    step only when the bound settles it; a step it does not settle is named and left out."""
    savings = {}  # (network, side) -> (low, high): the ratio, or the interval a bound leaves
    for row in side.rows:
        ratio = row["time_ratio_standard"]
        if row["strategy"] == nint and ratio is not None:
            bound = row.get("time_ratio_standard_bound")
            savings[(row["network"], row["side"])] = ((0.0, ratio) if bound == "<" else
                                                     (ratio, math.inf) if bound == ">" else (ratio, ratio))
    if len(savings) < 2:
        raise NotMeasurable(f"{side.who}: fewer than two sizes where NINT's ratio to Standard is known")
    cells, unsettled = [], []
    networks = list(dict.fromkeys(k[0] for k in savings))
    sides = sorted({k[1] for k in savings})
    steps = [((net, a), (net, b)) for net in networks for a, b in zip(sides, sides[1:])]
    steps += [((a, s), (b, s)) for s in sides for a, b in zip(networks, networks[1:])]
    for small, big in steps:
        if small in savings and big in savings:
            (s_low, s_high), (b_low, b_high) = savings[small], savings[big]
            text = f"{small[0]}@{small[1]} -> {big[0]}@{big[1]}"
            if s_low == s_high and b_low == b_high:
                verdict, _ = paired_verdict([s_low - b_low])  # one run each: the sign decides
            elif b_high < s_low:
                verdict = HOLDS
            elif b_low > s_high:
                verdict = FAILS
            else:
                unsettled.append(text)
                continue
            cells.append(Cell(verdict, 1, text))
    if not cells:
        raise NotMeasurable(f"{side.who}: no step between sizes is settled ({'; '.join(unsettled)})")

    def show(key):
        low, high = savings[key]
        return f"{low:.2f}x" if low == high else (f"<{high:.2f}x" if low == 0.0 else f">{low:.2f}x")
    shown = ", ".join(f"{n}@{s}: {show((n, s))}" for n, s in savings)
    not_growing = [c.text for c in cells if c.verdict != HOLDS]
    return all_of(cells, f"NINT's training seconds to {side.threshold} as a ratio to Standard's: {shown}"
                  + (" (<: at most, Standard stopped by its cap first; >: at least)" if any(
                      low != high for low, high in savings.values()) else "")
                  + (f"; the saving does not grow at {'; '.join(not_growing)}" if not_growing else "")
                  + (f"; not settled by a bound: {'; '.join(unsettled)}" if unsettled else ""))


# ------------------------------------------------------------------------------------- the claims

def _paper_percent(p: dict, run: str, base: str, cid: str) -> str:
    """The paper's own change of `run` against `base` in `cid`, for a claim's wording ('-26.58%')."""
    try:
        return _pct(float(p[run][cid]), float(p[base][cid]))
    except (KeyError, TypeError, ValueError):
        return "n/a"


def _paper_saving(p: dict, run: str, base: str, cid: str) -> str:
    try:
        return f"{100 * (1 - float(p[run][cid]) / float(p[base][cid])):.2f}%"
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "n/a"


def _paper_db(p: dict, run: str, base: str, cid: str) -> str:
    try:
        return f"{float(p[run][cid]) - float(p[base][cid]):+.2f} dB"
    except (KeyError, TypeError, ValueError):
        return "n/a"


def _largest_paper_saving(p: dict, cid: str, gain: bool = False) -> str:
    best = None
    for name, row in p.items():
        if name.endswith("_standard") and f"{name[:-9]}_nint" in p:
            for c in ([cid] if not gain else [k for k in row if k.startswith(cid)]):
                try:
                    a, b = float(p[f"{name[:-9]}_nint"][c]), float(row[c])
                    s = a / b - 1 if gain else 1 - a / b
                except (KeyError, TypeError, ValueError, ZeroDivisionError):
                    continue
                best = s if best is None or s > best else best
    return "n/a" if best is None else f"{100 * best:.2f}%"


@dataclass
class Claim:
    """One row of the scorecard."""
    key: str              # a short id (the test and the report refer to it)
    sweep: str            # the sweep whose runs decide it ('' when none)
    place: str            # where the paper makes it
    wording: object       # the claim in our words: a function of the sweep's paper numbers
    check: object         # Side -> Cell, or None (no check on numbers)
    release: bool = False  # also judged for NINT with the release's score
    paper_reason: str = None  # why the paper's side is not measurable
    our_reason: str = None    # why ours is not measurable


NTK_COST_GPU = "results/ntk_cost_cuda.txt"  # a GPU measurement of the NTK scoring, when one exists

CLAIMS = [
    Claim("headline", "speedup", "abstract; Sec. 1",
          lambda p: (f"NINT cuts training time by nearly half against Standard (full batch) while keeping or "
                     f"improving quality (time to 30 dB {_paper_percent(p, 'nint', 'standard', 'time_to_psnr_30')}, "
                     f"final PSNR {_paper_db(p, 'nint', 'standard', 'final_psnr')})"), headline, release=True),
    Claim("readme", "table2", "the release's README (on Table 2)",
          lambda p: (f"against Standard, up to {README_CLAIMED[0]:.2f}% fewer iterations and "
                     f"{README_CLAIMED[1]:.2f}% less time"), readme, release=True),
    Claim("table1", "table1", "Sec. 4.2, Table 1",
          lambda p: "NINT leads every metric (PSNR, SSIM, LPIPS) at every budget (250, 1000, 5000 iterations)",
          table1, release=True),
    Claim("table2", "table2", "Sec. 4.2, Table 2",
          lambda p: (f"NINT reaches 25, 30 and 35 dB in fewer iterations and less time than every other sampler "
                     f"(at 30 dB {_paper_percent(p, 'nint', 'standard', 'iters_to_psnr_30')} iterations and "
                     f"{_paper_percent(p, 'nint', 'standard', 'time_to_psnr_30')} time against Standard)"),
          table2, release=True),
    Claim("fig4", "table1", "Sec. 4.2, Fig. 4",
          lambda p: ("over its training time NINT has the highest SSIM and the lowest LPIPS at all times (the paper: "
                     "60 s)"), fig4, release=True,
          paper_reason="a figure; the paper prints no numbers for it"),
    Claim("table3", "table3", "Sec. 4.3, Table 3",
          lambda p: (f"NINT's time saving to 25 dB grows with network size "
                     f"({_paper_saving(p, '5x256_nint', '5x256_standard', 'time_to_psnr_25')} at 5x256)"), table3),
    Claim("table3_psnr", "table3", "Sec. 4.3, Table 3",
          lambda p: (f"NINT's PSNR is higher than Standard's at every iteration checkpoint and size; for 1x64, "
                     f"which never reaches 25 dB, up to {_largest_1x64(p)} better PSNR"),
          table3_psnr),
    Claim("scale", "scale", "Sec. 4.3 (Table 3's claim on our scale ladder)",
          lambda p: "NINT's saving grows with size: image side (64, 128, 256) and network (3x128, 5x256)",
          scale_ladder, release=True,
          paper_reason="the paper varies the network only (Table 3, above); the image side is our ladder's"),
    Claim("fig5", "table3", "Sec. 4.3, Fig. 5",
          lambda p: "under a fixed training time NINT's PSNR is above Standard's at every size, the gap widening "
                    "with size", fig5,
          paper_reason="the text gives NINT's two ends only (25.58 dB at 3x64, 34.91 dB at 5x256), no Standard"),
    Claim("table4", "table4", "Sec. 4.3, Table 4",
          lambda p: (f"NINT is better for every architecture: time to 25 dB cut by up to "
                     f"{_largest_paper_saving(p, 'time_to_psnr_25')}, PSNR at fixed times up by up to "
                     f"{TABLE4_CLAIMED_PSNR:.2f}% (its table's largest gain: "
                     f"{_largest_paper_saving(p, 'psnr_', gain=True)})"), table4),
    Claim("table5", "table5", "Sec. 4.4, Table 5",
          lambda p: "the default alpha / xi / lambda are at or near the best and no setting is far off", table5),
    Claim("table6", "table6", "supplement Sec. 6, Table 6",
          lambda p: "audio: NINT leads SI-SNR after 3 s by a large margin", table6),
    Claim("table6_step", "table6", "supplement Sec. 6, Table 6",
          lambda p: "audio: NINT gains from the step scheduler (NINT + step above NINT in every cell)", table6_step),
    Claim("table7", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: NINT has the highest IoU at every budget", table7),
    Claim("table7_chamfer", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: NINT has the best Chamfer distance in most cases", table7_chamfer),
    Claim("table7_step", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: with the step scheduler NINT improves on its vanilla form (in most cells)", table7_step),
    Claim("table8", "table8", "supplement, Table 8",
          lambda p: f"the default is best or second best in {TABLE8_CLAIMED} of the 12 metrics", table8),
    Claim("ablation_ntk", "ablation_ntk", "supplement, Table 8's text",
          lambda p: "NTK-guided selection is the primary driver of the acceleration", ablation, release=True,
          paper_reason="the paper has no ablation that removes the NTK stream (its Table 8 changes batch size, "
                       "interval and scheduler only); ours: NINT against NINT without the NTK stream, "
                       "config/paper/ablation_ntk.yaml"),
    Claim("table9", "table9", "supplement, Table 9",
          lambda p: "super-resolution: NINT reaches 20 dB first and leads PSNR / SSIM / LPIPS", table9),
    Claim("table10", "table10", "supplement, Table 10",
          lambda p: (f"at 1024x1024 NINT reaches 30 dB first, "
                     f"{_paper_saving(p, 'nint', 'standard', 'time_to_psnr_30')} sooner than Standard"), table10),
    Claim("fig8", "", "supplement, Fig. 8",
          lambda p: "on several DIV2K images after 60 s each, NINT gives the best reconstruction on every image",
          None, paper_reason="a figure of pictures; the paper prints no numbers for it",
          our_reason="a visual comparison (results/table2_<preset>_reconstructions.png); no number decides it"),
    Claim("ntk_cost", "", "supplement Sec. 11",
          lambda p: "one NTK scoring takes 3.2 ms (3.6% of the selection) on an RTX 4090, 512x512, SIREN 5x256",
          None, paper_reason="one timing on the authors' GPU; nothing in the paper to check it against",
          our_reason="no GPU"),
]


def _largest_1x64(p: dict) -> str:
    try:
        gains = [float(p["1x64_nint"][c]) / float(p["1x64_standard"][c]) - 1 for c in p["1x64_nint"]
                 if c.startswith("psnr_") and c in p["1x64_standard"]]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "n/a"
    return f"{100 * max(gains):.2f}%" if gains else "n/a"


# ------------------------------------------------------------------------------------- the sides

def _paper_side(sweep) -> Side:
    samples = {run: {cid: {"paper": v} for cid, v in values.items()} for run, values in sweep.paper.items()}
    return Side(sweep, samples, {}, "the paper", exact=True)


def _our_side(sweep) -> Side:
    entries, path = collect_or_stored(sweep)
    if path:
        # No run folder of this sweep on this machine (a fresh checkout): the numbers its last
        # run committed, said in the claim's row (the results file names where they come from).
        side = Side(sweep, {e["name"]: e["samples"] for e in entries if e["n_completed"]},
                    {e["name"]: f"{e['label']} not in {os.path.basename(path)}"
                     for e in entries if not e["n_completed"]}, "ours")
        side.source = os.path.relpath(path, os.path.dirname(sweep.results_dir) or ".")
        return side
    samples, absent = {}, {}
    for e in entries:
        if e["n_completed"] == 0:
            why = e["errors"][0] if e["errors"] else "not run"
            absent[e["name"]] = f"{e['label']} not finished ({why})"
        else:
            samples[e["name"]] = e["samples"]
    if not samples:
        raise NotMeasurable(f"{sweep.table} not run at the {sweep.preset} preset")
    return Side(sweep, samples, absent, "ours")


class _LadderSide:
    """The scale ladder's rows as a side of the `scale` claim (one run per cell)."""

    def __init__(self, rows: list, threshold: str, results_dir: str):
        self.rows, self.threshold, self.who, self.exact = rows, threshold, "ours", False
        source = next((r["source"] for r in rows if r.get("source")), None)
        if source:  # the committed CSV, named in the row as the other claims name theirs
            self.source = os.path.relpath(source, os.path.dirname(results_dir) or ".")


def _verdict(claim: Claim, make_side, nint: str) -> tuple:
    """(verdict, numbers) of one side; `one run` beside a verdict on ours that rests on one pair."""
    try:
        side = make_side()
        if nint == RELEASE and isinstance(side, Side) and not side.has(RELEASE):
            return "release score not run", ""
        cell = claim.check(side, nint)
    except NotMeasurable as e:
        return f"not measurable: {e}", ""
    verdict = cell.verdict
    if not getattr(side, "exact", True) and cell.n == 1:
        verdict += " (one run)"
    source = getattr(side, "source", None)
    return verdict, (f"(from {source}; its run folders are not on this machine) " if source else "") + cell.text


def _ntk_cost_ours(results_dir: str) -> tuple:
    path = os.path.join(results_dir, os.path.basename(NTK_COST_GPU))
    if os.path.isfile(path):
        return "measured, not judged", open(path).read().strip().replace("\n", "; ")
    cpu = os.path.join(results_dir, "ntk_cost_cpu.txt")
    numbers = ""
    if os.path.isfile(cpu):
        text = open(cpu).read()
        m = re.search(r"ntk score\s+([\d.]+ ms)", text)
        if m:
            numbers = f"on this CPU: one NTK scoring {m.group(1)} (results/ntk_cost_cpu.txt; not the paper's setting)"
    return "not measurable (no GPU)", numbers


def check_claims(preset: str, results_dir: str = "results", repeats: int = None,
                 sweep_names: dict = None) -> list:
    """One dict per claim: key, sweep, source, claim, paper_numbers, paper_verdict, our_numbers,
    our_verdict, release_numbers, release_verdict. repeats: None = as many as the run folders hold.
    sweep_names: claim sweep -> the sweep file to read instead (e.g. table2 -> table2_range)."""
    out = []
    for claim in CLAIMS:
        sweep_name = (sweep_names or {}).get(claim.sweep, claim.sweep)
        row = {"key": claim.key, "sweep": sweep_name, "source": claim.place,
               "release_verdict": "release score not run", "release_numbers": ""}
        if not claim.sweep or claim.check is None:
            row.update(claim=claim.wording({}), paper_numbers="", our_numbers="",
                       paper_verdict=f"not measurable: {claim.paper_reason}",
                       our_verdict=f"not measurable: {claim.our_reason}")
            if claim.key == "ntk_cost":
                row["our_verdict"], row["our_numbers"] = _ntk_cost_ours(results_dir)
            out.append(row)
            continue
        if claim.sweep == "scale":
            out.append(_scale_row(claim, row, preset, results_dir))
            continue
        try:
            paper_sweep = load_sweep(sweep_name, "paper", results_dir=results_dir)
            n = repeats or repeats_made(os.path.splitext(os.path.basename(sweep_name))[0], preset, results_dir)
            ours = load_sweep(sweep_name, preset, results_dir=results_dir, repeats=n)
        except UserError as e:
            row.update(claim=claim.wording({}), paper_numbers="", our_numbers="",
                       paper_verdict=f"not measurable: {e}", our_verdict=f"not measurable: {e}")
            out.append(row)
            continue
        row["claim"] = claim.wording(paper_sweep.paper)
        if claim.paper_reason:
            row["paper_verdict"], row["paper_numbers"] = f"not measurable: {claim.paper_reason}", ""
        else:
            row["paper_verdict"], row["paper_numbers"] = _verdict(claim, lambda: _paper_side(paper_sweep), "nint")
        side = {}

        def our_side():
            if "side" not in side:
                side["side"] = fig4_side(ours) if claim.key == "fig4" else _our_side(ours)
            return side["side"]
        row["our_verdict"], row["our_numbers"] = _verdict(claim, our_side, "nint")
        if claim.release:
            if not any(r.name == RELEASE for r in ours.runs):
                row["release_verdict"] = "release score not run"
            else:
                row["release_verdict"], row["release_numbers"] = _verdict(claim, our_side, RELEASE)
        out.append(row)
    return out


def _scale_row(claim: Claim, row: dict, preset: str, results_dir: str) -> dict:
    row.update(claim=claim.wording({}), paper_numbers="", paper_verdict=f"not measurable: {claim.paper_reason}")
    try:
        rows, threshold = ladder(preset, results_dir)
    except UserError as e:
        row.update(our_numbers="", our_verdict=f"not measurable: {e}",
                   release_verdict=f"not measurable: {e}")
        return row
    if not rows:
        row.update(our_numbers="", our_verdict=f"not measurable: the scale ladder not run at the {preset} preset",
                   release_verdict=f"not measurable: the scale ladder not run at the {preset} preset")
        return row
    side = _LadderSide(rows, threshold, results_dir)
    row["our_verdict"], row["our_numbers"] = _verdict(claim, lambda: side, "nint")
    if any(r["strategy"] == RELEASE for r in rows):
        row["release_verdict"], row["release_numbers"] = _verdict(claim, lambda: side, RELEASE)
    return row


# ------------------------------------------------------------------------------------- the report

def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_of(text: str) -> str:
    """holds / fails / within noise / not measurable / release score not run, from a verdict cell."""
    for v in (HOLDS, FAILS, NOISE, "release score not run"):
        if text.startswith(v):
            return v
    return "not measurable"


def tally(rows: list, key: str) -> str:
    verdicts = [verdict_of(r[key]) for r in rows]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in (HOLDS, FAILS, NOISE, "not measurable"))


def build_claims_markdown(rows: list, preset: str, command: str = None, range_rows: list = None) -> str:
    lines = [f"# The paper's claims, checked ({preset} preset)", "",
             f"- On the paper's numbers: {tally(rows, 'paper_verdict')}.",
             f"- On ours, NINT as the paper states it (K g): {tally(rows, 'our_verdict')}.",
             f"- On ours, NINT with the release's score (`{RELEASE}`): {tally(rows, 'release_verdict')}; "
             f"{sum(verdict_of(r['release_verdict']) == 'release score not run' for r in rows)} claims "
             f"not judged for it (release score not run).", "",
             "Each claim of the paper, its supplement and the authors' release README, judged on the paper's own "
             "numbers (each sweep's `paper:` section, config/paper/) and on ours (that sweep's finished runs at the "
             f"`{preset}` preset), for NINT as the paper states it and, where the claim's sweep has the run "
             f"`{RELEASE}`, for NINT with the release's score. Computed by utils/reproduce/claims.py from the "
             "sweep files and the run folders (where a sweep's run folders are gone, from the results files its "
             "last run wrote, named in the claim's row); nothing is typed in. Rerun it after any table: "
             f"`python reproduce.py claims --preset {preset}`.", "",
             "- The noise: two runs are compared pair by pair (same signal, same repeat = same seed; "
             "`--repeats N`, repeat k with seed + k - 1). With two or more pairs a verdict is `holds` or `fails` "
             f"only when the {100 * CONFIDENCE:.0f}% Student-t interval of the paired differences excludes zero, "
             "else `within noise`; with one pair the sign decides and the verdict says `one run` (a tie: "
             "within noise). The numbers shown are the medians over the repeats; the seconds, too, are the "
             "median repeat's (the tables give mean ± std and every repeat in <table>_per_repeat.csv).",
             "- NINT is the run `nint` (xi 0.7); in Tables 6 and 7 also NINT with the step scheduler (the "
             f"better of the two per column). Its rivals: every run not named `nint...`; `{RELEASE}` is neither. "
             "A threshold never reached counts as worse than any reached.",
             f"- Our readings of the claims' words: \"nearly half the time\" = at most {NEARLY_HALF:g}x Standard's "
             f"seconds to 30 dB; \"maintaining quality\" = final PSNR at most {MAINTAIN_DB:g} dB below "
             f"Standard's; \"near the best\" = within {100 * NEAR:.0f}% of the best setting, \"far off\" = more "
             f"than {100 * FAR:.0f}% above it; \"a large margin\" = every NINT row at least {LARGE_MARGIN_DB:g} dB "
             f"above the best other; \"in most cases\" = in more than {100 * MOST:.0f}% of the cells; \"the "
             f"primary driver\" = more than {100 * PRIMARY_SHARE:.0f}% of NINT's gain over Uniform (in "
             "iterations to 30 dB and in PSNR at the 1000-iteration column) is lost without the NTK stream.",
             "- Our seconds are training seconds on this machine (evaluation excluded); the paper's are an "
             "RTX 4090's on a clock that counted its per-step evaluation. Budgets and sizes of a `cpu` preset "
             "are scaled (each table's header says how), so its numbers test the claims' direction, not "
             "their values."]
    if command:
        lines.append(f"- Command: `{command}`")
    lines += ["", "| # | claim | the paper's numbers | on the paper's numbers | our numbers (K g) | on ours (K g) "
                  "| on ours, the release's score |",
              "|---:|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        claim = f"{r['claim']} ({r['source']}; `{r['sweep'] or '-'}`)"
        release = f"**{r['release_verdict']}**" + (f": {r['release_numbers']}" if r["release_numbers"] else "")
        lines.append("| " + " | ".join(_escape(c) for c in (
            i, claim, r["paper_numbers"], f"**{r['paper_verdict']}**", r["our_numbers"], f"**{r['our_verdict']}**",
            release)) + " |")
    if range_rows:
        lines += ["", value_range_markdown(rows, range_rows)]
    lines += ["", SUMMARY_HEADING, "", summary_markdown(rows).rstrip("\n")]
    return "\n".join(lines) + "\n"


def value_range_markdown(rows: list, range_rows: list) -> str:
    """Table 2's claims on the [0, 1] runs beside the same claims on the [-1, 1] runs (table2_range)."""
    by_key = {r["key"]: r for r in rows}
    lines = ["## The value range: Table 2's claims with DATASET_CONFIGS.value_range [-1, 1]", "",
             "The releases fit different values: NINT's [0, 1], EVOS's each image stretched to [-1, 1]. The "
             "sweep `table2_range` runs Table 2's rows in [-1, 1]; the claims decided by Table 2, on both:", "",
             "| claim | [0, 1]: K g | [-1, 1]: K g | [0, 1]: release score | [-1, 1]: release score | changes |",
             "|---|---|---|---|---|---|"]
    for r in range_rows:
        base = by_key.get(r["key"])
        if not base:
            continue
        decided = (HOLDS, FAILS, NOISE)  # a change counts between two verdicts, not from "not run"
        changed = [who for who, k in (("K g", "our_verdict"), ("release score", "release_verdict"))
                   if verdict_of(base[k]) in decided and verdict_of(r[k]) in decided
                   and verdict_of(base[k]) != verdict_of(r[k])]
        lines.append("| " + " | ".join(_escape(c) for c in (
            f"{base['claim']} ({r['source']})", base["our_verdict"], r["our_verdict"], base["release_verdict"],
            r["release_verdict"], ", ".join(changed) if changed else "no")) + " |")
    return "\n".join(lines)


SUMMARY_HEADING = "## In short"  # results/README.md opens with this section of claims_<preset>.md


def summary_markdown(rows: list) -> str:
    """A short, plain summary of what holds, fails and is within noise, on the paper's numbers and on
    ours (K g and the release's score), each claim with the numbers behind it; for results/README.md."""
    def listing(key, numbers_key, verdict):
        picked = [r for r in rows if verdict_of(r[key]) == verdict]
        return [f"  - {r['claim']} ({r['source']})" + (f": {_short(r[numbers_key])}" if r[numbers_key] else "")
                for r in picked]
    lines = ["On the paper's own numbers, " + tally(rows, "paper_verdict") + "; on ours (NINT as the paper "
             "states it), " + tally(rows, "our_verdict") + "; on ours with the release's score, "
             + tally(rows, "release_verdict") + "."]
    for title, key, numbers in (("On the paper's numbers", "paper_verdict", "paper_numbers"),
                                ("On ours (K g)", "our_verdict", "our_numbers"),
                                ("On ours, the release's score", "release_verdict", "release_numbers")):
        lines += ["", f"{title}:"]
        judged = False
        for verdict in (HOLDS, FAILS, NOISE):
            items = listing(key, numbers, verdict)
            if items:
                lines += [f"- {verdict} ({len(items)}):", *items]
                judged = True
        if not judged:
            lines.append("- no claim judged yet (its runs have not been made)")
    return "\n".join(lines) + "\n"


def summary_section(preset: str, results_dir: str = "results") -> str:
    """summary_markdown of the claims checked now at `preset` (for results/README.md)."""
    return summary_markdown(check_claims(preset, results_dir))


def _short(text: str, limit: int = 220) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


RANGE_SWEEP = "table2_range"


def write_claims(preset: str, results_dir: str = "results", repeats: int = None, command: str = None) -> str:
    """results/claims.md (paper preset) or claims_<preset>.md; returns its path."""
    rows = check_claims(preset, results_dir, repeats)
    range_rows = None
    if preset != "paper" and os.path.isdir(os.path.join(os.path.abspath(results_dir), "runs", RANGE_SWEEP, preset)):
        range_rows = [r for r in check_claims(preset, results_dir, repeats, {"table2": RANGE_SWEEP})
                      if r["sweep"] == RANGE_SWEEP]
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, "claims.md" if preset == "paper" else f"claims_{preset}.md")
    with open(path, "w") as f:
        f.write(build_claims_markdown(rows, preset, command, range_rows))
    return path
