"""claims_<preset>.md (`reproduce.py claims`): the one-screen scorecard, what the numbers say
(findings.py), then one short section per claim with its reading and every verdict's numbers.

The scorecard: one row per claim of the paper, and a second small table of our own questions (not
counted in the paper's tallies); report.py quotes it at the top of results/README.md.

Columns: the claim in a few words and its place; the verdict on the paper's numbers; ours on
device-independent measures (iterations, quality at fixed iterations); ours on this machine's
training seconds; ours on the release's clock (claims about time); at the paper's size
(paper_size_verdicts.py); n (the runs or repeats behind ours); a reason in a few words. No cell is longer
than CELL_LIMIT characters: the numbers behind each verdict are in the claim's own section below
the scorecard (claims_<preset>.md).
"""
import os

from utils.reproduce.claims import (CLAIMS, CONFIDENCE, EVERY, FAILS, HOLDS, NA, NOISE, RELEASE, check_claims,
                                    verdict_of)
from utils.reproduce.findings import findings_markdown
from utils.reproduce.noise import seconds_spread
from utils.reproduce.paper_size_verdicts import legend as size_legend

HEADING = "## Scorecard"
OWN_HEADING = "### Our own questions (not the paper's claims; not in its tallies)"
CELL_LIMIT = 100
REASON_WORDS = 15
DASH = "—"
COLUMNS = ("#", "claim (place)", "paper's numbers", "ours: iterations", "ours: CPU seconds", "ours: release's clock",
           "at the paper's size", "n", "reason")
VERDICTS = ("holds", "fails", "within noise", "not measurable", "not yet run")


def fit(text: str, limit: int = CELL_LIMIT) -> str:
    """text cut at a word to at most `limit` characters (an ellipsis marks the cut)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return text[:limit - 2].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _words(text: str, n: int = REASON_WORDS) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def verdict_cell(text: str) -> str:
    """A verdict as the scorecard shows it: "—" for a measure the claim does not speak to, "not
    measurable" without its reason (the reason column gives it), else the verdict with its count."""
    if not text or text == NA:
        return DASH
    if text.startswith("not measurable"):
        return "not measurable"
    return fit(text)


def reason(row: dict) -> str:
    """At most REASON_WORDS words: the deciding numbers of ours (iterations, then seconds), else why
    nothing could be judged."""
    whys = [row.get(k) for k in ("iter_why", "sec_why") if row.get(k)]
    if whys:
        return fit(_words("; ".join(whys)))
    for key in ("iter_verdict", "sec_verdict", "our_verdict", "paper_verdict"):
        text = row.get(key) or ""
        if text.startswith("not measurable"):
            why = text.partition(":")[2].strip() or text.partition("(")[2].rstrip(")")
            if why:
                return fit(_words(why))
    return ""


def anchor(number) -> str:
    return f"claim-{str(number).lower()}"


def _row(number, r: dict, link: str = "") -> str:
    claim = fit(f"{r['short']} ({r['source']})")
    cells = [f"[{number}]({link}#{anchor(number)})" if link else str(number), claim,
             verdict_cell(r["paper_verdict"]) if not r["own"] else "not the paper's",
             verdict_cell(r["iter_verdict"]), verdict_cell(r["sec_verdict"]), verdict_cell(r["clock_verdict"]),
             verdict_cell(r["size_verdict"]), r["n"] or DASH, reason(r) or DASH]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def numbered(rows: list) -> list:
    """(number, row): the paper's claims 1, 2, ...; our own questions Q1, Q2, ..."""
    out, paper, own = [], 0, 0
    for r in rows:
        if r["own"]:
            own += 1
            out.append((f"Q{own}", r))
        else:
            paper += 1
            out.append((paper, r))
    return out


def tallies(rows: list) -> str:
    """One line per column of the paper's claims: how many hold, fail, ... (our own questions left out)."""
    paper = [r for r in rows if not r["own"]]
    parts = []
    for key, what in (("paper_verdict", "on the paper's numbers"), ("iter_verdict", "ours, iterations"),
                      ("sec_verdict", "ours, CPU seconds"), ("clock_verdict", "ours, the release's clock"),
                      ("size_verdict", "at the paper's size")):
        judged = [("not yet run" if r[key].startswith("not yet run") else verdict_of(r[key]))
                  for r in paper if verdict_cell(r[key]) != DASH]
        counts = ", ".join(f"{judged.count(v)} {v}" for v in VERDICTS if judged.count(v))
        parts.append(f"{what}: {counts or 'none judged'} (of {len(judged)} that speak to it)")
    return "; ".join(parts)


