"""Every way a run ends, told truly (issue 31, class 3): summary.json's fields for a completed,
interrupted or diverged run; a diverged run continued with a lower learning rate the way its
message names; odd inputs named for what they are, in one line, exit 2."""
import json
import os

import pytest
import torch

from conftest import ROOT, stderr_lines
from utils.engine.cli import main

TINY = ["TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.lpips=0", "model_config.hidden_layers=2",
        "model_config.hidden_features=16"]


_err = stderr_lines



def _args(image, out_root, *more, iterations=20, eval_interval=2):
    return [f"DATASET_CONFIGS.file_path={image}", f"TRAIN_CONFIGS.out_root={out_root}",
            f"TRAIN_CONFIGS.iterations={iterations}", f"TRAIN_CONFIGS.eval_interval={eval_interval}",
            "TRAIN_CONFIGS.out_dir=run", *TINY, *more]


def _summary(run_dir):
    return json.load(open(os.path.join(run_dir, "summary.json")))


# -- summary.json ---------------------------------------------------------------------------------

def test_an_interrupted_run_is_not_stopped_by_iterations(tmp_path, image8, capsys):
    from conftest import run_tiny
    from utils.engine.config import load_config
    from utils.engine.trainer import Interrupted
    cfg = load_config("image", overrides=_args(image8, tmp_path))
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=7)
    summary = _summary(str(tmp_path / "run"))
    assert summary["status"] == "interrupted" and summary["stopped_by"] == "interrupted"
    assert summary["iterations"] == 7


def test_a_diverged_run_says_so_and_where(tmp_path, image8, capsys):
    assert main("image", _args(image8, tmp_path, "TRAIN_CONFIGS.lr=1e6", eval_interval=1)) == 3
    err = _err(capsys)
    summary = _summary(str(tmp_path / "run"))
    assert summary["status"] == "diverged" and summary["stopped_by"] == "diverged"
    assert f"at step {summary['iterations']} " in err[0], (err, summary["iterations"])


def test_a_completed_run_stopped_by_iterations(tmp_path, image8):
    assert main("image", _args(image8, tmp_path, iterations=4)) == 0
    summary = _summary(str(tmp_path / "run"))
    assert summary["status"] == "completed" and summary["stopped_by"] == "iterations" and summary["iterations"] == 4


# -- a diverged run continued with a lower learning rate --------------------------------------------

