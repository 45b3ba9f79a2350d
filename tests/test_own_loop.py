"""examples/own_loop.py, the README's own-loop example, runs as a user would run it."""
import os
import re
import subprocess
import sys

from conftest import ROOT


def test_own_loop_example_fits_the_image(tmp_path):
    # From another folder, with two threads: the example finds the repository by itself.
    env = dict(os.environ, OMP_NUM_THREADS="2")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "own_loop.py")], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    match = re.search(r"PSNR (\d+\.\d+) dB after 500 NINT steps on 64x64 pixels", r.stdout)
    assert match, r.stdout
    # A 3x64 SIREN on images/01.png at 64x64 reaches about 36.5 dB; a broken sampler or loop stays far below.
    assert float(match.group(1)) > 32.0, r.stdout
