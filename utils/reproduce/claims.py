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
import csv
import math
import os
import re
from dataclasses import dataclass

from utils.errors import UserError
from utils.reproduce.collect import RELEASE, collect, collect_or_stored, is_nint, is_rival
from utils.reproduce.columns import column_kind
from utils.reproduce.noise import (eval_interval, intervals_by_network, seconds_spread, under_spread,
                                   within_one_interval)
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
TABLE8_COLUMNS = 12
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
    """One decided comparison: verdict (holds / fails / within noise), how many pairs, the numbers.

    label: what the cell compares, short ("it to PSNR 30"); size: the difference, in the column's
    units ("0.27 dB"); count: (cells that hold, cells) of a claim over several cells; near: the
    near miss of a claim that fails by one cell ("3x64 PSNR @ 500 it, 0.27 dB short"); why: the
    claim's deciding numbers in a few words (the scorecard's reason); rule: the noise rule that
    made it `within noise`, when one did."""
    verdict: str
    n: int
    text: str
    label: str = ""
    size: str = ""
    count: tuple = None
    near: str = ""
    why: str = ""
    rule: str = ""


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


def _near_miss(cells: list, verdict: str, needed: int) -> str:
    """The one cell a failing claim misses by, with its size ("PSNR @ 500 it, 0.27 dB short")."""
    missing = [c for c in cells if c.verdict != HOLDS]
    held = len(cells) - len(missing)
    if verdict != FAILS or held != needed - 1 or not missing:
        return ""
    closest = min(missing, key=lambda c: _size_number(c.size))
    return f"{closest.label}, {closest.size} short" if closest.size else closest.label


def _size_number(size: str) -> float:
    m = re.match(r"[\d.]+", size or "")
    return float(m.group(0)) if m else math.inf


def _why(cells: list, verdict: str) -> str:
    """The deciding cell in a few words: the first cell (in the table's order) with the claim's verdict."""
    c = next((c for c in cells if c.verdict == verdict), None)
    return (c.why or c.label) if c else ""


def all_of(cells: list, text: str) -> Cell:
    """Every cell holds: holds; any fails: fails; else within noise. The count and a near miss ride along."""
    if not cells:
        raise NotMeasurable("nothing to compare")
    verdicts = [c.verdict for c in cells]
    verdict = FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else NOISE
    cell = Cell(verdict, min(c.n for c in cells), text)
    if len(cells) > 1:
        cell.count = (verdicts.count(HOLDS), len(cells))
        cell.near = _near_miss(cells, verdict, len(cells))
    cell.why = _why(cells, verdict)
    cell.rule = next((c.rule for c in cells if c.rule), "")
    return cell


def count_of(cells: list, needed: int, text: str) -> Cell:
    """At least `needed` cells hold: holds; too few even if every noisy cell held: fails; else within noise."""
    if not cells:
        raise NotMeasurable("nothing to compare")
    h = sum(c.verdict == HOLDS for c in cells)
    w = sum(c.verdict == NOISE for c in cells)
    verdict = HOLDS if h >= needed else FAILS if h + w < needed else NOISE
    cell = Cell(verdict, min(c.n for c in cells), text + f" ({h} hold, {w} within noise, of {len(cells)}; "
                                                         f"needed {needed})", count=(h, len(cells)))
    cell.near = _near_miss(cells, verdict, needed) if verdict == FAILS else ""
    cell.why = _why(cells, verdict)
    cell.rule = next((c.rule for c in cells if c.rule), "")
    return cell


def most_of(cells: list, text: str) -> Cell:
    """"Most" (the one rule): more than MOST (half) of the cells hold: 3 of 4, 2 of 3; 2 of 4 is not most."""
    return count_of(cells, math.floor(MOST * len(cells)) + 1, text)


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
        self.interval = None if exact else eval_interval(sweep)  # iterations are read this often
        self.spread = None     # noise.Spread of one-run seconds (set by check_claims)
        self.measure = None    # None: every column; "iterations" or "seconds": that view (`view`)
        self.extra = None      # a second side some checks read (claim 18: Table 2's Uniform)
        self.specs = {c["id"]: c for c in sweep.columns}
        self.labels = {r.name: r.label for r in sweep.runs}
        self.names = list(dict.fromkeys(r.name for r in sweep.runs))
        self._metrics = task_class(sweep.task).metrics  # name -> higher is better

    def runs(self, nint: bool = None) -> list:
        """Run names in the sweep's order; nint True: NINT rows (K g); False: the rivals."""
        return [n for n in self.names if nint is None or (is_nint(n) if nint else is_rival(n))]

    def has(self, run: str) -> bool:
        return run in self.names

    def view(self, measure: str) -> "Side":
        """This side with only the columns of one measure: "iterations" (iterations to a threshold,
        quality at fixed iterations, final quality: the same on any device) or "seconds" (seconds to
        a threshold, quality at fixed seconds: this machine's clock)."""
        import copy
        out = copy.copy(self)
        out.measure = measure
        out.specs = {cid: spec for cid, spec in self.specs.items() if measure_of(spec) == measure}
        return out

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
        if cid not in self.specs:
            raise NotMeasurable(f"{self.who}: no {self.measure or ''} column {cid}")
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

    def compare(self, a: str, b: str, cid: str, shift: float = 0.0, prefix: str = "") -> Cell:
        """Run a better than run b in cid (by more than `shift`, in the column's units)? With the
        noise rules (utils/reproduce/noise.py) on our side; prefix: a size or architecture."""
        diffs = self.diffs(a, b, cid, shift)
        verdict, interval = paired_verdict(diffs, self.exact)
        va, vb = self.value(a, cid), self.value(b, cid)
        rule = self.noise_rule(cid, diffs, va, vb)
        if rule and verdict != NOISE:
            verdict = NOISE
        text = (f"{self.header(cid)}: {self.label(a)} {self.show(cid, va)}, "
                f"{self.label(b)} {self.show(cid, vb)}" + (f" ({interval})" if interval else "")
                + (f" [{rule}]" if rule else ""))
        label = f"{prefix} {self.header(cid)}".strip()
        finite = [d for d in diffs if math.isfinite(d)]
        size = f"{format(abs(_median(finite)), self.specs[cid]['fmt'])}{_unit(self.specs[cid])}" if finite else ""
        why = f"{_short_label(self.label(a))} {self.show(cid, va)} vs {_short_label(self.label(b))} " \
              f"{self.show(cid, vb)}, {label}"
        return Cell(verdict, len(diffs), text, label=label, size=size, why=why, rule=rule)

    def noise_rule(self, cid: str, diffs: list, a: float, b: float) -> str:
        """Why a difference is within noise by noise.py's rules, or "" (the paper's side: never)."""
        if self.exact:
            return ""
        kind = column_kind(self.specs[cid])
        if kind == "iters_to" and diffs and all(math.isfinite(d) for d in diffs) and \
                within_one_interval(sum(diffs) / len(diffs), self.interval):
            return f"within one evaluation interval ({self.interval} it)"
        if kind == "time_to" and len(diffs) == 1 and under_spread(a, b, self.spread):
            return f"one run, under the {100 * self.spread.relative:.0f}% seconds spread"
        return ""

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


