"""Shared fixtures: tiny images and tiny configs so that the suite stays fast on 2 CPU cores."""
import os
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(2)

from utils.engine.config import load_config  # noqa: E402

TINY = ["TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.lpips=0",
        "model_config.hidden_layers=2", "model_config.hidden_features=32"]


@pytest.fixture
def tiny_image(tmp_path):
    """A 32x32 RGB crop of a shipped DIV2K image, as a PNG path."""
    img = iio.imread(os.path.join(ROOT, "images", "01.png"))[200:232, 200:232]
    path = tmp_path / "tiny.png"
    iio.imwrite(path, img)
    return str(path)


def tiny_config(image_path, out_root, *overrides, iterations=30):
    return load_config("image", overrides=[
        f"DATASET_CONFIGS.file_path={image_path}", f"TRAIN_CONFIGS.out_root={out_root}",
        f"TRAIN_CONFIGS.iterations={iterations}", "TRAIN_CONFIGS.eval_interval=10", *TINY, *overrides])


def run_tiny(cfg, run_dir=None, **kwargs):
    """Train with cfg in a fresh folder under its out_root; returns (summary, run_dir)."""
    from utils.engine.run_logger import fresh_run_dir
    from utils.tasks import build_task
    from utils.engine.trainer import train
    device = torch.device("cpu")
    task = build_task("image", cfg, device)
    run_dir = run_dir or fresh_run_dir(cfg["TRAIN_CONFIGS"]["out_root"], "run")
    return train(cfg, task, run_dir, device, log=lambda *a: None, **kwargs), run_dir


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def image8(tmp_path):
    """An 8x8 RGB crop of a shipped image."""
    path = tmp_path / "a.png"
    iio.imwrite(path, iio.imread(os.path.join(ROOT, "images", "01.png"))[200:208, 200:208])
    return str(path)


def stderr_lines(capsys):
    """The non-empty lines a command wrote to stderr."""
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]
