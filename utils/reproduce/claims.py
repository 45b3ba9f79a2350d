"""The paper's claims, checked: results/claims.md (paper preset) or claims_<preset>.md.

One row per claim of the paper: what it says and where, the numbers behind it, and two
verdicts, one on the paper's own numbers (the `paper:` section of the claim's sweep file)
and one on ours (that sweep's finished runs at the preset, gathered by collect.py). A
verdict is `holds`, `fails`, or `not measurable: <why>` (the table was not run, a run it
needs did not finish, no run reached a threshold, the paper has no such experiment).

Nothing in this file is a number of the paper: the paper's side is computed from the sweep
files, ours from the run folders. What the file does fix are the readings of words in the
claims (`NEAR`, `FAR`, `LARGE_MARGIN_DB`, `PRIMARY_SHARE`) and the count a claim itself
states (Table 8's "9 of 12"); the report prints them.

How the rows of a table are read: "NINT" is the sweep's run `nint` (xi 0.7) where the table
has one NINT default, and every run whose name starts with `nint` where NINT appears with
each batch-size scheduler (Tables 6 and 7: `nint` and `nint_step`, the better of the two
per column). Its rivals are every run not named `nint...` (NINT at xi 0.5 is NINT, not a
rival). A time or iteration count that was never reached is worse than any reached one; a
metric cell without a value makes the claim not measurable.
"""
import math
import os

from utils.errors import UserError
from utils.reproduce.collect import collect
from utils.reproduce.columns import column_kind
from utils.reproduce.sweep import load_sweep
from utils.tasks import task_class

NEAR = 0.10             # "at or near the best": within 10% of the best row's value
FAR = 0.25              # "far off": more than 25% above the best row's value (times, iterations)
LARGE_MARGIN_DB = 1.0   # "by a large margin": every NINT row at least 1 dB above every other row
PRIMARY_SHARE = 0.5     # "the primary driver": more than half of NINT's gain over Uniform
TABLE8_CLAIMED = 9      # Table 8's text: the default is best or second best in 9 of its 12 metrics


class NotMeasurable(Exception):
    """The claim cannot be checked on this side; the message says why."""


class Side:
    """One side of a claim's check: the paper's numbers, or ours, for one sweep.

    values: run name -> {column id: value} (a missing column id: no number; None: not
    reached, or no value); absent: run name -> why it has no numbers at all.
    """

    def __init__(self, sweep, values: dict, absent: dict, who: str):
        self.sweep, self.values, self.absent, self.who = sweep, values, absent, who
        self.specs = {c["id"]: c for c in sweep.columns}
        self.labels = {r.name: r.label for r in sweep.runs}
        self.names = list(dict.fromkeys(r.name for r in sweep.runs))
        self._metrics = task_class(sweep.task).metrics  # name -> higher is better

    def runs(self, nint: bool = None) -> list:
        """Run names in the sweep's order; nint True / False: only NINT rows / only the others."""
        return [n for n in self.names if nint is None or n.startswith("nint") == nint]

    def lower_is_better(self, cid: str) -> bool:
        spec = self.specs[cid]
        kind = column_kind(spec)
        if kind in ("time_to", "iters_to"):
            return True
        return not self._metrics.get(spec[kind], True)

    def reached_kind(self, cid: str) -> bool:
        return column_kind(self.specs[cid]) in ("time_to", "iters_to")

    def value(self, run: str, cid: str) -> float:
        """A comparable number: the cell, or +inf for a threshold not reached; NotMeasurable
        when the run or the cell has no number."""
        if run in self.absent:
            raise NotMeasurable(self.absent[run])
        if run not in self.values:
            raise NotMeasurable(f"{self.who}: no {self.label(run)} run")
        row = self.values[run]
        if cid not in row:
            raise NotMeasurable(f"{self.who}: no value for {self.label(run)}, {self.header(cid)}")
        v = row[cid]
        if isinstance(v, str) or v is None:  # the paper's "N/A", or a threshold nobody reached
            if self.reached_kind(cid):
                return math.inf
            raise NotMeasurable(f"{self.who}: no value for {self.label(run)}, {self.header(cid)}")
        return float(v)

    def label(self, run: str) -> str:
        return self.labels.get(run, run)

    def header(self, cid: str) -> str:
        return self.specs[cid]["header"]

    def show(self, cid: str, value: float) -> str:
        if math.isinf(value):
            return "not reached"
        return format(value, self.specs[cid]["fmt"])

    def best(self, runs: list, cid: str) -> tuple:
        """(value, run) of the best of `runs` in column `cid`."""
        scored = [(self.value(r, cid), r) for r in runs]
        pick = min if self.lower_is_better(cid) else max
        return pick(scored, key=lambda p: p[0])

    def beats(self, a: float, b: float, cid: str) -> bool:
        """a strictly better than b in column cid."""
        return a < b if self.lower_is_better(cid) else a > b


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


