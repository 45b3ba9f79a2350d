"""Config loading, overrides, and every bad-input case of the CLI (one line, non-zero exit)."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from utils.engine.cli import main
from utils.engine.config import load_config
from utils.errors import UserError


def test_defaults_are_the_papers():
    cfg = load_config("image")
    assert cfg["model_config"]["name"] == "siren"
    assert (cfg["model_config"]["hidden_layers"], cfg["model_config"]["hidden_features"]) == (5, 256)
    assert cfg["model_config"]["lr"] == 1e-4 and cfg["model_config"]["first_omega_0"] == 30
    assert cfg["TRAIN_CONFIGS"]["iterations"] == 5000 and cfg["TRAIN_CONFIGS"]["seed"] == 42
    assert cfg["nint"]["mt_ratio"] == 0.2
    assert cfg["DATASET_CONFIGS"]["file_path"] == "images/01.png"


def test_overrides_parse_yaml_values():
    cfg = load_config("image", overrides=["DATASET_CONFIGS.img_size=[128,192]", "TRAIN_CONFIGS.iterations=10",
                                          "nint.mt_ratio=0.5", "WANDB_CONFIGS.wandb_entity=me",
                                          "nint.batch_size_scheduler=linear", "nint.sample_interval=incremental"])
    assert cfg["DATASET_CONFIGS"]["img_size"] == [128, 192]
    assert cfg["TRAIN_CONFIGS"]["iterations"] == 10 and cfg["nint"]["mt_ratio"] == 0.5


def test_config_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("TRAIN_CONFIGS:\n  iterations: 77\n  seed: 1\n")
    cfg = load_config("image", str(f), ["TRAIN_CONFIGS.seed=3"])
    assert cfg["TRAIN_CONFIGS"]["iterations"] == 77 and cfg["TRAIN_CONFIGS"]["seed"] == 3


def test_int_given_as_float_is_accepted():
    assert load_config("image", overrides=["TRAIN_CONFIGS.iterations=100.0"])["TRAIN_CONFIGS"]["iterations"] == 100


@pytest.mark.parametrize("override,needle", [
    ("TRAIN_CONFIGS.iteration=10", "did you mean 'TRAIN_CONFIGS.iterations'"),
    ("EXP_CONFIGS.strategy_type=nnt", "valid: standard, uniform, int, nint"),
    ("nint.batch_size_scheduler=exp", "valid: constant, linear, step"),
    ("nint.sample_interval=sparse", "valid: dense, dense2, incremental, decremental"),
    ("nint.mt_ratio=0", "out of range"),
    ("nint.mt_ratio=1.5", "out of range"),
    ("TRAIN_CONFIGS.iterations=0", "out of range"),
    ("TRAIN_CONFIGS.iterations=-5", "out of range"),
    ("TRAIN_CONFIGS.device=tpu", "valid: auto, cpu, cuda"),
    ("model_config.name=resnet", "unknown model"),
    ("TRAINCONFIGS.iterations=3", "unknown config section"),
    ("TRAIN_CONFIGS.iterations=abc", "expected a number"),
    ("TRAIN_CONFIGS.lr=abc", "expected a number"),
    ("TRAIN_CONFIGS.seed=-1", "out of range"),
    ("nint.mt_ratio=.nan", "out of range"),
    ("DATASET_CONFIGS.file_path=null", "must not be null"),
    ("DATASET_CONFIGS.value_range=[a,b]", "must be [0, 1] or [-1, 1]"),
    ("TRAIN_CONFIGS.out_dir=5", "folder name"),
    ("nint.selection_map_steps=[a]", "list of step numbers"),
    ("DATASET_CONFIGS.img_size=[0,3]", "img_size"),
    ("iterations=3", "SECTION.key=value"),
])
def test_bad_config_values(override, needle):
    with pytest.raises(UserError, match=None) as e:
        load_config("image", overrides=[override])
    assert needle in str(e.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("TRAIN_CONFIGS:\n  iterations: 5\n  seed: [1, 2\n")
    with pytest.raises(UserError) as e:
        load_config("image", str(f))
    assert str(f) in str(e.value) and "line" in str(e.value)


def _cli(capsys, *argv):
    code = main("image", list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("argv,needle", [
    (["DATASET_CONFIGS.file_path=/nonexistent/x.png"], "image not found"),
    (["TRAIN_CONFIGS.iteratons=3"], "did you mean"),
    (["EXP_CONFIGS.strategy_type=foo"], "valid:"),
    (["nint.mt_ratio=2"], "out of range"),
    (["TRAIN_CONFIGS.iterations=0"], "out of range"),
    (["--config", "/nonexistent.yaml"], "config file not found"),
])
def test_cli_bad_input_is_one_line(capsys, argv, needle):
    code, err = _cli(capsys, *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_cli_unreadable_image(capsys, tmp_path):
    f = tmp_path / "broken.png"
    f.write_bytes(b"this is not a png")
    code, err = _cli(capsys, f"DATASET_CONFIGS.file_path={f}")
    assert code == 2 and len(err) == 1 and "cannot read image" in err[0]


def test_cli_wrong_channel_count(capsys, tmp_path):
    import numpy as np
    f = tmp_path / "five.tif"
    import imageio.v3 as iio
    iio.imwrite(f, np.zeros((8, 8, 5), np.uint8))
    code, err = _cli(capsys, f"DATASET_CONFIGS.file_path={f}")
    assert code == 2 and len(err) == 1 and "channels" in err[0]


def test_script_reports_without_traceback(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("TRAIN_CONFIGS: [\n")
    r = subprocess.run([sys.executable, "train_image.py", "--config", str(f)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and "YAML syntax error" in r.stderr


def test_sampler_refusing_the_modality_leaves_no_run_folder(capsys, tmp_path):
    code = main("audio", ["EXP_CONFIGS.strategy_type=egra", f"TRAIN_CONFIGS.out_root={tmp_path}",
                              "TRAIN_CONFIGS.progress=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not defined for the audio modality" in err[0]
    assert os.listdir(tmp_path) == []


def test_config_file_section_not_a_mapping(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model_config: 5\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config("image", str(f))
