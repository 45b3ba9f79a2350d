"""The README quotes the measured tables as they are in results/: every row, on the current files."""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def table_rows(path: str) -> list:
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.startswith("| ") and not line.startswith("| run |")]


def test_readme_quotes_every_row_of_every_measured_cpu_table():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = set(line.rstrip("\n") for line in f)
    tables = sorted(glob.glob(os.path.join(ROOT, "results", "table*_cpu.md")))
    assert tables, "no measured tables in results/"
    for path in tables:
        missing = [row for row in table_rows(path) if row not in readme]
        assert not missing, f"README does not quote {os.path.relpath(path, ROOT)} as it is now: {missing[0]}"