# ------------------------------------------------------------------------------------- the checks
# Each takes a Side and returns (holds: bool, the numbers behind it: str); NotMeasurable when it cannot.

def _nint_leads_every_cell(side: Side, nint_rows: list, columns: list) -> tuple:
    behind = []
    for cid in columns:
        mine, who = side.best(nint_rows, cid)
        theirs, rival = side.best(side.runs(nint=False), cid)
        if not side.beats(mine, theirs, cid):
            behind.append(f"{side.header(cid)}: {side.label(rival)} {side.show(cid, theirs)}, "
                          f"{side.label(who)} {side.show(cid, mine)}")
    lead = len(columns) - len(behind)
    text = f"NINT leads {lead} of {len(columns)} cells"
    return not behind, text + (f"; not in {'; '.join(behind)}" if behind else "")


def table1(side: Side):
    return _nint_leads_every_cell(side, ["nint"], [c for c in side.specs])


def table2(side: Side):
    parts, ok = [], True
    for cid in ("iters_to_psnr_30", "time_to_psnr_30"):
        mine = side.value("nint", cid)
        theirs, rival = side.best(side.runs(nint=False), cid)
        standard = side.value("standard", cid)
        if math.isinf(mine) and math.isinf(theirs):
            raise NotMeasurable(f"{side.who}: no run reached {side.header(cid)}")
        ok = ok and mine <= theirs
        parts.append(f"{side.header(cid)}: NINT {side.show(cid, mine)}, Standard {side.show(cid, standard)} "
                     f"({_pct(mine, standard)}), best other {side.label(rival)} {side.show(cid, theirs)}")
    return ok, "; ".join(parts)


def _pairs(side: Side) -> list:
    """(prefix, standard run, NINT run) of the sweep's `<x>_standard` / `<x>_nint` rows, in order."""
    return [(n[:-len("_standard")], n, n[:-len("_standard")] + "_nint") for n in side.names
            if n.endswith("_standard") and n[:-len("_standard")] + "_nint" in side.names]


def table3(side: Side):
    cid = "time_to_psnr_25"
    savings, shown = [], []
    for size, std, nint in _pairs(side):
        saving = _saving(side.value(nint, cid), side.value(std, cid))
        shown.append(f"{size} {'n/a' if saving is None else f'{100 * saving:.2f}%'}")
        if saving is not None:
            savings.append(saving)
    if len(savings) < 2:
        raise NotMeasurable(f"{side.who}: fewer than two sizes reached {side.header(cid)} with both strategies")
    grows = all(b >= a for a, b in zip(savings, savings[1:]))
    return grows, f"NINT's time saving to {side.header(cid)[5:]} by size (parameters growing): " + ", ".join(shown)


def table4(side: Side):
    cid = "time_to_psnr_25"
    slower, best, measured, shown = [], None, 0, []
    for arch, std, nint in _pairs(side):
        t_std, t_nint = side.value(std, cid), side.value(nint, cid)
        if math.isinf(t_std) and math.isinf(t_nint):
            shown.append(f"{arch} neither reached")
            continue
        measured += 1
        saving = _saving(t_nint, t_std)
        shown.append(f"{arch} {side.show(cid, t_nint)} vs {side.show(cid, t_std)}"
                     + (f" ({100 * saving:.2f}% saved)" if saving is not None else ""))
        if not t_nint < t_std:
            slower.append(arch)
        if saving is not None and (best is None or saving > best[0]):
            best = (saving, arch)
    if not measured:
        raise NotMeasurable(f"{side.who}: no architecture reached {side.header(cid)}")
    text = f"{side.header(cid)}, NINT vs Standard: " + "; ".join(shown)
    if best:
        text += f". Largest saving {100 * best[0]:.2f}% ({best[1]})"
    if slower:
        text += f". Not sooner: {', '.join(slower)}"
    return not slower, text