def measure_of(spec: dict) -> str:
    """"seconds" for a column read on the clock (seconds to a threshold, quality at fixed seconds),
    else "iterations"."""
    kind = column_kind(spec)
    seconds = kind == "time_to" or "at_seconds" in spec or (kind == "summary" and "seconds" in str(spec[kind]))
    return "seconds" if seconds else "iterations"


UNITS = {"psnr": " dB", "si_snr": " dB"}


def _unit(spec: dict) -> str:
    kind = column_kind(spec)
    return {"iters_to": " it", "time_to": " s"}.get(kind) or UNITS.get(str(spec.get(kind)), "")


def _short_label(label: str) -> str:
    """"NINT (xi 0.7)" -> "NINT": a run's label without its parenthesis, for the scorecard."""
    return re.sub(r"\s*\([^)]*\)", "", label).strip() or label


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


def _half(name: str, cell: Cell) -> Cell:
    """A part of a claim judged on its own (claim 1's halves): its name leads its text and reason."""
    cell.text = f"{name}: {cell.verdict}: {cell.text}"
    cell.label = f"{name} ({cell.label})" if cell.label else name
    cell.why = f"{name}: {cell.why}" if cell.why else name
    return cell


def headline(side: Side, nint: str = "nint") -> Cell:
    """Claim 1 in three parts, each judged on its own: the time (at most NEARLY_HALF x Standard's
    seconds to 30 dB), the quality (final PSNR not below Standard's: "keeping or improving") and
    the state of the art (fewer seconds to 30 dB than the best other sampler). On a measure's view
    the parts of the other measure drop out."""
    t, q = "time_to_psnr_30", "final_psnr"
    halves = []
    if t in side.specs:
        ratios = side.ratio_pairs(nint, "standard", t)
        r = _median(ratios)
        time_cell = side.bound([NEARLY_HALF - x for x in ratios],
                               f"{side.header(t)}: {side.label(nint)} {side.show(t, side.value(nint, t))}, Standard "
                               f"{side.show(t, side.value('standard', t))}: {r:.2f}x Standard's "
                               f"(nearly half: at most {NEARLY_HALF:g}x)")
        if len(ratios) == 1 and under_spread(r, NEARLY_HALF, side.spread):
            time_cell.verdict, time_cell.rule = NOISE, f"one run, under the {100 * side.spread.relative:.0f}% seconds spread"
        time_cell.label, time_cell.size = "time", f"{abs(r - NEARLY_HALF):.2f}x"
        time_cell.why = f"{r:.2f}x Standard's seconds (at most {NEARLY_HALF:g}x)"
        halves.append(_half("time", time_cell))
        _, rival = side.best(side.runs(nint=False), t)
        halves.append(_half("state of the art", side.compare(nint, rival, t)))
    if q in side.specs:
        halves.append(_half("quality", side.compare(nint, "standard", q)))
    if not halves:
        raise NotMeasurable(f"{side.who}: no {side.measure} column of claim 1")
    cell = all_of(halves, "; ".join(h.text for h in halves))
    cell.why = "; ".join(f"{h.label.split(' (')[0]} {h.verdict}" for h in halves)
    return cell


def _median(values: list) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


THRESHOLDS = ("25", "30", "35")


def readme(side: Side, nint: str = "nint") -> Cell:
    """The README's "up to X% fewer iterations and Y% less time" against Standard, read for its
    direction: at the threshold (25 / 30 / 35 dB) where NINT's saving is largest, NINT needs fewer
    iterations, and less time, than Standard. The percentages are shown beside the claimed ones."""
    cells = []
    for kind, claimed, what in (("iters_to", README_CLAIMED[0], "iterations"),
                                ("time_to", README_CLAIMED[1], "time")):
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
            continue
        cell = side.compare(nint, "standard", best[1])
        cell.text = (f"{what}: largest saving {100 * best[0]:.2f}% ({side.header(best[1])}), claimed "
                     f"{claimed:.2f}%: {cell.text}")
        cell.why = f"{what} {100 * best[0]:.0f}% less (claimed {claimed:.0f}%)"
        cell.label = what
        cells.append(cell)
    if not cells:
        raise NotMeasurable(f"{side.who}: NINT and Standard reached no threshold both")
    cell = all_of(cells, "; ".join(c.text for c in cells))
    cell.count, cell.why = None, "; ".join(c.why for c in cells)
    return cell


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
        _, stored = collect_or_stored(sweep)
        raise NotMeasurable(f"needs {sweep.table}'s curves (metrics.csv of its run folders), not on this machine"
                            if stored else f"{sweep.table} not run at the {sweep.preset} preset")
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


