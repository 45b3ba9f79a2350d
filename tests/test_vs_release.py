"""benchmarks/vs_release.py without a release checkout: our runs (both NTK scores) and its checks."""
import argparse

import yaml

from benchmarks.vs_release import SCORES, main, ours_overrides, run_ours
from utils.engine.config import load_config


def small_args(**kw):
    values = dict(layers=1, width=8, iterations=4, eval_interval=2, seed=42, threads=1, threshold=30.0)
    values.update(kw)
    return argparse.Namespace(**values)


def test_like_for_like_row_runs_the_release_score_first():
    """The release's computation (output_norm) is run by default, before the paper's kg."""
    assert SCORES == ("output_norm", "kg")


def test_our_overrides_are_valid_settings_for_each_score(tmp_path, tiny_image):
    for score in SCORES:
        cfg = load_config("image", overrides=ours_overrides(small_args(), tiny_image, str(tmp_path), score))
        assert cfg["nint"]["ntk_score"] == score and cfg["EXP_CONFIGS"]["strategy_type"] == "nint"
        assert cfg["TRAIN_CONFIGS"]["out_dir"] == f"nint_{score}"


def test_our_release_score_run_end_to_end(tmp_path, tiny_image):
    row = run_ours(small_args(), tiny_image, str(tmp_path), "output_norm")
    assert row["label"] == "ours, release score (output_norm)" and row["score"] == "output_norm"
    assert sorted(row["psnr_at"]) == [2, 4] and row["final_psnr"] == row["psnr_at"][4]
    with open(tmp_path / "ours" / "nint_output_norm" / "config.yaml") as f:
        assert yaml.safe_load(f)["nint"]["ntk_score"] == "output_norm"


def test_not_a_release_is_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path), "--iterations", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vs_release: ") and "not a checkout of the NINT release" in err and "\n" not in err