def scorecard_markdown(rows: list, preset: str, results_dir: str = "results", spread=None,
                       link: str = "") -> str:
    """The section: legend, the paper's claims, our own questions. link: the file the claim numbers
    point into ("" = this file)."""
    paper = [(n, r) for n, r in numbered(rows) if not r["own"]]
    own = [(n, r) for n, r in numbered(rows) if r["own"]]
    header = ["| " + " | ".join(COLUMNS) + " |", "|---:|" + "---|" * (len(COLUMNS) - 1)]
    spread_text = (f"{100 * spread.relative:.0f}%, the median range of seconds to a threshold across the repeats of "
                   f"{', '.join(spread.files)}" if spread else "not measured (no repeated table)")
    lines = [HEADING, "",
             f"Tallies of the paper's {len(paper)} claims: {tallies(rows)}.", "",
             *header, *(_row(n, r, link) for n, r in paper), "",
             OWN_HEADING, "", *header, *(_row(n, r, link) for n, r in own), "",
             "How to read it. Verdicts: holds / fails / within noise / not measurable; a count (\"fails: 17 of 18\") "
             "is how many cells hold, and a near miss names the one cell short with its size; \"(one run)\": one run "
             "per side decides it; \"(fastest of 3)\": one number per side, each the fastest of 3 repeats (the "
             f"speed-up benchmark's); {DASH}: the claim does not speak to that measure, or, in the release's clock "
             "column, its table was not re-timed on that clock (only the speed-up benchmark was). Ours at the "
             f"`{preset}` preset: "
             "iterations = iterations to a threshold and quality at fixed iterations (the same on any device); CPU "
             "seconds = this machine's training seconds (evaluation excluded); the release's clock = the speed-up "
             "benchmark re-timed with PSNR and SSIM at every step, as the NINT release's loop paid for them (its "
             "four other samplers only). Noise: paired repeats decide by a 95% interval; an iteration difference of "
             "at most one evaluation interval is within noise; a one-run difference in seconds under the run-to-run "
             f"spread ({spread_text}) is within noise. {size_legend(preset, results_dir)} The "
             "numbers behind each verdict, and how each claim's words are read, are in the claim's section"
             + f" of [claims_{preset}.md](claims_{preset}.md)."]
    return "\n".join(lines) + "\n"