def table5(side: Side):
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
    return near and not far, text


def table6(side: Side):
    cid = "si_snr_3s"
    nint_rows = side.runs(nint=True)
    worst = min((side.value(r, cid), r) for r in nint_rows)
    rival, who = side.best(side.runs(nint=False), cid)
    margin = worst[0] - rival
    text = (f"{side.header(cid)}: lowest NINT row {side.label(worst[1])} {side.show(cid, worst[0])} dB, best other "
            f"{side.label(who)} {side.show(cid, rival)} dB: margin {margin:+.2f} dB")
    return margin >= LARGE_MARGIN_DB, text


def table7(side: Side):
    return _nint_leads_every_cell(side, side.runs(nint=True), [c for c in side.specs if c.startswith("iou_")])


def table8(side: Side):
    top2, not_top = 0, []
    for cid in side.specs:
        mine = side.value("nint", cid)
        rank = 1 + sum(side.beats(side.value(r, cid), mine, cid) for r in side.runs() if r != "nint")
        if rank <= 2:
            top2 += 1
        else:
            not_top.append(f"{side.header(cid)} ({_ordinal(rank)})")
    text = f"the default is best or second best in {top2} of {len(side.specs)}"
    return top2 >= TABLE8_CLAIMED, text + (f"; not in {', '.join(not_top)}" if not_top else "")


def table9(side: Side):
    return _nint_leads_every_cell(side, ["nint"], list(side.specs))


def table10(side: Side):
    cid = "time_to_psnr_30"
    mine = side.value("nint", cid)
    theirs, rival = side.best(side.runs(nint=False), cid)
    if math.isinf(mine) and math.isinf(theirs):
        raise NotMeasurable(f"{side.who}: no run reached {side.header(cid)}")
    standard = side.value("standard", cid)
    saving = _saving(mine, standard)
    text = (f"{side.header(cid)}: NINT {side.show(cid, mine)}, best other {side.label(rival)} "
            f"{side.show(cid, theirs)}, Standard {side.show(cid, standard)}"
            + (f" (NINT {100 * saving:.2f}% sooner)" if saving is not None else ""))
    return mine < theirs, text


def ablation(side: Side):
    parts, ok = [], True
    for cid in ("iters_to_psnr_30", "psnr_1000"):
        nint, no_ntk, uniform = (side.value(r, cid) for r in ("nint", "nint_no_ntk", "uniform"))
        sign = -1.0 if side.lower_is_better(cid) else 1.0
        if any(math.isinf(v) for v in (nint, no_ntk, uniform)):
            raise NotMeasurable(f"{side.who}: {side.header(cid)} not reached by every run it needs")
        gain = sign * (nint - uniform)
        if gain <= 0:
            raise NotMeasurable(f"{side.who}: NINT gains nothing over Uniform in {side.header(cid)} "
                                f"({side.show(cid, nint)} vs {side.show(cid, uniform)}), so there is no gain to "
                                f"attribute")
        share = sign * (nint - no_ntk) / gain
        ok = ok and share > PRIMARY_SHARE
        parts.append(f"{side.header(cid)}: NINT {side.show(cid, nint)}, without the NTK stream "
                     f"{side.show(cid, no_ntk)}, Uniform {side.show(cid, uniform)}: the NTK stream's share of "
                     f"the gain {100 * share:.0f}%")
    return ok, "; ".join(parts)


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# ------------------------------------------------------------------------------------- the claims

def _paper_percent(sweep_paper: dict, run: str, base: str, cid: str) -> str:
    """The paper's own change of `run` against `base` in `cid`, for a claim's wording ('-26.58%')."""
    try:
        return _pct(float(sweep_paper[run][cid]), float(sweep_paper[base][cid]))
    except (KeyError, TypeError, ValueError):
        return "n/a"