def _grows(side: Side, savings: list, what: str, show=lambda v: f"{100 * v:.2f}%", seconds: bool = False) -> Cell:
    """savings: [(size, per-pair savings)] in growing size: each step up at least as large (paired);
    show: how one saving is printed. seconds: the savings are 1 - a ratio of seconds, so a one-run
    step whose two ratios differ by less than the seconds spread is within noise."""
    if len(savings) < 2:
        raise NotMeasurable(f"{side.who}: fewer than two sizes with {what}")
    cells = []
    for (a, sa), (b, sb) in zip(savings, savings[1:]):
        diffs = [y - x for x, y in zip(sa, sb)]
        verdict, interval = paired_verdict(diffs, side.exact)
        if side.exact and all(d == 0 for d in diffs):
            verdict = HOLDS  # "grows" on the paper's numbers: not smaller
        rule = ""
        if seconds and not side.exact and len(diffs) == 1 and under_spread(1 - sa[0], 1 - sb[0], side.spread):
            verdict, rule = NOISE, f"one run, under the {100 * side.spread.relative:.0f}% seconds spread"
        cells.append(Cell(verdict, len(diffs), f"{a} -> {b}" + (f" ({interval})" if interval else "")
                          + (f" [{rule}]" if rule else ""), label=f"{a} -> {b}",
                          size=show(abs(_median(diffs))).lstrip("+"), rule=rule,
                          why=f"{a} {show(_median(sa))} -> {b} {show(_median(sb))}"))
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
    return _grows(side, savings, f"NINT's time saving to {side.header(cid)[5:]} by size (parameters growing)",
                  seconds=True)


def table3_psnr(side: Side, nint: str = "nint") -> Cell:
    cols = [c for c in ("psnr_500", "psnr_1000", "psnr_2500") if c in side.specs]
    cells, gains = [], []
    for size, std, n in _pairs(side):
        for cid in cols:
            cells.append(side.compare(n, std, cid, prefix=size))
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
            cell = side.compare(n, std, cid, prefix=size)
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
            cell = side.compare(n, std, cid, prefix=arch)
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
    """The default within NEAR of the best setting in every column, and no setting more than FAR
    above it. A gap that a noise rule cannot tell from the reading's edge is within noise (an
    iteration count within one evaluation interval of it; one run's seconds within the spread)."""
    worst_default, worst_any = (0.0, None, None, None), (0.0, None, None, None, None)
    for cid in side.specs:
        best, _ = side.best(side.runs(), cid)
        if math.isinf(best):
            continue  # no setting reached it: nothing to compare
        for run in side.runs():
            v = side.value(run, cid)
            gap = math.inf if math.isinf(v) else v / best - 1.0
            if run == "nint" and gap >= worst_default[0]:
                worst_default = (gap, cid, v, best)
            if gap >= worst_any[0]:
                worst_any = (gap, run, cid, v, best)
    if worst_any[1] is None and worst_default[1] is None:
        raise NotMeasurable(f"{side.who}: no setting reached any threshold")
    n = min(len(side.pairs(r, c)) for r in side.runs() for c in side.specs if r not in side.absent
            and side.samples.get(r, {}).get(c))

    def gap(g):
        return "never reached" if math.isinf(g) else f"+{100 * g:.1f}%"

    def judged(ok: bool, cid, v, edge) -> tuple:
        if side.exact or cid is None or math.isinf(v):
            return (HOLDS if ok else FAILS), ""
        if column_kind(side.specs[cid]) == "iters_to" and within_one_interval(v - edge, side.interval):
            return NOISE, f"within one evaluation interval ({side.interval} it) of the edge"
        if column_kind(side.specs[cid]) == "time_to" and n == 1 and under_spread(v, edge, side.spread):
            return NOISE, f"one run, under the {100 * side.spread.relative:.0f}% seconds spread of the edge"
        return (HOLDS if ok else FAILS), ""
    g, cid, v, best = worst_default
    near, near_rule = judged(g <= NEAR, cid, v, (1 + NEAR) * best if cid else 0)
    g2, run2, cid2, v2, best2 = worst_any
    far, far_rule = judged(g2 <= FAR, cid2, v2, (1 + FAR) * best2 if cid2 else 0)
    cells = [Cell(near, n, "", label="default near the best", size=f"{100 * max(g - NEAR, 0):.1f} points",
                  rule=near_rule, why=f"default {gap(g)} from the best" + (f" ({side.header(cid)})" if cid else "")),
             Cell(far, n, "", label="no setting far off", size=f"{100 * max(g2 - FAR, 0):.1f} points",
                  rule=far_rule, why=f"{side.label(run2) if run2 else ''} {gap(g2)} from the best"
                  + (f" ({side.header(cid2)})" if cid2 else ""))]
    text = (f"the default's largest gap to the best setting: {gap(g)}"
            + (f" ({side.header(cid)})" if cid else "") + f" [near: {near}"
            + (f", {near_rule}" if near_rule else "") + f"]; largest gap of any setting: {gap(g2)}"
            + (f" ({side.label(run2)}, {side.header(cid2)})" if run2 else "") + f" [not far: {far}"
            + (f", {far_rule}" if far_rule else "") + "]")
    if not side.exact and n > 1:
        text += " (on the medians over the repeats)"
    cell = all_of(cells, text)
    return cell


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
    return most_of(cells, "Chamfer columns where NINT (either scheduler) is below the best other")


def _any_value(side: Side, cid: str) -> bool:
    try:
        side.pairs("nint", cid)
        return True
    except NotMeasurable:
        return False