def test_a_diverged_run_continues_with_the_lower_lr_its_message_names(tmp_path, image8, capsys):
    original, count = torch.optim.Adam.step, {"n": 0}

    def poisoned(self, *args, **kwargs):  # the 6th update and every later one leave a NaN in the weights
        out = original(self, *args, **kwargs)
        count["n"] += 1
        if count["n"] >= 6:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", poisoned)
        assert main("image", _args(image8, tmp_path, "TRAIN_CONFIGS.lr=1e-2",
                                   "TRAIN_CONFIGS.lr_scheduler=constant")) == 3
    err = _err(capsys)
    run_dir = str(tmp_path / "run")
    assert len(err) == 1 and f"--resume {run_dir} TRAIN_CONFIGS.lr=0.001" in err[0], err
    assert "(step 4;" in err[0] and _summary(run_dir)["iterations"] == 6
    # any other override is still refused, in one line
    assert main("image", ["--resume", run_dir, "TRAIN_CONFIGS.lr=1e-3", "TRAIN_CONFIGS.iterations=5"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "TRAIN_CONFIGS.iterations=5" in err[0] and "TRAIN_CONFIGS.lr=..." in err[0]
    capsys.readouterr()
    assert main("image", ["--resume", run_dir, "TRAIN_CONFIGS.lr=1e-3"]) == 0
    out = capsys.readouterr().out
    assert "| lr 0.001" in out and "learning rate 0.001 from step" in out, out
    assert _summary(run_dir)["status"] == "completed"
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == 1e-3 and ckpt["base_lr"] == 1e-3
    assert "lr: 0.001" in open(os.path.join(run_dir, "config.yaml")).read()


@pytest.mark.parametrize("scheduler", ["constant", "cosine"])
def test_the_printed_lr_is_the_one_adam_uses(tmp_path, image8, capsys, scheduler):
    """config.yaml's lr edited between two segments: the optimizer takes it, and the start-up line
    prints the one in effect (on a schedule, the base and the current one)."""
    from conftest import run_tiny
    from utils.engine.config import load_config
    from utils.engine.trainer import Interrupted
    cfg = load_config("image", overrides=_args(image8, tmp_path, f"TRAIN_CONFIGS.lr_scheduler={scheduler}",
                                               "TRAIN_CONFIGS.lr=1e-3"))
    with pytest.raises(Interrupted):
        run_tiny(cfg, run_dir=str(tmp_path / "run"), stop_at=10)
    path = os.path.join(tmp_path, "run", "config.yaml")
    text = open(path).read()
    assert "lr: 0.001\n" in text
    open(path, "w").write(text.replace("lr: 0.001\n", "lr: 0.0005\n"))
    capsys.readouterr()
    assert main("image", ["--resume", str(tmp_path / "run"), "TRAIN_CONFIGS.iterations=20"]) == 2  # still refused
    assert main("image", ["--resume", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("signal:"))
    if scheduler == "constant":
        assert line.endswith("| lr 0.0005"), line
    else:  # half way down the cosine: about half the base
        assert "| lr 0.0005 (at step 10 on its schedule: 0.00025" in line, line


def test_resume_without_a_change_stays_bit_identical(tmp_path, image8):
    from conftest import run_tiny
    from utils.engine.config import load_config
    from utils.engine.trainer import Interrupted
    cfg = load_config("image", overrides=_args(image8, tmp_path, "TRAIN_CONFIGS.lr_scheduler=cosine"))
    whole, _ = run_tiny(cfg, run_dir=str(tmp_path / "whole"))
    with pytest.raises(Interrupted):
        run_tiny(cfg, run_dir=str(tmp_path / "parts"), stop_at=9)
    assert main("image", ["--resume", str(tmp_path / "parts")]) == 0
    assert _summary(str(tmp_path / "parts"))["final_psnr"] == whole["final_psnr"]


# -- odd inputs, named for what they are ------------------------------------------------------------

TETRA = ["0 0 0", "1 0 0", "0 1 0", "0 0 1"]
TETRA_FACES = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]


def _mesh(path, fmt, bad_row, token):
    rows = list(TETRA)
    rows[bad_row] = " ".join(token if i == 0 else w for i, w in enumerate(rows[bad_row].split()))
    if fmt == "obj":
        text = "".join(f"v {r}\n" for r in rows) + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in TETRA_FACES)
    elif fmt == "off":
        text = "OFF\n4 4 0\n" + "".join(f"{r}\n" for r in rows) + "".join(f"3 {a} {b} {c}\n" for a, b, c in TETRA_FACES)
    else:
        text = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
                "element face 4\nproperty list uchar int vertex_indices\nend_header\n"
                + "".join(f"{r}\n" for r in rows) + "".join(f"3 {a} {b} {c}\n" for a, b, c in TETRA_FACES))
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("fmt, token", [("ply", "nan"), ("ply", "inf"), ("off", "nan"), ("off", "-inf"),
                                        ("obj", "1e999"), ("obj", "nan")])
def test_a_non_finite_vertex_is_named_as_such(tmp_path, fmt, token):
    pytest.importorskip("igl")
    from utils.errors import UserError
    from utils.tasks.sdf.io import load_shape
    path = _mesh(tmp_path / f"m.{fmt}", fmt, 1, token)
    with pytest.raises(UserError, match="non-finite vertices") as e:
        load_shape(path)
    assert token in str(e.value) and "degenerate" not in str(e.value)
    assert load_shape(_mesh(tmp_path / f"ok.{fmt}", fmt, 1, "1")).faces.shape == (4, 3)


