"""The stop setting (TRAIN_CONFIGS.stop_thresholds / stop_after_step / stop_step_cap): a run ends at
the first evaluation past the step with every threshold reached, or at the cap; the schedules stay
those of TRAIN_CONFIGS.iterations; a resume changes nothing; reproduce.py counts the run finished;
off by default."""
import csv
import os

import pytest
import torch

from conftest import run_tiny, tiny_config
from utils.errors import UserError
from utils.reproduce.run_folder import read_status


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def without_seconds(rows):
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]


def test_stops_at_the_first_evaluation_past_the_step_with_the_thresholds_reached(tiny_image, tmp_path):
    """PSNR 5 is reached at the first evaluation (step 10); the run goes on to step 20, then stops."""
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lr=1e-3",
                      "TRAIN_CONFIGS.stop_thresholds=[psnr_5]", "TRAIN_CONFIGS.stop_after_step=20",
                      "TRAIN_CONFIGS.stop_step_cap=25", iterations=60)
    summary, run_dir = run_tiny(cfg)
    assert [int(r["step"]) for r in read_metrics(run_dir)] == [10, 20]
    assert summary["status"] == "completed" and summary["stopped_by"] == "thresholds"
    assert summary["iterations"] == 20 and float(read_metrics(run_dir)[0]["psnr"]) >= 5
    assert os.path.isfile(os.path.join(run_dir, "model.pt"))


def test_a_threshold_first_reached_after_the_step_stops_there(tiny_image, tmp_path):
    """The threshold is one the full run first reaches at an evaluation past stop_after_step: the
    stopped run ends at exactly that evaluation, with the full run's rows up to it."""
    common = ("EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lr=1e-3")
    _, full_dir = run_tiny(tiny_config(tiny_image, tmp_path / "full", *common, iterations=80))
    full = read_metrics(full_dir)
    psnr = {int(r["step"]): float(r["psnr"]) for r in full}
    # the smallest whole dB above every PSNR up to step 10, if a later evaluation reaches it
    threshold = int(max(v for s, v in psnr.items() if s <= 10)) + 1
    stop = next((s for s, v in sorted(psnr.items()) if v >= threshold), None)
    assert stop is not None and stop > 10, psnr  # the tiny fit gains more than 1 dB past step 10
    summary, run_dir = run_tiny(tiny_config(tiny_image, tmp_path / "stop", *common,
                                            f"TRAIN_CONFIGS.stop_thresholds=[psnr_{threshold}]",
                                            "TRAIN_CONFIGS.stop_after_step=10", iterations=80))
    stopped = read_metrics(run_dir)
    assert summary["stopped_by"] == "thresholds" and summary["iterations"] == stop
    assert int(stopped[-1]["step"]) == stop and without_seconds(stopped) == without_seconds(full[:len(stopped)])


def test_a_threshold_not_reached_stops_at_the_cap_evaluated_there(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform",
                      "TRAIN_CONFIGS.stop_thresholds=[psnr_99]", "TRAIN_CONFIGS.stop_step_cap=25", iterations=60)
    summary, run_dir = run_tiny(cfg)
    assert [int(r["step"]) for r in read_metrics(run_dir)] == [10, 20, 25]
    assert summary["status"] == "completed" and summary["stopped_by"] == "cap" and summary["iterations"] == 25
    assert summary["iters_to"]["psnr_35"] is None


def test_a_stopped_run_is_the_full_run_up_to_its_stop(tiny_image, tmp_path):
    """The schedules follow TRAIN_CONFIGS.iterations: with the step batch-size scheduler, the stopped
    run's rows (batch sizes included) are the full run's first rows, all but the seconds."""
    common = ("EXP_CONFIGS.strategy_type=nint", "nint.batch_size_scheduler=step", "TRAIN_CONFIGS.lr=1e-3")
    full, full_dir = run_tiny(tiny_config(tiny_image, tmp_path / "full", *common, iterations=60))
    stopped, stopped_dir = run_tiny(tiny_config(tiny_image, tmp_path / "stop", *common, "TRAIN_CONFIGS.stop_step_cap=30",
                                                iterations=60))
    full_rows, stopped_rows = read_metrics(full_dir), read_metrics(stopped_dir)
    assert len(stopped_rows) == 3
    assert without_seconds(stopped_rows) == without_seconds(full_rows[:3])
    assert len({r["batch_size"] for r in stopped_rows}) > 1  # the scheduler did move within the 30 steps


def test_resume_of_a_stopped_run_changes_nothing(tiny_image, tmp_path, capsys):
    from utils.engine.cli import main
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform",
                      "TRAIN_CONFIGS.stop_thresholds=[psnr_99]", "TRAIN_CONFIGS.stop_step_cap=20", iterations=60)
    summary, run_dir = run_tiny(cfg)
    rows, weights = read_metrics(run_dir), torch.load(os.path.join(run_dir, "model.pt"), weights_only=True)
    # The command line refuses a finished run
    assert main("image", ["--resume", run_dir]) == 2
    assert "already finished" in capsys.readouterr().err
    # And with its summary gone, the run resumes where the stop setting ended it: no step more
    os.remove(os.path.join(run_dir, "summary.json"))
    again, _ = run_tiny(cfg, run_dir=run_dir, resume=True)
    assert read_metrics(run_dir) == rows and again["iterations"] == 20 and again["stopped_by"] == "cap"
    after = torch.load(os.path.join(run_dir, "model.pt"), weights_only=True)
    assert all(torch.equal(after[k], weights[k]) for k in weights)


def test_reproduce_counts_a_stopped_run_as_finished(tiny_image, tmp_path):
    from utils.reproduce.run_folder import plan
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.stop_step_cap=10",
                      iterations=60)
    _, run_dir = run_tiny(cfg)
    assert read_status(run_dir) == "completed"

    class Run:  # what plan() reads of a sweep's run
        folder, argv = run_dir, []
    assert plan(Run()) == "skip"


def test_off_by_default(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform")
    train = cfg["TRAIN_CONFIGS"]
    assert (train["stop_thresholds"], train["stop_after_step"], train["stop_step_cap"]) == ([], 0, 0)
    summary, run_dir = run_tiny(cfg)
    assert [int(r["step"]) for r in read_metrics(run_dir)] == [10, 20, 30]
    assert summary["stopped_by"] == "iterations" and summary["iterations"] == 30


@pytest.mark.parametrize("override, message", [
    ("TRAIN_CONFIGS.stop_thresholds=[si_snr_10]", "names no metric of this task"),
    ("TRAIN_CONFIGS.stop_thresholds=[psnr]", "stop_thresholds"),
    ("TRAIN_CONFIGS.stop_thresholds=psnr_30", "stop_thresholds"),
    ("TRAIN_CONFIGS.stop_step_cap=-1", "stop_step_cap"),
])
def test_bad_stop_settings_are_named(tiny_image, tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        cfg = tiny_config(tiny_image, tmp_path, override)
        run_tiny(cfg)
