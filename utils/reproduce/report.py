"""results/README.md: the reproduction report, built from the results files beside it.

`python reproduce.py report --preset cpu` writes it. Every number in it is read from the
files that `reproduce.py tableN`, `claims`, `speedup`, `scale` and `paper_size` wrote into the
results folder (`<sweep>_<preset>.md`, `claims_<preset>.md`, `speedup_<preset>_report.md`, ...),
so the report cannot drift from the tables: rerun the command after any of them (a test checks
that the committed report is what the command writes now). The only text typed here is
what does not change with a rerun: how to read the numbers and a few facts of the code.

One function per section. Each takes a `Results` (the folder and the preset) and returns
Markdown, or "" when its files are not there; `SECTIONS` orders them. A new section is a
function added to `SECTIONS`.
"""
import glob
import os
import re
from dataclasses import dataclass
from functools import partial

from utils.errors import UserError

REPORT_NAME = "README.md"
# The sweeps of the report, in this order: the paper's tables, then our own ablations.
SWEEPS = tuple(f"table{i}" for i in range(1, 11)) + ("ablation_ntk",)
PAPER_TABLES = SWEEPS[:10]
CLAIM_HEADING = "### Claim "      # claims_<preset>.md: one section per claim
SCORECARD_HEADING = "## Scorecard"   # the one-screen scorecard of claims_<preset>.md (claims.py writes it)
FINDINGS_HEADING = "## What the numbers say"  # its findings section (utils/reproduce/findings.py)
SCALE_HEADING = "## Scale ladder"    # the ratio section of scale_<preset>.md (scale.py writes it)
# Facts of the code that explain a table's numbers; they hold whatever a rerun measures.
NOTES = {
    "table1": "EVOS applies its release's Laplacian loss on every step of its first 30% (step 1,500 of "
              "5,000, scaled with the preset's length: [docs/methods.md](../docs/methods.md#scaled-presets)), "
              "which slows its start on images in [0, 1] ([docs/methods.md](../docs/methods.md#evos)).",
    "table4": "`n/a`: the run had not been evaluated yet at that time (a model with slow steps evaluates "
              "first later).",
    "table7": "Our shapes are scaled to a longest side of 0.9 inside the unit cube before the Chamfer "
              "distance is measured, so our Chamfer values and the paper's are on different scales: "
              "only their rankings compare.",
    "table9": "EVOS lags for the reason given under Table 1.",
    "ablation_ntk": "Not in the paper. `nint_no_ntk` keeps NINT's mix and schedule and fills the NTK slot "
                    "with the next-highest errors, so `nint` against `nint_no_ntk` measures what the NTK "
                    "stream itself adds ([docs/methods.md](../docs/methods.md#nint_no_ntk)).",
}


@dataclass
class Results:
    """The results folder and the preset whose files the report reads."""
    folder: str
    preset: str

    def stem(self, name: str, variant: str = "") -> str:
        """The file stem reproduce.py gives a sweep's outputs: `<name>_<preset>[_<variant>]`, without
        the preset for the paper preset (table2, table2_cpu, speedup_cpu_release_clock)."""
        return (name if self.preset == "paper" else f"{name}_{self.preset}") + (f"_{variant}" if variant else "")

    def path(self, name: str, suffix: str = ".md", variant: str = "") -> str:
        """`<folder>/<stem><suffix>`."""
        return os.path.join(self.folder, self.stem(name, variant) + suffix)

    def outputs(self, name: str) -> list:
        """Every file of the folder that `name`'s sweep wrote (its table, CSV, figures, reports)."""
        stem = self.stem(name)
        return sorted(glob.glob(os.path.join(self.folder, stem + ".*"))
                      + glob.glob(os.path.join(self.folder, stem + "_*")))

    def link(self, path: str) -> str:
        """A Markdown link to a file of the folder, relative to the report."""
        name = os.path.basename(path)
        return f"[{name}]({name})"


@dataclass
class ResultFile:
    """A Markdown file written by reproduce.py: title, bullets, its first table, what follows it."""
    title: str
    intro: str
    bullets: list
    table: list
    after: list

    def bullet(self, prefix: str) -> str:
        """The bullet that starts with `prefix` (without the "- "), or ""."""
        return next((b for b in self.bullets if b.startswith(prefix)), "")


