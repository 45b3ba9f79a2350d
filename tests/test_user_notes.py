"""What a new user is told when an input is not what the run needs: one line each, said once."""
import os

import pytest

from utils.engine.cli import main
from utils.engine.config import ROOT

TINY = ["TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.iterations=2", "TRAIN_CONFIGS.eval_interval=1",
        "model_config.hidden_layers=1", "model_config.hidden_features=8"]


def _error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("task,key", [("image", "DATASET_CONFIGS.file_path"), ("image", "DATASET_CONFIGS.eval_file_path"),
                                      ("audio", "DATASET_CONFIGS.file_path"), ("sdf", "DATASET_CONFIGS.file_path")])
def test_a_directory_where_a_file_is_expected(capsys, tmp_path, task, key):
    folder = tmp_path / "signals"
    folder.mkdir()
    code = main(task, [f"{key}={folder}", f"TRAIN_CONFIGS.out_root={tmp_path / 'out'}", *TINY])
    err = _error_lines(capsys)
    assert code == 2 and len(err) == 1, err
    assert "is a directory" in err[0] and "a file is expected" in err[0] and str(folder) in err[0]
    assert "not found" not in err[0]


def test_a_missing_file_is_still_not_found(capsys, tmp_path):
    code = main("image", [f"DATASET_CONFIGS.file_path={tmp_path / 'none.png'}", *TINY])
    err = _error_lines(capsys)
    assert code == 2 and err == [f"error: image not found: {tmp_path / 'none.png'}"]


def test_config_option_given_a_directory(capsys, tmp_path):
    code = main("image", ["--config", str(tmp_path), *TINY])
    err = _error_lines(capsys)
    assert code == 2 and len(err) == 1 and "is a directory" in err[0] and "a file is expected" in err[0]
