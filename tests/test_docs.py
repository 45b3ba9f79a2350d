"""The documentation a user clicks through: every relative link resolves, and the reproduction
report (results/README.md) is what `reproduce.py report` writes from the results files now."""
import glob
import os
import re
import shutil
import subprocess
import sys

from conftest import ROOT
from utils.reproduce.report import report_markdown

# The Markdown a user reaches from the README; every relative link in them must resolve.
MARKDOWN = ("README.md", "docs/*.md", "results/*.md", "config/*.md", "config/*/*.md", "data/*/*.md",
            "examples/**/*.md", "benchmarks/**/*.md")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def markdown_files() -> list:
    paths = set()
    for pattern in MARKDOWN:
        paths.update(glob.glob(os.path.join(ROOT, pattern), recursive=True))
    return sorted(paths)


def anchors(path: str) -> set:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated heading suffixed -1, -2, ..."""
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", text, re.M):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(path: str) -> list:
    """Each relative link of `path` whose file, or whose #anchor in a Markdown file, does not exist."""
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(resolved):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(target)
    return broken


def test_every_relative_link_resolves():
    files = markdown_files()
    assert {"README.md", "docs/layout.md", "results/README.md", "config/reference.md"} <= {
        os.path.relpath(p, ROOT) for p in files}
    broken = {os.path.relpath(p, ROOT): b for p in files if (b := broken_links(p))}
    assert not broken, f"links that do not resolve: {broken}"


def test_link_check_can_fail(tmp_path):
    (tmp_path / "there.md").write_text("# A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading-with-code) [gone](missing.md) [bad anchor](there.md#nope)\n"
                    "`[in code](missing.md)` [web](https://example.org/x)\n```\n[fenced](missing.md)\n```\n")
    assert broken_links(str(page)) == ["missing.md", "there.md#nope"]


def test_readme_reaches_every_doc_in_one_click():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        targets = {t.partition("#")[0] for t in LINK.findall(f.read())}
    docs = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))}
    missing = (docs | {"results/README.md", "config/reference.md", "examples/own_loop.py"}) - targets
    assert not missing, f"the README links to none of: {sorted(missing)}"


# -- results/README.md ------------------------------------------------------------------------------
def test_results_report_is_current():
    with open(os.path.join(ROOT, "results", "README.md"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == report_markdown(os.path.join(ROOT, "results"), "cpu"), (
        "results/README.md is stale: run `python reproduce.py report --preset cpu`")


def _copy_results(folder):
    for path in glob.glob(os.path.join(ROOT, "results", "*_cpu*")):
        if os.path.isfile(path):
            shutil.copy(path, folder)


def test_report_is_written_from_the_results_files(tmp_path):
    _copy_results(tmp_path)
    table = tmp_path / "table9_cpu.md"
    row = next(line for line in table.read_text().splitlines() if line.startswith("| NINT (xi 0.7) |"))
    changed = row.replace("| NINT (xi 0.7) |", "| NINT (xi 0.7), rerun |", 1)
    table.write_text(table.read_text().replace(row, changed))
    claims = tmp_path / "claims_cpu.md"
    assert "## What the numbers say\n" in claims.read_text()
    claims.write_text(claims.read_text().replace("## What the numbers say\n",
                                                 "## What the numbers say\n\nA line written by this test.\n", 1))
    (tmp_path / "table4_cpu.md").unlink()
    r = subprocess.run([sys.executable, "reproduce.py", "report", "--preset", "cpu", "--results", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = (tmp_path / "README.md").read_text()
    assert changed in report and row not in report
    assert "A line written by this test." in report  # the claims' findings, read from the file
    assert "## Table 3:" in report and "## Table 4:" not in report and "## Table 5:" in report
    assert "[table9_cpu_curves.png](table9_cpu_curves.png)" in report


def test_report_shows_the_paper_size_sweep_from_its_file(tmp_path):
    """Its mean tables and state are quoted (not its seconds or per-image rows), it has a runtimes row
    with its CPU hours, and it leaves the "other measurements" line; without its file, none of that."""
    _copy_results(tmp_path)
    report = report_markdown(str(tmp_path), "cpu")
    size = (tmp_path / "paper_size_cpu.md").read_text()
    hours = re.search(r"CPU hours measured[^:]*: ([\d.]+)", size).group(1)
    assert "\n## At the paper's size" in report and "### Iterations to 25 and 30 dB" in report
    assert "### Quality after 250 iterations" in report and "## Per image" not in report
    nint_row = next(line for line in size.splitlines() if line.startswith("| NINT (xi 0.7) |"))
    assert nint_row in report
    assert re.search(rf"\| \[paper_size\]\(#at-the-papers-size[^)]*\) \|.*\| {hours} CPU hours \|", report)
    assert "[paper_size_cpu.md](paper_size_cpu.md)" not in report.split("## Other measurements", 1)[-1]
    (tmp_path / "paper_size_cpu.md").unlink()
    report = report_markdown(str(tmp_path), "cpu")
    assert "## At the paper's size" not in report and "[paper_size]" not in report


def test_report_without_results_is_a_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "reproduce.py", "report", "--preset", "cpu", "--results", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: no table of the 'cpu' preset"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "README.md").exists()


def test_report_opens_with_the_scorecard_and_quotes_the_scale_ladder(tmp_path):
    """The scorecard and the findings claims.py writes (on check_claims' rows: here the paper's side, ours
    not run) are the report's first sections; the scale ladder's ratio section and figure are quoted."""
    from utils.reproduce.claims import check_claims
    from utils.reproduce.scorecard import build_claims_markdown
    _copy_results(tmp_path)
    rows = check_claims("cpu", str(tmp_path / "no_runs"))
    (tmp_path / "claims_cpu.md").write_text(build_claims_markdown(rows, "cpu", "python reproduce.py claims",
                                                                  results_dir=str(tmp_path)))
    (tmp_path / "scale_cpu.md").write_text(
        "# Scale ladder (cpu)\n\n- Command: `python reproduce.py scale --preset cpu`\n\n"
        "## Scale ladder: seconds and iterations to PSNR 30, as ratios\n\nNINT's ratio 0.42x.\n\n"
        "## Every run\n\n| a |\n|---|\n| 1 |\n")
    (tmp_path / "scale_cpu_ratios.png").write_bytes(b"png")
    report = report_markdown(str(tmp_path), "cpu")
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Scorecard", "## What the numbers say"]
    assert "## Scale ladder: seconds and iterations to PSNR 30, as ratios" in headings
    scorecard = report.split("## Scorecard", 1)[1].split("\n## ", 1)[0]
    assert "Tallies of the paper's 21 claims: on the paper's numbers: 6 holds, 11 fails" in scorecard
    assert "| [1](claims_cpu.md#claim-1) | Nearly half Standard's time" in scorecard
    assert "NINT's ratio 0.42x." in report and "## Every run" not in report
    assert "[scale_cpu_ratios.png](scale_cpu_ratios.png)" in report