def _paper_saving(sweep_paper: dict, run: str, base: str, cid: str) -> str:
    try:
        return f"{100 * (1 - float(sweep_paper[run][cid]) / float(sweep_paper[base][cid])):.2f}%"
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "n/a"


def _largest_paper_saving(sweep_paper: dict, cid: str) -> str:
    best = None
    for name, row in sweep_paper.items():
        if name.endswith("_standard") and f"{name[:-9]}_nint" in sweep_paper:
            try:
                s = 1 - float(sweep_paper[f"{name[:-9]}_nint"][cid]) / float(row[cid])
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                continue
            best = s if best is None or s > best else best
    return "n/a" if best is None else f"{100 * best:.2f}%"


# (sweep, the paper's source, how the claim reads given the sweep's paper numbers, check, paper-side reason
# when the paper has no experiment for it)
CLAIMS = [
    ("table1", "Table 1", lambda p: "NINT leads every metric (PSNR, SSIM, LPIPS) at every budget", table1, None),
    ("table2", "Table 2",
     lambda p: (f"NINT reaches 30 dB in the fewest iterations and the least time "
                f"({_paper_percent(p, 'nint', 'standard', 'iters_to_psnr_30')} iterations and "
                f"{_paper_percent(p, 'nint', 'standard', 'time_to_psnr_30')} time against Standard)"), table2, None),
    ("table3", "Table 3",
     lambda p: (f"NINT's time saving grows with network size "
                f"({_paper_saving(p, '5x256_nint', '5x256_standard', 'time_to_psnr_25')} at 5x256)"), table3, None),
    ("table4", "Table 4",
     lambda p: (f"NINT reaches 25 dB sooner for every architecture, by up to "
                f"{_largest_paper_saving(p, 'time_to_psnr_25')}"), table4, None),
    ("table5", "Table 5",
     lambda p: "the default alpha / xi / lambda are at or near the best and no setting is far off", table5, None),
    ("table6", "Table 6", lambda p: "NINT leads SI-SNR after 3 s by a large margin (audio)", table6, None),
    ("table7", "Table 7", lambda p: "NINT has the highest IoU at every budget (SDF)", table7, None),
    ("table8", "Table 8",
     lambda p: f"the default is best or second best in {TABLE8_CLAIMED} of the 12 metrics", table8, None),
    ("table9", "Table 9",
     lambda p: "NINT reaches 20 dB first and leads PSNR / SSIM / LPIPS in super-resolution", table9, None),
    ("table10", "Table 10",
     lambda p: (f"NINT reaches 30 dB first at 1024x1024, "
                f"{_paper_saving(p, 'nint', 'standard', 'time_to_psnr_30')} sooner than Standard"), table10, None),
    ("ablation_ntk", "Table 8's text",
     lambda p: "NTK-guided selection is the primary driver of the gain", ablation,
     "the paper has no ablation that removes the NTK stream (its Table 8 changes batch size, interval and "
     "scheduler only); ours: NINT against NINT without the NTK stream, config/paper/ablation_ntk.yaml"),
]


def _paper_side(sweep) -> Side:
    return Side(sweep, {run: dict(values) for run, values in sweep.paper.items()}, {}, "the paper")


def _our_side(sweep) -> Side:
    entries = collect(sweep)
    values, absent = {}, {}
    for e in entries:
        if e["n_completed"] == 0:
            why = e["errors"][0] if e["errors"] else "not run"
            absent[e["name"]] = f"{e['label']} not finished ({why})"
        else:
            values[e["name"]] = {cid: mean for cid, (mean, _, _, _) in e["values"].items()}
    side = Side(sweep, values, absent, "ours")
    if not values:
        raise NotMeasurable(f"{sweep.table} not run at the {sweep.preset} preset")
    return side


def _verdict(check, make_side) -> tuple:
    """(verdict, numbers) of one side."""
    try:
        side = make_side()
        holds, numbers = check(side)
    except NotMeasurable as e:
        return f"not measurable: {e}", ""
    return ("holds" if holds else "fails"), numbers