def read_result_file(path: str):
    """Parse a results Markdown file; None when it does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    title = lines[0][2:] if lines and lines[0].startswith("# ") else ""
    intro, bullets, table, after = [], [], [], []
    for line in lines[1:]:
        if table and not line.startswith("|"):
            after.append(line)
        elif after:
            after.append(line)
        elif line.startswith("|"):
            table.append(line)
        elif line.startswith("- "):
            bullets.append(line[2:])
        elif line.strip() and not bullets:
            intro.append(line)
    return ResultFile(title, " ".join(intro), bullets, table, [a for a in after if a.strip()])


def split_row(line: str) -> list:
    """The cells of one Markdown table row (an escaped `\\|` stays inside its cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def runtime_minutes(result: ResultFile):
    """The sweep's runtime in minutes from its `Execution:` bullet, or None."""
    match = re.search(r"runtime ([\d.]+) min", result.bullet("Execution:"))
    return float(match.group(1)) if match else None


def sweep_heading(name: str, result: ResultFile) -> str:
    """"Table 2: ..." from the file's title "table2: ..."."""
    title = result.title.split(": ", 1)[-1]
    return f"Table {name[5:]}: {title}" if name in PAPER_TABLES else title


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# -- sections -----------------------------------------------------------------------------------------
def header_section(results: Results) -> str:
    paper_tables = [n for n in PAPER_TABLES if os.path.isfile(Results(results.folder, "paper").path(n))]
    paper_size = f"paper_size_{results.preset}.md"
    at_size = (f" apart from [{paper_size}]({paper_size}) (512x512, SIREN 5x256: iterations and quality at fixed "
               "iterations, the paper's own setting)" if os.path.isfile(os.path.join(results.folder, paper_size))
               else "")
    scale = ("Tables at the paper's sizes (the `paper` preset) in this folder: "
             + ", ".join(paper_tables) + "." if paper_tables else
             f"No table of the `paper` preset is in this folder: none of these numbers is at the paper's sizes"
             f"{at_size}.")
    return "\n".join([
        f"# Reproduction report ({results.preset} preset)",
        "",
        f"Written by `python reproduce.py report --preset {results.preset}` from the results files in this "
        "folder; do not edit it by hand: rerun the command after rerunning any table. How to run the sweeps "
        "(presets, resuming, a Ray cluster, your own sweep) is in [docs/reproducing.md](../docs/reproducing.md).",
        "",
        "How to read it. Each of our rows is one run on one signal, or the mean ± standard deviation over "
        "repeats where its table's Repeats line says so, at the sizes the preset's line under "
        "each table states, timed on this repository's training clock (sampling and update only, the "
        "device synchronized before each clock read; evaluation excluded). The paper's numbers are means "
        "over its images on an RTX 4090, on a clock that also counted its per-step evaluation. So a table "
        "compares directions and rankings, not values. " + scale,
        "",
    ])


def markdown_section(path: str, heading: str) -> list:
    """The lines of the `## ` section of a Markdown file whose heading starts with `heading`, up to the
    next `## ` heading (its heading line first, blank edges trimmed); [] when the file or the section
    is missing."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = lines[start + 1:end]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return [lines[start], *body]


def summary_section(results: Results) -> str:
    """The one-screen scorecard and what the numbers say: the two sections claims_<preset>.md opens with."""
    lines = []
    for heading in (SCORECARD_HEADING, FINDINGS_HEADING):
        body = markdown_section(results.path("claims"), heading)
        if body:
            lines += [body[0], "", *body[1:], ""]
    return "\n".join(lines)


def scale_section(results: Results) -> str:
    """The scale ladder's ratio table and figure, from scale_<preset>.md (`reproduce.py scale`)."""
    path = results.path("scale")
    body = markdown_section(path, SCALE_HEADING)
    if not body:
        return ""
    scale = read_result_file(path)
    figure = results.path("scale", "_ratios.png")
    lines = [body[0], "", *body[1:], "",
             f"- Files: {results.link(path)}" + (f" · {results.link(figure)}" if os.path.isfile(figure) else "")]
    if scale and scale.bullet("Command:"):
        lines.append(f"- {scale.bullet('Command:')}")
    lines.append("")
    if os.path.isfile(figure):
        lines += [f"![The scale ladder: ratios to Standard against image side]({os.path.basename(figure)})", ""]
    return "\n".join(lines)


def claim_sections(results: Results) -> list:
    """(number, first paragraph) of each `### Claim N` section of claims_<preset>.md; [] without it."""
    path = results.path("claims")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith(CLAIM_HEADING):
            first = next((x for x in lines[i + 1:] if x.strip()), "")
            out.append((line[len(CLAIM_HEADING):].strip(), first))
    return out


def runtimes_section(results: Results) -> str:
    rows, total = [], 0.0
    for name in SWEEPS:
        result = read_result_file(results.path(name))
        if result is None:
            continue
        minutes = runtime_minutes(result)
        if name in PAPER_TABLES and minutes is not None:
            total += minutes
        runs = re.search(r"\(of (\d+)\)", result.bullet("Runs:"))
        heading = sweep_heading(name, result)
        rows.append(f"| [{name}](#{anchor(heading)}) | {result.title.split(': ', 1)[-1]} | "
                    f"`config/paper/{name}.yaml` | {runs.group(1) if runs else ''} | "
                    f"{'' if minutes is None else f'{minutes:.1f} min'} |")
    size = read_result_file(results.path(PAPER_SIZE))
    hours = re.search(r": ([\d.]+)", size.bullet("CPU hours measured")) if size else None
    if hours:  # its runs span sessions: its runtime is the CPU hours its header sums
        finished = re.search(r"Runs: (\d+ of \d+)", size.bullet("Runs:"))
        title = sweep_heading(PAPER_SIZE, size)
        rows.append(f"| [{PAPER_SIZE}](#{anchor(title)}) | {title} | `config/paper/{PAPER_SIZE}.yaml` | "
                    f"{finished.group(1) if finished else ''} | {hours.group(1)} CPU hours |")
    if not rows:
        return ""
    return "\n".join([
        "## The sweeps and their runtimes", "",
        f"Measured by each sweep (its `Execution:` line): the process wall times of its runs, one at a time. "
        f"The paper's tables took {total:.1f} min in all at the `{results.preset}` preset.", "",
        "| sweep | what | file | runs | runtime |", "|---|---|---|---:|---:|", *rows, ""])


def sweep_section(results: Results, name: str) -> str:
    result = read_result_file(results.path(name))
    if result is None:
        return ""
    heading = sweep_heading(name, result)
    lines = [f"## {heading}", ""]
    claims = results.link(results.path("claims"))
    judged = [number for number, first in claim_sections(results) if f"`{name}`" in first]
    if judged:
        lines += ["Judged on this table (the scorecard above; each claim's numbers in "
                  f"{claims}): " + ", ".join(f"[claim {n}]({os.path.basename(results.path('claims'))}#claim-"
                                            f"{n.lower()})" for n in judged) + ".", ""]
    if name in NOTES:
        lines += [NOTES[name], ""]
    for prefix in ("Preset", "Signal:", "Runs:", "Command:"):
        if result.bullet(prefix):
            lines.append(f"- {result.bullet(prefix)}")
    lines += ["- Files: " + " · ".join(results.link(p) for p in results.outputs(name)), ""]
    curves = results.path(name, "_curves.png")
    if os.path.isfile(curves):
        lines += [f"![{heading}: metrics against training seconds and iterations]({os.path.basename(curves)})", ""]
    summary = heading.split(":")[0] + (", our rows beside the paper's" if name in PAPER_TABLES else ", our rows")
    lines += [f"<details><summary>{summary}</summary>", "", *result.table, "", "</details>", ""]
    return "\n".join(lines)


PAPER_SIZE = "paper_size"
# The paper-size report's sections the README repeats (the seconds and the per-image rows stay in its file).
PAPER_SIZE_SECTIONS = ("## Iterations to 25 and 30 dB", "## Quality after 250 iterations")


def paper_size_section(results: Results) -> str:
    """The paper-size sweep (`reproduce.py paper_size`): its state, its mean tables of iterations and
    of quality at 250 iterations beside the paper's, and where the rest is."""
    path = results.path(PAPER_SIZE)
    result = read_result_file(path)
    if result is None:
        return ""
    lines = [f"## {sweep_heading(PAPER_SIZE, result)}", "",
             f"{result.intro} The scorecard's column \"at the paper's size\" judges these runs per image; "
             f"the seconds and the per-image rows are in {results.link(path)}.", ""]
    for prefix in ("Runs:", "CPU hours", "GPU:", "Each cell", "Command:"):
        if result.bullet(prefix):
            lines.append(f"- {result.bullet(prefix)}")
    lines += ["- Files: " + " · ".join(results.link(p) for p in results.outputs(PAPER_SIZE)), ""]
    for section in PAPER_SIZE_SECTIONS:
        body = markdown_section(path, section)
        if body:
            lines += ["#" + body[0], "", *body[1:], ""]
    return "\n".join(lines)


def speedup_section(results: Results) -> str:
    lines = []
    for variant, what in (("", "on the training clock"),
                          ("release_clock", "on both clocks: PSNR and SSIM evaluated at every step, as the NINT "
                                             "release's loop did (`--release-clock`)")):
        path = results.path("speedup", "_report.md", variant)
        report = read_result_file(path)
        if report is None:
            continue
        sweep_file = results.path("speedup", variant=variant)
        sweep = read_result_file(sweep_file)
        command = sweep.bullet("Command:")[len("Command: "):] if sweep else ""
        runtime = f", {runtime_minutes(sweep):.1f} min" if sweep and runtime_minutes(sweep) else ""
        curves = results.path("speedup", "_curves.png", variant)
        lines += [f"### {what[0].upper() + what[1:]}", "",
                  f"{command}{runtime}: {results.link(path)}"
                  + (f" (every run's own table: {results.link(sweep_file)})" if sweep else "") + ".", "",
                  *report.table, "", *report.after, ""]
        if os.path.isfile(curves):
            lines += [f"![The speed-up runs {what.split(':')[0]}]({os.path.basename(curves)})", ""]
    if not lines:
        return ""
    return "\n".join(["## Speed-up benchmark", "",
                      "Standard, INT, EVOS, Expansive and NINT on one image, one process after another: seconds "
                      "and iterations to 30 dB, the cost of an iteration and the passes over all N points "
                      "([docs/reproducing.md](../docs/reproducing.md#speed-up-benchmark) says how it is run).",
                      "", *lines])


def other_files_section(results: Results) -> str:
    """Every other file of the preset (`*_<preset>*`) that no section above names: the benchmarks of
    docs/performance.md."""
    named = {p for name in SWEEPS + ("claims", "speedup", "scale", PAPER_SIZE) for p in results.outputs(name)}
    rest = sorted(p for p in glob.glob(os.path.join(results.folder, f"*_{results.preset}*"))
                  if os.path.isfile(p) and p not in named)
    if not rest:
        return ""
    return "\n".join(["## Other measurements", "",
                      "Timings of single passes and of the authors' release beside this repository, explained in "
                      "[docs/performance.md](../docs/performance.md): " + " · ".join(results.link(p) for p in rest)
                      + ".", ""])


SECTIONS = (header_section, summary_section, runtimes_section,
            *(partial(sweep_section, name=name) for name in SWEEPS),
            scale_section, paper_size_section, speedup_section, other_files_section)


def report_markdown(results_dir: str = "results", preset: str = "cpu") -> str:
    """The report of `preset` from the files in `results_dir`; a UserError when it has none of them."""
    results = Results(results_dir, preset)
    if not any(os.path.isfile(results.path(name)) for name in SWEEPS):
        raise UserError(f"no table of the {preset!r} preset in {results_dir}/ (expected e.g. "
                        f"{os.path.basename(results.path('table1'))}): run `python reproduce.py table1 "
                        f"--preset {preset}` first")
    return "\n".join(part for part in (section(results) for section in SECTIONS) if part).rstrip("\n") + "\n"


def write_report(results_dir: str = "results", preset: str = "cpu") -> str:
    """Write `<results_dir>/README.md`; returns its path."""
    text = report_markdown(results_dir, preset)
    path = os.path.join(results_dir, REPORT_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
