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


def _tiny_png(tmp_path, side):
    import imageio.v3 as iio
    img = iio.imread(os.path.join(ROOT, "images", "01.png"))[200:200 + side, 200:200 + side]
    path = tmp_path / f"tiny{side}.png"
    iio.imwrite(path, img)
    return str(path)


def _metrics_column(run_dir, name):
    import csv
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [row[name] for row in csv.DictReader(f)]


@pytest.mark.parametrize("side,null", [(6, ("SSIM", "LPIPS")), (16, ("LPIPS",)), (32, ())])
def test_metrics_too_big_for_a_tiny_image_are_null_and_said_once(capsys, tmp_path, side, null):
    out_root = tmp_path / "out"
    code = main("image", [f"DATASET_CONFIGS.file_path={_tiny_png(tmp_path, side)}", f"TRAIN_CONFIGS.out_root={out_root}",
                          "TRAIN_CONFIGS.out_dir=run", "TRAIN_CONFIGS.lpips=1", *TINY])
    out = capsys.readouterr().out
    assert code == 0
    for metric in ("SSIM", "LPIPS"):
        said = out.count(f"{metric} unavailable, recorded as null")
        assert said == (1 if metric in null else 0), out
        values = _metrics_column(out_root / "run", metric.lower())
        assert len(values) == 2 and all((v == "") == (metric in null) for v in values), values
    if null:
        assert f"is {side}x{side}" in out


def test_no_lpips_note_when_lpips_is_off(capsys, tmp_path):
    code = main("image", [f"DATASET_CONFIGS.file_path={_tiny_png(tmp_path, 16)}", f"TRAIN_CONFIGS.out_root={tmp_path}",
                          "TRAIN_CONFIGS.lpips=0", *TINY])
    assert code == 0 and "LPIPS unavailable" not in capsys.readouterr().out


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_config_file_is_said_once(capsys, tmp_path, text):
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    code = main("image", ["--config", str(f), f"DATASET_CONFIGS.file_path={_tiny_png(tmp_path, 8)}",
                          f"TRAIN_CONFIGS.out_root={tmp_path / 'out'}", "TRAIN_CONFIGS.lpips=0", *TINY])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count(f"note: {f} holds no settings; running with the defaults of config/train_image.yaml "
                     "and the overrides") == 1, out


def test_a_config_file_with_settings_says_nothing(capsys, tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("TRAIN_CONFIGS:\n  iterations: 2\n")
    code = main("image", ["--config", str(f), f"DATASET_CONFIGS.file_path={_tiny_png(tmp_path, 8)}",
                          f"TRAIN_CONFIGS.out_root={tmp_path / 'out'}", "TRAIN_CONFIGS.lpips=0", *TINY])
    assert code == 0 and "holds no settings" not in capsys.readouterr().out