def check_claims(preset: str, results_dir: str = "results", repeats: int = 1) -> list:
    """One dict per claim: sweep, source, claim, paper_numbers, paper_verdict, our_numbers, our_verdict."""
    out = []
    for table, source, wording, check, paper_reason in CLAIMS:
        row = {"sweep": table, "source": source}
        try:
            paper_sweep = load_sweep(table, "paper", results_dir=results_dir)
            ours = load_sweep(table, preset, results_dir=results_dir, repeats=repeats)
        except UserError as e:
            row.update(claim=wording({}), paper_numbers="", our_numbers="",
                       paper_verdict=f"not measurable: {e}", our_verdict=f"not measurable: {e}")
            out.append(row)
            continue
        row["claim"] = wording(paper_sweep.paper)
        if paper_reason:
            row["paper_verdict"], row["paper_numbers"] = f"not measurable: {paper_reason}", ""
        else:
            row["paper_verdict"], row["paper_numbers"] = _verdict(check, lambda: _paper_side(paper_sweep))
        row["our_verdict"], row["our_numbers"] = _verdict(check, lambda: _our_side(ours))
        out.append(row)
    return out


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def build_claims_markdown(rows: list, preset: str, command: str = None) -> str:
    def tally(key):
        verdicts = [r[key].split(":")[0] for r in rows]
        return ", ".join(f"{verdicts.count(v)} {v}" for v in ("holds", "fails", "not measurable"))
    lines = [f"# The paper's claims, checked ({preset} preset)", "",
             "Each claim of the paper beside the numbers behind it, judged twice: on the paper's own numbers "
             "(each sweep's `paper:` section, config/paper/) and on ours (that sweep's finished runs at the "
             f"`{preset}` preset). Computed by utils/reproduce/claims.py from the sweep files and the run "
             "folders; nothing is typed in. Rerun it after any table: `python reproduce.py claims --preset "
             f"{preset}`.", "",
             "- NINT is the run `nint` (xi 0.7); in Tables 6 and 7 also NINT with the step scheduler (the "
             "better of the two per column). Its rivals: every run not named `nint...`. A threshold never "
             "reached counts as worse than any reached.",
             f"- Our readings of the claims' words: \"near the best\" = within {100 * NEAR:.0f}% of the best "
             f"setting, \"far off\" = more than {100 * FAR:.0f}% above it; \"a large margin\" = every NINT row "
             f"at least {LARGE_MARGIN_DB:g} dB above every other; \"the primary driver\" = more than "
             f"{100 * PRIMARY_SHARE:.0f}% of NINT's gain over Uniform (in iterations to 30 dB and in PSNR at "
             f"the 1000-iteration column) is lost without the NTK stream.",
             "- Our seconds are training seconds on this machine (evaluation excluded); the paper's are an "
             "RTX 4090's on a clock that counted its per-step evaluation. Budgets and sizes of a `cpu` preset "
             "are scaled (each table's header says how), so its numbers test the claims' direction, not "
             "their values.",
             f"- On the paper's numbers: {tally('paper_verdict')}. On ours: {tally('our_verdict')}."]
    if command:
        lines.append(f"- Command: `{command}`")
    lines += ["", "| # | claim | the paper's numbers | on the paper's numbers | our numbers | on ours |",
              "|---:|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        claim = f"{r['claim']} ({r['source']}; `{r['sweep']}`)"
        lines.append("| " + " | ".join(_escape(c) for c in (
            i, claim, r["paper_numbers"], f"**{r['paper_verdict']}**", r["our_numbers"], f"**{r['our_verdict']}**"))
            + " |")
    return "\n".join(lines) + "\n"


def write_claims(preset: str, results_dir: str = "results", repeats: int = 1, command: str = None) -> str:
    """results/claims.md (paper preset) or claims_<preset>.md; returns its path."""
    rows = check_claims(preset, results_dir, repeats)
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, "claims.md" if preset == "paper" else f"claims_{preset}.md")
    with open(path, "w") as f:
        f.write(build_claims_markdown(rows, preset, command))
    return path