def table7_step(side: Side, nint: str = "nint") -> Cell:
    """"Consistent improvement over its vanilla counterpart": every cell (the one rule)."""
    cells = _step_gains(side, list(side.specs))
    behind = [c.text for c in cells if c.verdict != HOLDS]
    return all_of(cells, f"NINT + step better than NINT in {sum(c.verdict == HOLDS for c in cells)} of {len(cells)} "
                         f"cells" + (f"; not in {'; '.join(behind)}" if behind else ""))


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
    needed = math.ceil(TABLE8_CLAIMED * len(side.specs) / TABLE8_COLUMNS)  # 9 of 12; 5 of a measure's 6
    return count_of(cells, needed, f"the default is best or second best in {top2} of {len(side.specs)}"
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


def primary_driver(side: Side, nint: str = "nint") -> Cell:
    """Table 8's text: "NTK-guided selection is the primary driver of the acceleration, with the
    auxiliary choices playing secondary roles". Read on the paper's sentence: across Table 8's rows
    (batch size, interval, scheduler) the largest change from the default's iterations to 30 dB is
    smaller than NINT's saving against Uniform, Uniform's iterations from Table 2 (side.extra;
    Table 8 has no Uniform row)."""
    cid = "iters_to_psnr_30"
    if cid not in side.specs or side.extra is None:
        raise NotMeasurable(f"{side.who}: no {side.measure or ''} column {cid}")
    default = side.value("nint", cid)
    changes = [(abs(side.value(r, cid) - default), r) for r in side.runs() if r not in ("nint", "standard")]
    if not changes:
        raise NotMeasurable(f"{side.who}: Table 8 has no row besides the default")
    largest, row = max(changes)
    uniform = side.extra.value("uniform", cid)
    saving = uniform - default
    diff = saving - largest
    verdict = HOLDS if diff > 0 else FAILS
    rule = "" if side.exact or math.isinf(diff) else (
        f"within one evaluation interval ({side.interval} it)" if within_one_interval(diff, side.interval) else "")
    if rule:
        verdict = NOISE
    n = min(len(side.pairs("nint", cid)), len(side.pairs(row, cid)))
    show = lambda v: side.show(cid, v)  # noqa: E731
    text = (f"{side.header(cid)}: the default {show(default)}; the largest change across Table 8's rows "
            f"{show(largest)} ({side.label(row)} {show(side.value(row, cid))}); NINT's saving against Uniform "
            f"{show(saving)} (Uniform {show(uniform)}, Table 2)" + (f" [{rule}]" if rule else ""))
    return Cell(verdict, n, text, label=cid, size=f"{show(abs(diff))} it", rule=rule,
                why=f"{side.label(row)} moves {show(largest)} it; saving vs Uniform {show(saving)} it")


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
        margins = [a - PRIMARY_SHARE * b for a, b in zip(ntk, gain)]
        cell = side.bound(margins,
                          f"{side.header(cid)}: {side.label(nint)} {side.show(cid, side.value(nint, cid))}, without "
                          f"the NTK stream {side.show(cid, side.value('nint_no_ntk', cid))}, Uniform "
                          f"{side.show(cid, side.value('uniform', cid))}: the NTK stream's share of the gain "
                          f"{100 * share:.0f}%; the margin over a {100 * PRIMARY_SHARE:.0f}% share (the stream's "
                          f"saving less {PRIMARY_SHARE:g} x the gain over Uniform), pair by pair")
        rule = side.noise_rule(cid, margins, 0.0, 0.0)
        if rule:
            cell.verdict, cell.rule, cell.text = NOISE, rule, cell.text + f" [{rule}]"
        cell.label, cell.size = side.header(cid), f"{abs(_median(margins)):.3g}{_unit(side.specs[cid])}"
        cell.why = f"NTK stream's share {100 * share:.0f}% ({side.header(cid)}; needs > {100 * PRIMARY_SHARE:.0f}%)"
        cells.append(cell)
        parts.append(cell.text)
    return all_of(cells, "; ".join(parts))


def scale_ladder(side, nint: str = "nint") -> Cell:
    """Our scale ladder (utils/reproduce/scale.py): NINT's ratio to Standard (seconds, or iterations
    on the iterations view) falls as the image side grows, for each network, and from the small
    network to the large at each side. A ratio that is a bound (Standard, or NINT, stopped by its
    cap before the threshold) decides a step only when the bound settles it; a step it does not
    settle is named and left out. One run per rung: a step whose two seconds ratios differ by less
    than the seconds spread, or whose two iteration ratios differ by at most one evaluation
    interval of Standard's iterations, is within noise."""
    iterations = side.measure == "iterations"
    key = "iters_ratio_standard" if iterations else "time_ratio_standard"
    savings, standard = {}, {}  # (network, side) -> (low, high): the ratio, or the interval a bound leaves
    for row in side.rows:
        if row["strategy"] == "standard" and row.get("iterations") is not None:
            standard[(row["network"], row["side"])] = row["iterations"]
        ratio = row[key]
        if row["strategy"] == nint and ratio is not None:
            bound = row.get(key + "_bound")
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
            rule = ""
            if s_low == s_high and b_low == b_high:
                verdict, _ = paired_verdict([s_low - b_low])  # one run each: the sign decides
                base = min(standard.get(small, math.inf), standard.get(big, math.inf))
                interval = (max(side.interval.get(small[0]) or 0, side.interval.get(big[0]) or 0)
                            if isinstance(side.interval, dict) else side.interval)  # the coarser of the two rungs
                if iterations and math.isfinite(base) and within_one_interval((s_low - b_low) * base, interval):
                    rule = f"within one evaluation interval ({interval} it)"
                elif not iterations and under_spread(s_low, b_low, side.spread):
                    rule = f"one run, under the {100 * side.spread.relative:.0f}% seconds spread"
                if rule:
                    verdict = NOISE
            elif b_high < s_low:
                verdict = HOLDS
            elif b_low > s_high:
                verdict = FAILS
            else:
                unsettled.append(text)
                continue
            cells.append(Cell(verdict, 1, text + (f" [{rule}]" if rule else ""), label=text, rule=rule,
                              size=f"{abs(s_low - b_low):.2f}x" if s_low == s_high and b_low == b_high else "",
                              why=f"{text} ({'it' if iterations else 's'}): {_ladder_show(savings[small])} -> "
                                  f"{_ladder_show(savings[big])}"))
    if not cells:
        raise NotMeasurable(f"{side.who}: no step between sizes is settled ({'; '.join(unsettled)})")

    shown = ", ".join(f"{n}@{s}: {_ladder_show(savings[(n, s)])}" for n, s in savings)
    shrinking = [c.text for c in cells if c.verdict == FAILS]
    noise = [c.text for c in cells if c.verdict == NOISE]
    what = "iterations" if iterations else "training seconds"
    return all_of(cells, f"NINT's {what} to {side.threshold} as a ratio to Standard's: {shown}"
                  + (" (<: at most, Standard stopped by its cap first; >: at least)" if any(
                      low != high for low, high in savings.values()) else "")
                  + (f"; the saving shrinks at {'; '.join(shrinking)}" if shrinking else "")
                  + (f"; the change is within noise at {'; '.join(noise)}" if noise else "")
                  + (f"; not settled by a bound: {'; '.join(unsettled)}" if unsettled else ""))


def _ladder_show(bounds: tuple) -> str:
    low, high = bounds
    return f"{low:.2f}x" if low == high else (f"<{high:.2f}x" if low == 0.0 else f">{low:.2f}x")


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
    short: str = ""       # the claim in at most about 12 words (the one-screen scorecard)
    reading: str = ""     # how its words are read, in one sentence (claims_<preset>.md)
    release: bool = False  # also judged for NINT with the release's score
    clock: bool = False    # a claim about time: also judged on the release's clock (speedup --release-clock)
    own: bool = False      # our own question, not the paper's: not counted in the paper's tallies
    extra: str = ""        # a second sweep the check reads (side.extra: claim 18's Table 2)
    paper_reason: str = None  # why the paper's side is not measurable
    our_reason: str = None    # why ours is not measurable


NTK_COST_GPU = "results/ntk_cost_cuda.txt"  # a GPU measurement of the NTK scoring, when one exists
EVERY = ('"every", "all" and "consistent(ly)" mean every cell; "most" means more than half of the cells; '
         'a verdict over several cells shows how many hold ("fails: 17 of 18") and names a near miss by its size')

CLAIMS = [
    Claim("headline", "speedup", "abstract; Sec. 1",
          lambda p: (f"NINT cuts training time by nearly half against Standard (full batch) while keeping or "
                     f"improving quality, and is the state of the art among samplers (time to 30 dB "
                     f"{_paper_percent(p, 'nint', 'standard', 'time_to_psnr_30')}, final PSNR "
                     f"{_paper_db(p, 'nint', 'standard', 'final_psnr')})"), headline,
          short="Nearly half Standard's time, quality kept, state of the art",
          reading=(f"three parts judged apart: the time (seconds to 30 dB at most {NEARLY_HALF:g}x Standard's), "
                   "the quality (final PSNR not below Standard's) and the state of the art (fewer seconds to "
                   "30 dB than the best other sampler)"), release=True, clock=True),
    Claim("readme", "table2", "the release's README (on Table 2)",
          lambda p: (f"against Standard, up to {README_CLAIMED[0]:.2f}% fewer iterations and "
                     f"{README_CLAIMED[1]:.2f}% less time"), readme,
          short=f"Up to {README_CLAIMED[0]:.2f}% fewer iterations, {README_CLAIMED[1]:.2f}% less time than Standard",
          reading=("the direction: at the threshold (25, 30, 35 dB) where NINT's saving is largest it needs fewer "
                   "iterations, and less time, than Standard; the percentages are shown beside the claimed ones"),
          release=True, clock=True),
    Claim("table1", "table1", "Sec. 4.2, Table 1",
          lambda p: "NINT leads every metric (PSNR, SSIM, LPIPS) at every budget (250, 1000, 5000 iterations)",
          table1, short="NINT leads PSNR, SSIM and LPIPS at every budget",
          reading="every cell: NINT better than the best other sampler in each metric at each budget",
          release=True),
    Claim("table2", "table2", "Sec. 4.2, Table 2",
          lambda p: (f"NINT reaches 25, 30 and 35 dB in fewer iterations and less time than every other sampler "
                     f"(at 30 dB {_paper_percent(p, 'nint', 'standard', 'iters_to_psnr_30')} iterations and "
                     f"{_paper_percent(p, 'nint', 'standard', 'time_to_psnr_30')} time against Standard)"),
          table2, short="NINT reaches 25, 30, 35 dB first, in iterations and time",
          reading="every cell: NINT needs fewer iterations, and fewer seconds, than the best other sampler at each "
                  "threshold", release=True, clock=True),
    Claim("fig4", "table1", "Sec. 4.2, Fig. 4",
          lambda p: ("over its training time NINT has the highest SSIM and the lowest LPIPS at all times (the paper: "
                     "60 s)"), fig4, short="Highest SSIM and lowest LPIPS at all training times",
          reading="every cell: at five even training times, NINT's SSIM above and LPIPS below the best other's",
          release=True, paper_reason="a figure; the paper prints no numbers for it"),
    Claim("table3", "table3", "Sec. 4.3, Table 3",
          lambda p: (f"NINT's time saving to 25 dB grows with network size "
                     f"({_paper_saving(p, '5x256_nint', '5x256_standard', 'time_to_psnr_25')} at 5x256)"), table3,
          short="Time saving to 25 dB grows with network size",
          reading="every step up in parameters: NINT's time saving against Standard at least as large as before"),
    Claim("table3_psnr", "table3", "Sec. 4.3, Table 3",
          lambda p: (f"NINT's PSNR is higher than Standard's at every iteration checkpoint and size; for 1x64, "
                     f"which never reaches 25 dB, up to {_largest_1x64(p)} better PSNR"),
          table3_psnr, short="PSNR above Standard's at every checkpoint and network size",
          reading="every cell: NINT's PSNR above Standard's at each size and iteration checkpoint"),
    Claim("fig5", "table3", "Sec. 4.3, Fig. 5",
          lambda p: "under a fixed training time NINT's PSNR is above Standard's at every size, the gap widening "
                    "with size", fig5, short="PSNR above Standard's at a fixed time, gap widening with size",
          reading="every size: NINT above Standard at the fixed time, and the gap at least as large at each step up",
          paper_reason="the text gives NINT's two ends only (25.58 dB at 3x64, 34.91 dB at 5x256), no Standard"),
    Claim("table4", "table4", "Sec. 4.3, Table 4",
          lambda p: (f"NINT is better for every architecture: time to 25 dB cut by up to "
                     f"{_largest_paper_saving(p, 'time_to_psnr_25')}, PSNR at fixed times up by up to "
                     f"{TABLE4_CLAIMED_PSNR:.2f}% (its table's largest gain: "
                     f"{_largest_paper_saving(p, 'psnr_', gain=True)})"), table4,
          short="NINT better than Standard for every architecture",
          reading="every cell: for each architecture, NINT + it beats it alone in each time and fixed-time column"),
    Claim("table5", "table5", "Sec. 4.4, Table 5",
          lambda p: "the default alpha / xi / lambda are at or near the best and no setting is far off", table5,
          short="Default alpha, xi, lambda near the best; no setting far off",
          reading=(f"iterations and seconds apart: the default within {100 * NEAR:.0f}% of the best setting in "
                   f"every column, and no setting more than {100 * FAR:.0f}% above the best")),
    Claim("table6", "table6", "supplement Sec. 6, Table 6",
          lambda p: "audio: NINT leads SI-SNR after 3 s by a large margin", table6,
          short="Audio: NINT leads SI-SNR after 3 s by a large margin",
          reading=f"every NINT row at least {LARGE_MARGIN_DB:g} dB above the best other sampler at 3 s"),
    Claim("table6_step", "table6", "supplement Sec. 6, Table 6",
          lambda p: "audio: NINT benefits consistently from the step scheduler (NINT + step above NINT in every cell)",
          table6_step, short="Audio: NINT gains consistently from the step scheduler",
          reading="\"consistently\": every cell, NINT + step above NINT"),
    Claim("table7", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: NINT has the highest IoU at every budget", table7,
          short="SDF: highest IoU at every budget",
          reading="every cell: NINT (either scheduler) above the best other sampler's IoU"),
    Claim("table7_chamfer", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: NINT has the best Chamfer distance in most cases", table7_chamfer,
          short="SDF: best Chamfer distance in most cases",
          reading="\"most\": more than half of the Chamfer cells, NINT (either scheduler) below the best other"),
    Claim("table7_step", "table7", "supplement Sec. 7, Table 7",
          lambda p: "SDF: with the step scheduler NINT shows consistent improvement over its vanilla counterpart",
          table7_step, short="SDF: step scheduler consistently improves on vanilla NINT",
          reading="\"consistent\": every cell, NINT + step better than NINT"),
    Claim("table8", "table8", "supplement, Table 8",
          lambda p: f"the default is best or second best in {TABLE8_CLAIMED} of the 12 metrics", table8,
          short=f"Default best or second best in {TABLE8_CLAIMED} of 12 metrics",
          reading=f"at least {TABLE8_CLAIMED} of the 12 cells (on a measure's 6 cells, at least 5) decided "
                  "against the second best"),
    Claim("primary_driver", "table8", "supplement, Table 8's text",
          lambda p: "NTK-guided selection is the primary driver of the acceleration, the auxiliary choices "
                    "(batch size, interval, scheduler) playing secondary roles", primary_driver,
          short="NTK selection the primary driver; batch, interval, scheduler secondary",
          reading="across Table 8's rows the largest change from the default's iterations to 30 dB is smaller than "
                  "NINT's saving against Uniform (Uniform from Table 2; Table 8 has none)", extra="table2"),
    Claim("table9", "table9", "supplement, Table 9",
          lambda p: "super-resolution: NINT reaches 20 dB first and leads PSNR / SSIM / LPIPS", table9,
          short="Super-resolution: NINT reaches 20 dB first and leads quality",
          reading="every cell: NINT better than the best other sampler"),
    Claim("table10", "table10", "supplement, Table 10",
          lambda p: (f"at 1024x1024 NINT reaches 30 dB first, "
                     f"{_paper_saving(p, 'nint', 'standard', 'time_to_psnr_30')} sooner than Standard"), table10,
          short="At 1024x1024 NINT reaches 30 dB first",
          reading="NINT's seconds to 30 dB below the best other sampler's"),
    Claim("fig8", "", "supplement, Fig. 8",
          lambda p: "on several DIV2K images after 60 s each, NINT gives the best reconstruction on every image",
          None, short="Best reconstruction on every DIV2K image after 60 s",
          reading="a visual comparison; no number decides it",
          paper_reason="a figure of pictures; the paper prints no numbers for it",
          our_reason="a visual comparison (results/table2_<preset>_reconstructions.png); no number decides it"),
    Claim("ntk_cost", "", "supplement Sec. 11",
          lambda p: "one NTK scoring takes 3.2 ms (3.6% of the selection) on an RTX 4090, 512x512, SIREN 5x256",
          None, short="One NTK scoring takes 3.2 ms on an RTX 4090",
          reading="a GPU timing; measured, not judged", paper_reason="one timing on the authors' GPU; nothing in "
          "the paper to check it against", our_reason="no GPU"),
    # Our own questions: not the paper's claims, not in its tallies.
    Claim("scale", "scale", "our scale ladder",
          lambda p: "NINT's saving grows with size: image side (64, 128, 256) and network (3x128, 5x256)",
          scale_ladder, short="NINT's saving grows with image side and network",
          reading="every step up in side or network: NINT's ratio to Standard at most as large as before",
          release=True, own=True,
          paper_reason="the paper varies the network only (Table 3); the image side is our ladder's"),
    Claim("ablation_ntk", "ablation_ntk", "our ablation",
          lambda p: "the NTK stream carries most of NINT's gain over Uniform (NINT against NINT with its NTK "
                    "places filled by the next-highest errors)", ablation,
          short="The NTK stream beats error-filled places (nint vs nint_no_ntk)",
          reading=(f"more than {100 * PRIMARY_SHARE:.0f}% of NINT's gain over Uniform (iterations to 30 dB, PSNR at "
                   "the 1000-iteration column) is lost without the NTK stream"), release=True, own=True,
          paper_reason="the paper has no ablation that removes the NTK stream"),
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


# The measures a claim is judged on (Claim's columns of the scorecard): its columns' own, unless
# the claim reads only some of its sweep's columns.
MEASURES = {"table1": ("iterations",), "fig4": ("seconds",), "table3": ("seconds",), "table3_psnr": ("iterations",),
            "fig5": ("seconds",), "table4": ("seconds",), "table6": ("seconds",), "table6_step": ("seconds",),
            "table7": ("iterations",), "table7_chamfer": ("iterations",), "table7_step": ("iterations",),
            "primary_driver": ("iterations",), "table9": ("iterations", "seconds"), "table10": ("seconds",),
            "ablation_ntk": ("iterations",), "fig8": (), "ntk_cost": ()}
BOTH = ("iterations", "seconds")
NA = "n/a"  # a measure the claim does not speak to (the scorecard's "—")


class _LadderSide:
    """The scale ladder's rows as a side of the `scale` claim (one run per cell)."""

    def __init__(self, rows: list, threshold: str, results_dir: str, interval=None, spread=None):
        """interval: {network: the evaluation interval its rungs are read at}."""
        self.rows, self.threshold, self.who, self.exact = rows, threshold, "ours", False
        self.interval, self.spread, self.measure, self.source = interval, spread, None, None
        source = next((r["source"] for r in rows if r.get("source")), None)
        if source:  # the committed CSV, named in the row as the other claims name theirs
            self.source = os.path.relpath(source, os.path.dirname(results_dir) or ".")

    def view(self, measure: str):
        import copy
        out = copy.copy(self)
        out.measure = measure
        return out


CLOCK_REPORT = "speedup_{preset}_release_clock_report.md"
CLOCK_COLUMN = "s to PSNR 30, release clock"


def clock_side(preset: str, results_dir: str, spread) -> Side:
    """Our seconds to 30 dB on the release's clock (`reproduce.py speedup --release-clock`: PSNR and
    SSIM at every step, as the NINT release's loop paid for them) as a side with one column: from
    the run folders, else from the committed report's table."""
    from utils.reproduce.speedup import RELEASE_CLOCK, speedup_report
    sweep = load_sweep("speedup", preset, results_dir=results_dir, repeats=1, extra_overrides=RELEASE_CLOCK,
                       variant="release_clock")
    seconds = {r["name"]: r["wall_seconds"] for r in speedup_report(sweep)["rows"] if r["wall_seconds"] is not None}
    source = None
    if not seconds:
        path = os.path.join(results_dir, CLOCK_REPORT.format(preset=preset))
        table = _first_table(path)
        if len(table) < 3:
            raise NotMeasurable(f"the release's clock not run at the {preset} preset (reproduce.py speedup "
                                f"--release-clock)")
        header = _split_row(table[0])
        if CLOCK_COLUMN not in header:
            raise NotMeasurable(f"{os.path.basename(path)} has no column {CLOCK_COLUMN!r}")
        by_label = {" ".join(r.label.split()): r.name for r in sweep.runs}
        for line in table[2:]:
            cells = dict(zip(header, _split_row(line)))
            name = by_label.get(cells.get("strategy", ""))
            try:
                seconds[name] = float(cells[CLOCK_COLUMN].replace(",", ""))
            except (KeyError, ValueError):
                continue
        source = os.path.relpath(path, os.path.dirname(os.path.abspath(results_dir)) or ".")
    import dataclasses
    cid = "time_to_psnr_30"
    sweep = dataclasses.replace(sweep, columns=[dict(c, header="s to PSNR 30 (release clock)")
                                                for c in sweep.columns if c["id"] == cid])
    side = Side(sweep, {n: {cid: {(None, 1): v}} for n, v in seconds.items() if n},
                {r.name: f"{r.label} not on the release's clock" for r in sweep.runs if r.name not in seconds},
                "ours (release clock)")
    side.spread, side.source = spread, source
    # The benchmark gives each sampler's fastest repeat: say how many repeats each number is the best of
    side.fastest_of = _repeats_per_run(os.path.join(results_dir, f"speedup_{preset}_release_clock_per_repeat.csv"))
    return side.view("seconds")


def _repeats_per_run(path: str) -> int:
    """The fewest completed repeats of any run of a <stem>_per_repeat.csv (1 without the file)."""
    if not os.path.isfile(path):
        return 1
    counts = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") == "completed":
                counts[row["run"]] = counts.get(row["run"], 0) + 1
    return min(counts.values(), default=1)


def _first_table(path: str) -> list:
    """The lines of the first Markdown table of a file ([] without the file)."""
    if not os.path.isfile(path):
        return []
    table = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("|"):
                table.append(line)
            elif table:
                break
    return table


def _split_row(line: str) -> list:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def verdict_text(cell: Cell, one_run: bool) -> str:
    """"fails: 17 of 18; near miss: PSNR @ 500 it 3x64, 0.27 dB short (one run)"."""
    text = cell.verdict
    if cell.count:
        text += f": {cell.count[0]} of {cell.count[1]}"
    if cell.near:
        text += f"; near miss: {cell.near}"
    return text + (" (one run)" if one_run else "")


def _judge(claim: Claim, make_side, nint: str, measure: str = None) -> dict:
    """{verdict, numbers, why, n, rule} of one side of a claim (on one measure's columns, or all)."""
    out = {"verdict": "", "numbers": "", "why": "", "n": None, "rule": ""}
    if measure and measure not in MEASURES.get(claim.key, BOTH):
        return dict(out, verdict=NA)
    try:
        side = make_side()
        if nint == RELEASE and isinstance(side, Side) and not side.has(RELEASE):
            return dict(out, verdict="release score not run")
        if measure:
            side = side.view(measure)
        cell = claim.check(side, nint)
    except NotMeasurable as e:
        return dict(out, verdict=f"not measurable: {e}")
    fastest_of = getattr(side, "fastest_of", 1)  # the release's clock: each number the fastest of its repeats
    one_run = not getattr(side, "exact", True) and cell.n == 1 and fastest_of < 2
    source = getattr(side, "source", None)
    verdict = verdict_text(cell, one_run) + (f" (fastest of {fastest_of})" if cell.n == 1 and fastest_of > 1 else "")
    return {"verdict": verdict, "why": cell.why, "n": cell.n if fastest_of < 2 else fastest_of, "rule": cell.rule,
            "numbers": (f"(from {source}; its run folders are not on this machine) " if source else "") + cell.text}


def _verdict(claim: Claim, make_side, nint: str) -> tuple:
    """(verdict, numbers) of one side on all its columns."""
    j = _judge(claim, make_side, nint)
    return j["verdict"], j["numbers"]


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


def _cached(make):
    """make() once; its NotMeasurable (or UserError) raised again on every later call."""
    memo = {}

    def get():
        if "value" not in memo:
            try:
                memo["value"] = make()
            except (NotMeasurable, UserError) as e:
                memo["value"] = NotMeasurable(str(e))
        if isinstance(memo["value"], Exception):
            raise memo["value"]
        return memo["value"]
    return get


def _n_text(*ns) -> str:
    """"3 repeats", "1 run", or both ("3 repeats; 1 run") for the runs behind a row's verdicts."""
    shown = list(dict.fromkeys("1 run" if n == 1 else f"{n} repeats" for n in ns if n))
    return "; ".join(shown)


def check_claims(preset: str, results_dir: str = "results", repeats: int = None,
                 sweep_names: dict = None) -> list:
    """One dict per claim (CLAIMS' order; `own`: our own question): key, sweep, source (its place),
    claim, short, reading, own; `<side>_verdict` and `<side>_numbers` for side paper (the paper's
    numbers), our (ours, every column), iter (ours, iterations and quality at fixed iterations), sec
    (ours, this machine's seconds), clock (ours, the release's clock; claims about time) and release
    (ours, NINT with the release's score); iter_why / sec_why (the deciding numbers, short), n (the
    runs behind ours), size_verdict (at the paper's size). repeats: None = as many as the run folders
    hold. sweep_names: claim sweep -> the sweep file to read instead (e.g. table2 -> table2_range)."""
    from utils.reproduce.paper_size_verdicts import paper_size_verdicts
    spread = seconds_spread(os.path.abspath(results_dir), preset)
    clock = _cached(lambda: clock_side(preset, results_dir, spread))
    at_size = paper_size_verdicts(preset, results_dir)
    out = []
    for claim in CLAIMS:
        sweep_name = (sweep_names or {}).get(claim.sweep, claim.sweep)
        row = {"key": claim.key, "sweep": sweep_name, "source": claim.place, "short": claim.short,
               "reading": claim.reading, "own": claim.own, "release_verdict": "release score not run",
               "release_numbers": "", "clock_verdict": NA, "clock_numbers": "", "n": "",
               "size_verdict": at_size.get(claim.key, (NA, ""))[0], "size_numbers": at_size.get(claim.key, (NA, ""))[1]}
        for m in ("iter", "sec"):
            row.update({f"{m}_verdict": NA, f"{m}_numbers": "", f"{m}_why": ""})
        if not claim.sweep or claim.check is None:
            row.update(claim=claim.wording({}), paper_numbers="", our_numbers="",
                       paper_verdict=f"not measurable: {claim.paper_reason}",
                       our_verdict=f"not measurable: {claim.our_reason}")
            if claim.key == "ntk_cost":
                row["our_verdict"], row["our_numbers"] = _ntk_cost_ours(results_dir)
            row["sec_verdict"] = row["our_verdict"] if claim.key == "ntk_cost" else NA
            row["iter_verdict"] = row["our_verdict"] if claim.key != "ntk_cost" else NA
            out.append(row)
            continue
        if claim.sweep == "scale":
            out.append(_scale_row(claim, row, preset, results_dir, spread))
            continue
        try:
            paper_sweep = load_sweep(sweep_name, "paper", results_dir=results_dir)
            ours = _load_ours(sweep_name, preset, results_dir, repeats)
            extra = (load_sweep(claim.extra, "paper", results_dir=results_dir),
                     _load_ours(claim.extra, preset, results_dir, repeats)) if claim.extra else None
        except UserError as e:
            row.update(claim=claim.wording({}), paper_numbers="", our_numbers="",
                       paper_verdict=f"not measurable: {e}", our_verdict=f"not measurable: {e}")
            out.append(row)
            continue
        row["claim"] = claim.wording(paper_sweep.paper)

        def paper_side():
            side = _paper_side(paper_sweep)
            side.extra = _paper_side(extra[0]) if extra else None
            return side

        def make_ours():
            side = fig4_side(ours) if claim.key == "fig4" else _our_side(ours)
            side.spread = spread
            side.extra = _our_side(extra[1]) if extra else None
            return side
        our_side = _cached(make_ours)
        if claim.paper_reason:
            row["paper_verdict"], row["paper_numbers"] = f"not measurable: {claim.paper_reason}", ""
        else:
            row["paper_verdict"], row["paper_numbers"] = _verdict(claim, paper_side, "nint")
        row["our_verdict"], row["our_numbers"] = _verdict(claim, our_side, "nint")
        ns = []
        for m, measure in (("iter", "iterations"), ("sec", "seconds")):
            j = _judge(claim, our_side, "nint", measure)
            row.update({f"{m}_verdict": j["verdict"], f"{m}_numbers": j["numbers"], f"{m}_why": j["why"]})
            ns.append(j["n"])
        if claim.clock:
            j = _judge(claim, clock, "nint", "seconds")
            row["clock_verdict"], row["clock_numbers"] = j["verdict"], j["numbers"]
            ns.append(j["n"])
        row["n"] = _n_text(*ns)
        if claim.release:
            if not any(r.name == RELEASE for r in ours.runs):
                row["release_verdict"] = "release score not run"
            else:
                row["release_verdict"], row["release_numbers"] = _verdict(claim, our_side, RELEASE)
        out.append(row)
    return out


def _load_ours(sweep_name: str, preset: str, results_dir: str, repeats: int = None):
    n = repeats or repeats_made(os.path.splitext(os.path.basename(sweep_name))[0], preset, results_dir)
    return load_sweep(sweep_name, preset, results_dir=results_dir, repeats=n)


def _scale_row(claim: Claim, row: dict, preset: str, results_dir: str, spread=None) -> dict:
    row.update(claim=claim.wording({}), paper_numbers="", paper_verdict=f"not measurable: {claim.paper_reason}")
    try:
        rows, threshold = ladder(preset, results_dir)
        sweep = load_sweep(claim.sweep, preset, results_dir=results_dir)
        # Each network's rungs are read at their own interval (the 5x256 rungs reach 30 dB in tens of
        # iterations and are evaluated more often)
        interval = intervals_by_network(sweep)
    except UserError as e:
        row.update(our_numbers="", our_verdict=f"not measurable: {e}",
                   release_verdict=f"not measurable: {e}")
        return row
    if not rows:
        why = f"not measurable: the scale ladder not run at the {preset} preset"
        row.update(our_numbers="", our_verdict=why, release_verdict=why, iter_verdict=why, sec_verdict=why)
        return row
    side = _LadderSide(rows, threshold, results_dir, interval, spread)
    row["our_verdict"], row["our_numbers"] = _verdict(claim, lambda: side.view("seconds"), "nint")
    ns = []
    for m, measure in (("iter", "iterations"), ("sec", "seconds")):
        j = _judge(claim, lambda: side, "nint", measure)
        row.update({f"{m}_verdict": j["verdict"], f"{m}_numbers": j["numbers"], f"{m}_why": j["why"]})
        ns.append(j["n"])
    row["n"] = _n_text(*ns)
    if any(r["strategy"] == RELEASE for r in rows):
        row["release_verdict"], row["release_numbers"] = _verdict(claim, lambda: side.view("seconds"), RELEASE)
    return row


# ------------------------------------------------------------------------------------- the report

def verdict_of(text: str) -> str:
    """holds / fails / within noise / not measurable / release score not run, from a verdict cell."""
    for v in (HOLDS, FAILS, NOISE, "release score not run"):
        if text.startswith(v):
            return v
    return "not measurable"


def tally(rows: list, key: str) -> str:
    verdicts = [verdict_of(r[key]) for r in rows]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in (HOLDS, FAILS, NOISE, "not measurable"))