def cells_of(markdown: str) -> list:
    """Every cell of the Markdown tables in `markdown` (for the length test)."""
    import re
    out = []
    for line in markdown.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            out += [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
    return out


# ------------------------------------------------------------------------------------- claims_<preset>.md

def build_claims_markdown(rows: list, preset: str, command: str = None, range_rows: list = None,
                          results_dir: str = "results") -> str:
    """claims_<preset>.md: the scorecard, what the numbers say, then one short section per claim with
    its reading and every verdict's numbers (paired differences and intervals)."""
    spread = seconds_spread(os.path.abspath(results_dir), preset)
    name = "claims.md" if preset == "paper" else f"claims_{preset}.md"
    lines = [f"# The paper's claims, checked ({preset} preset)", "",
             "Each claim of the paper, its supplement and the authors' release README, judged on the paper's own "
             "numbers (each sweep's `paper:` section, config/paper/) and on ours (that sweep's finished runs at the "
             f"`{preset}` preset), for NINT as the paper states it (K g) and, where the claim's sweep has the run "
             f"`{RELEASE}`, for NINT with the release's score. Computed by utils/reproduce/claims.py from the "
             "sweep files and the run folders (where a sweep's run folders are gone, from the results files its "
             "last run wrote, named in the claim's section); nothing is typed in. Rerun it after any table: "
             f"`python reproduce.py claims --preset {preset}`.", ""]
    if command:
        lines += [f"- Command: `{command}`", ""]
    lines += [scorecard_markdown(rows, preset, results_dir, spread, link=name).rstrip("\n"), "",
              findings_markdown(preset, results_dir, spread).rstrip("\n"), "",
              CLAIMS_HEADING, "",
              f"- One rule for every reading, on both sides: {EVERY}.",
              "- The noise: two runs are compared pair by pair (same signal, same repeat = same seed; "
              "`--repeats N`, repeat k with seed + k - 1). With two or more pairs a verdict is `holds` or `fails` "
              f"only when the {100 * CONFIDENCE:.0f}% Student-t interval of the paired differences excludes zero, "
              "else `within noise`; with one pair the sign decides and the verdict says `one run` (a tie: within "
              "noise). On top (utils/reproduce/noise.py): an iteration difference of at most one evaluation "
              "interval is within noise, whatever its interval says; a one-run difference in seconds smaller than "
              "the run-to-run spread of seconds on this machine is within noise; the spread: "
              + (spread.text() if spread else "not measured (no repeated table)") + ". The numbers shown are the "
              "medians over the repeats (the tables give mean ± std and every repeat in <table>_per_repeat.csv).",
              "- NINT is the run `nint` (xi 0.7); in Tables 6 and 7 also NINT with the step scheduler (the better of "
              f"the two per column). Its rivals: every run not named `nint...`; `{RELEASE}` is neither. A threshold "
              "never reached counts as worse than any reached.",
              "- Measures: iterations (iterations to a threshold, quality at fixed iterations, final quality: the "
              "same on any device) and seconds (seconds to a threshold, quality at fixed seconds: this machine's "
              "clock) are judged apart; our seconds are training seconds (evaluation excluded); the paper's are an "
              "RTX 4090's on a clock that counted its per-step evaluation. Budgets and sizes of a `cpu` preset are "
              "scaled (each table's header says how), so its numbers test the claims' direction, not their values.",
              ""]
    for number, r in numbered(rows):
        lines += [f"### Claim {number}", "",
                  f"**{r['claim']}** ({r['source']}; `{r['sweep'] or '-'}`)" if r["sweep"] else
                  f"**{r['claim']}** ({r['source']})", "",
                  f"- Reading: {r['reading']}."]
        for key, what in (("paper", "On the paper's numbers"), ("iter", "Ours, iterations and quality at fixed "
                                                                          "iterations"),
                          ("sec", "Ours, this CPU's seconds"), ("clock", "Ours, the release's clock"),
                          ("our", "Ours, every column"), ("release", "Ours, NINT with the release's score"),
                          ("size", "At the paper's size")):
            verdict, numbers = r[f"{key}_verdict"], r[f"{key}_numbers"]
            if verdict == NA or (key == "release" and not CLAIM_BY_KEY[r["key"]].release):
                continue
            lines.append(f"- {what}: **{verdict}**" + (f": {numbers}" if numbers else ""))
        if r["n"]:
            lines += [f"- Runs behind ours: {r['n']}."]
        lines.append("")
    if range_rows:
        lines += [value_range_markdown(rows, range_rows), ""]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


CLAIMS_HEADING = "## Each claim: its reading and its numbers"
CLAIM_BY_KEY = {c.key: c for c in CLAIMS}


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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


RANGE_SWEEP = "table2_range"


def write_claims(preset: str, results_dir: str = "results", repeats: int = None, command: str = None) -> str:
    """results/claims.md (paper preset) or claims_<preset>.md; returns its path."""
    rows = check_claims(preset, results_dir, repeats)
    range_rows = None
    folder = os.path.abspath(results_dir)
    if preset != "paper" and (os.path.isdir(os.path.join(folder, "runs", RANGE_SWEEP, preset))
                              or os.path.isfile(os.path.join(folder, f"{RANGE_SWEEP}_{preset}.csv"))):
        range_rows = [r for r in check_claims(preset, results_dir, repeats, {"table2": RANGE_SWEEP})
                      if r["sweep"] == RANGE_SWEEP]
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, "claims.md" if preset == "paper" else f"claims_{preset}.md")
    with open(path, "w") as f:
        f.write(build_claims_markdown(rows, preset, command, range_rows, results_dir))
    return path
