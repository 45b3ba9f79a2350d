"""benchmarks/gpu_check.sh without a GPU: --dry-run's stages and budget (at most 5 minutes on one
GPU, less with --quick), the Python it picks, and one archive holding each finished stage's report."""
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def _run(*args, env=None, script=SCRIPT, timeout=60):
    full = dict(os.environ, **(env or {}))
    for key in ("OUT", "PYTHON", "GPU_CHECK_SECONDS"):
        if key not in (env or {}):
            full.pop(key, None)
    return subprocess.run(["bash", script, *args], capture_output=True, text=True, env=full, timeout=timeout)


def _dry_run(*args, **kw):
    proc = _run("--dry-run", *args, **kw)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    stages = {m.group(1): int(m.group(2)) if m.group(2) else 0
              for m in (re.match(r"stage (\w+): (?:at most (\d+) s|what is left of the budget)$", ln) for ln in lines)
              if m}
    total = re.fullmatch(r"total: (\d+) s", lines[-1])
    assert total, lines[-1]
    return lines, stages, int(total.group(1))


def test_dry_run_lists_every_stage_and_a_budget_of_five_minutes():
    lines, stages, total = _dry_run()
    assert list(stages) == ["env", "cuda_tests", "ntk_cost", "syncs", "speedup", "image_tests"]
    assert total <= 300 and sum(stages.values()) <= total


def test_quick_is_shorter():
    _, stages, total = _dry_run("--quick")
    _, _, full = _dry_run()
    assert total < full and "speedup" not in stages and sum(stages.values()) <= total


def test_unknown_option_is_refused():
    proc = _run("--fast")
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr


@pytest.fixture
def copy(tmp_path):
    """The script in a bare copy of the repository layout (nothing else there)."""
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(SCRIPT, tmp_path / "benchmarks" / "gpu_check.sh")
    return tmp_path


def _executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_python_is_PYTHON_else_the_project_venv(copy):
    script = str(copy / "benchmarks" / "gpu_check.sh")
    venv = _executable(copy / ".venv" / "bin" / "python", "#!/bin/sh\n")
    assert _dry_run(script=script)[0][0] == "python: .venv/bin/python" and os.path.exists(venv)
    assert _dry_run(env={"PYTHON": "/opt/py"}, script=script)[0][0] == "python: /opt/py"
    assert not (copy / "results").exists() and not (copy / "outputs").exists()  # --dry-run ran nothing


def test_one_archive_in_OUT_with_each_stages_report(copy, tmp_path):
    """A stand-in Python that prints its arguments: every stage runs at once, and the archive in $OUT
    holds summary.md and every stage's report, and nothing else is left in $OUT."""
    fake = _executable(tmp_path / "fakepy", "#!/bin/sh\necho fake python \"$@\"\n")
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(env={"PYTHON": fake, "OUT": str(out)}, script=str(copy / "benchmarks" / "gpu_check.sh"))
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(out) == ["gpu_check.tar.gz"]
    with tarfile.open(out / "gpu_check.tar.gz") as tar:
        names = {os.path.basename(n) for n in tar.getnames()}
        summary = tar.extractfile("./summary.md").read().decode()
    assert {"summary.md", "env.txt", "cuda_tests.txt", "ntk_cost.txt", "syncs.txt", "speedup.txt",
            "image_tests.txt"} <= names
    for stage in ("env", "cuda_tests", "ntk_cost", "syncs", "speedup", "image_tests"):
        assert f"| {stage} |" in summary
