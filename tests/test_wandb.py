"""wandb: off by default (never imported), offline fallback without an API key."""
import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_tiny, tiny_config


def test_default_path_never_imports_wandb(tiny_image, tmp_path):
    code = ("import sys; sys.argv=['train_image.py','DATASET_CONFIGS.file_path=%s','TRAIN_CONFIGS.out_root=%s',"
            "'TRAIN_CONFIGS.iterations=2','TRAIN_CONFIGS.lpips=0','TRAIN_CONFIGS.progress=0',"
            "'model_config.hidden_layers=1','model_config.hidden_features=8','EXP_CONFIGS.strategy_type=uniform'];"
            "from utils.engine.cli import main; assert main('image', sys.argv[1:]) == 0;"
            "assert 'wandb' not in sys.modules, 'wandb was imported'" % (tiny_image, tmp_path))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_offline_fallback_without_api_key(tiny_image, tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a key
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "WANDB_CONFIGS.use_wandb=1",
                      iterations=10)
    summary, run_dir = run_tiny(cfg)
    assert summary["status"] == "completed"
    assert glob.glob(os.path.join(run_dir, "wandb", "offline-run-*"))
    assert "wandb sync" in capsys.readouterr().out
