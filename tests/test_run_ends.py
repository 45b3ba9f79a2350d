"""Every way a run ends, told truly (issue 31, class 3): summary.json's fields for a completed,
interrupted or diverged run; a diverged run continued with a lower learning rate the way its
message names; odd inputs named for what they are, in one line, exit 2."""
import json
import os

import imageio.v3 as iio
import pytest
import torch

from conftest import ROOT
from utils.engine.cli import main

TINY = ["TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.lpips=0", "model_config.hidden_layers=2",
        "model_config.hidden_features=16"]


def _err(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture
def image8(tmp_path):
    path = tmp_path / "a.png"
    iio.imwrite(path, iio.imread(os.path.join(ROOT, "images", "01.png"))[200:208, 200:208])
    return str(path)


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