def test_a_silent_audio_excerpt_is_refused(tmp_path, capsys):
    sf = pytest.importorskip("soundfile")
    import numpy as np
    path = str(tmp_path / "silence.wav")
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    assert main("audio", [f"DATASET_CONFIGS.file_path={path}", "DATASET_CONFIGS.num_secs=0.5",
                          f"TRAIN_CONFIGS.out_root={tmp_path}", "TRAIN_CONFIGS.progress=0"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "silent" in err[0] and "SI-SNR" in err[0], err


@pytest.mark.parametrize("content, expected", [
    (b"TRAIN_CONFIGS:\n  iterations: 5\n  iterations: 7\n", "key 'iterations' is given twice (first on line 2)"),
    (b"TRAIN_CONFIGS:\n  iterations: 5\nTRAIN_CONFIGS:\n  lr: 0.1\n", "key 'TRAIN_CONFIGS' is given twice"),
    (b"TRAIN_CONFIGS.iterations: 5\n", "is override syntax"),
    (b"TRAIN_CONFIGS:\n  out_dir: caf\xe9\n", "is not UTF-8 text (byte 0xe9"),
    ("TRAIN_CONFIGS:\n  iterations: 5\n".encode("utf-16-le"), "UTF-16 or UTF-32 text without a byte-order mark"),
])
def test_config_file_problems_are_named(tmp_path, capsys, content, expected):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    assert main("image", ["--config", str(path), "--print-config"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and expected in err[0] and str(path) in err[0], err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path, capsys, encoding):
    path = tmp_path / "c.yaml"
    path.write_bytes("TRAIN_CONFIGS:\n  iterations: 5\n".encode(encoding))
    assert main("image", ["--config", str(path), "--print-config"]) == 0
    assert "iterations: 5" in capsys.readouterr().out


def test_an_output_path_the_terminal_cannot_show(tmp_path, image8):
    """PYTHONIOENCODING=ascii (an ASCII-only terminal) and a run folder with an accent: printed as an
    escape, the run completes."""
    import subprocess
    import sys
    out_root = tmp_path / "caf\u00e9"
    env = dict(os.environ, PYTHONIOENCODING="ascii", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "train_image.py", *_args(image8, out_root, iterations=2)], cwd=ROOT,
                          capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"caf\\xe9" in proc.stdout and _summary(str(out_root / "run"))["status"] == "completed"


def test_cache_dir_naming_a_file(tmp_path, capsys):
    pytest.importorskip("igl")
    afile = tmp_path / "cache"
    afile.write_text("")
    assert main("sdf", [f"DATASET_CONFIGS.cache_dir={afile}", f"TRAIN_CONFIGS.out_root={tmp_path / 'out'}",
                        "TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.iterations=1"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "DATASET_CONFIGS.cache_dir" in err[0] and "is a file" in err[0], err
    assert "File exists" not in err[0]


def test_reproduce_results_on_an_unwritable_path(tmp_path, capsys, monkeypatch):
    import reproduce
    locked = tmp_path / "ro"
    locked.mkdir()
    os.chmod(locked, 0o500)
    target = str(locked / "results")
    if os.access(str(locked), os.W_OK):  # root writes anywhere: a folder it cannot make instead
        real = os.makedirs

        def refuse(path, *a, **k):
            if str(path).startswith(str(locked)):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *a, **k)
        monkeypatch.setattr(os, "makedirs", refuse)
    try:
        assert reproduce.main(["table2", "--preset", "cpu", "--results", target, "--table-only"]) == 2
        err = _err(capsys)
        assert len(err) == 1 and target in err[0] and "cannot write there" in err[0], err
    finally:
        os.chmod(locked, 0o700)


def test_reproduce_address_outside_ray_and_under_dry_run(tmp_path, capsys):
    import reproduce
    assert reproduce.main(["table2", "--preset", "cpu", "--address", "auto", "--dry-run"]) == 2
    assert "used only with --backend ray" in _err(capsys)[0]
    assert reproduce.main(["table2", "--preset", "cpu", "--backend", "ray", "--address", "auto", "--dry-run",
                           "--results", str(tmp_path)]) == 0
    assert "--address auto is ignored with --dry-run" in capsys.readouterr().out
