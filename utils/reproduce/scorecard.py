"""The one-screen scorecard: one row per claim of the paper, and a second small table of our own
questions (not counted in the paper's tallies). claims.py writes it at the top of
claims_<preset>.md and report.py quotes it at the top of results/README.md.

Columns: the claim in a few words and its place; the verdict on the paper's numbers; ours on
device-independent measures (iterations, quality at fixed iterations); ours on this machine's
training seconds; ours on the release's clock (claims about time); at the paper's size
(paper_size.py); n (the runs or repeats behind ours); a reason in a few words. No cell is longer
than CELL_LIMIT characters: the numbers behind each verdict are in the claim's own section below
the scorecard (claims_<preset>.md).
"""
from utils.reproduce.paper_size import legend as size_legend

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
    from utils.reproduce.claims import NA
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
    from utils.reproduce.claims import verdict_of
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
             f"per side decides it; {DASH}: the claim does not speak to that measure. Ours at the `{preset}` preset: "
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
