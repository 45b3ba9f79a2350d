"""End to end on a tiny image: outputs, PSNR rising, reproducibility, resume, divergence, formats."""
import csv
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from conftest import run_tiny, tiny_config
from models import build_model
from utils.errors import UserError
from utils.tasks.image import image_grid, load_image
from utils.engine.trainer import Interrupted, TrainingDiverged


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("strategy", ["standard", "uniform", "int", "nint"])
def test_end_to_end_psnr_rises(tiny_image, tmp_path, strategy):
    cfg = tiny_config(tiny_image, tmp_path, f"EXP_CONFIGS.strategy_type={strategy}", "TRAIN_CONFIGS.lr=1e-3")
    summary, run_dir = run_tiny(cfg)
    rows = read_metrics(run_dir)
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert float(rows[-1]["psnr"]) > float(rows[0]["psnr"]) + 1.0
    expected_batch = 1024 if strategy == "standard" else 204
    assert all(int(r["batch_size"]) == expected_batch for r in rows)
    for name in ("config.yaml", "metrics.csv", "summary.json", "reconstruction.png", "model.pt"):
        assert os.path.isfile(os.path.join(run_dir, name))
    assert summary["status"] == "completed" and summary["iterations"] == 30
    for key in ("best_psnr", "best_ssim", "best_lpips", "final_psnr", "train_seconds", "time_to", "iters_to"):
        assert key in summary
    assert set(summary["time_to"]) == {"psnr_20", "psnr_25", "psnr_30", "psnr_35", "ssim_0.8", "ssim_0.9", "lpips_0.2", "lpips_0.1"}
    assert summary["best_lpips"] is None  # LPIPS off in tiny configs: null, never 0
    state = torch.load(os.path.join(run_dir, "model.pt"), weights_only=True)
    model = build_model(cfg["model_config"], 2, 3)
    model.load_state_dict(state)


def test_time_to_threshold_from_rows(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=standard", "TRAIN_CONFIGS.lr=1e-3")
    summary, run_dir = run_tiny(cfg)
    rows = read_metrics(run_dir)
    first = next((r for r in rows if float(r["psnr"]) >= 25), None)
    assert summary["iters_to"]["psnr_25"] == (int(first["step"]) if first else None)
    if first:
        assert summary["time_to"]["psnr_25"] == pytest.approx(float(first["train_seconds"]))


def test_lpips_recorded_when_available(tmp_path):
    img = iio.imread("images/02.png")[:48, :48]
    path = tmp_path / "i.png"
    iio.imwrite(path, img)
    cfg = tiny_config(path, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lpips=1", iterations=10)
    summary, _ = run_tiny(cfg)
    assert 0 < summary["final_lpips"] < 1.5


def _metric_values(run_dir):
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "wall_seconds")} for r in read_metrics(run_dir)]


def test_same_seed_same_metrics_different_seed_differs(tiny_image, tmp_path):
    runs = []
    for seed in (42, 42, 7):
        cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=nint", f"TRAIN_CONFIGS.seed={seed}")
        runs.append(_metric_values(run_tiny(cfg)[1]))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("strategy,schedule", [("nint", "constant"), ("uniform", "cosine")])
def test_resume_matches_uninterrupted(tiny_image, tmp_path, strategy, schedule):
    """Bit for bit, the lr schedule's state included (a cosine schedule restarted at the resume
    would give other metrics)."""
    overrides = (f"EXP_CONFIGS.strategy_type={strategy}", "nint.sample_interval=dense2",
                 f"TRAIN_CONFIGS.lr_scheduler={schedule}", "TRAIN_CONFIGS.lr=1e-3")
    cfg = tiny_config(tiny_image, tmp_path / "a", *overrides)
    _, full_dir = run_tiny(cfg)
    cfg = tiny_config(tiny_image, tmp_path / "b", *overrides)
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=15)
    run_dir = str(tmp_path / "b" / "run")
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "interrupted"
    run_tiny(cfg, run_dir=run_dir, resume=True)
    assert _metric_values(run_dir) == _metric_values(full_dir)
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "completed"


def test_snapshots_at_fixed_training_seconds(tiny_image, tmp_path):
    """A reconstruction is saved at the first step past each requested training time, off the clock."""
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform",
                      "TRAIN_CONFIGS.snapshot_seconds=[0, 1.0e9]")
    summary, run_dir = run_tiny(cfg)
    index = json.load(open(os.path.join(run_dir, "snapshots.json")))
    assert list(index) == ["0"]  # 1e9 s never comes
    assert index["0"]["step"] == 1 and index["0"]["file"] == "reconstruction_at_0s.png"
    assert 0 < index["0"]["train_seconds"] <= summary["train_seconds"]
    snap = iio.imread(os.path.join(run_dir, "reconstruction_at_0s.png"))
    final = iio.imread(os.path.join(run_dir, "reconstruction.png"))
    assert snap.shape == final.shape and not np.array_equal(snap, final)  # one step vs 30 steps
    with pytest.raises(UserError, match="snapshot_seconds"):
        tiny_config(tiny_image, tmp_path, "TRAIN_CONFIGS.snapshot_seconds=[-1]")


def test_snapshot_taken_once_across_resume(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.snapshot_seconds=[0]")
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=15)
    run_dir = str(tmp_path / "run")
    before = json.load(open(os.path.join(run_dir, "snapshots.json")))
    run_tiny(cfg, run_dir=run_dir, resume=True)
    assert json.load(open(os.path.join(run_dir, "snapshots.json"))) == before and before["0"]["step"] == 1


def test_nan_loss_stops_and_keeps_checkpoint(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lr=1e30",
                      "model_config.hidden_features=64", iterations=200)
    with pytest.raises(TrainingDiverged, match="loss became"):
        run_tiny(cfg)
    run_dir = str(tmp_path / "run")
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "diverged"


def test_run_folder_never_overwritten(tiny_image, tmp_path):
    from utils.engine.run_logger import fresh_run_dir
    a = fresh_run_dir(str(tmp_path), "x")
    open(os.path.join(a, "f"), "w").close()
    b = fresh_run_dir(str(tmp_path), "x")
    assert a != b and b.endswith("x_1") and sorted(os.listdir(a)) == [".lock", "f"]  # .lock: utils/locks.py


def test_coordinate_grid():
    g = image_grid(3, 4)
    assert g.shape == (12, 2)
    assert torch.allclose(g[0], torch.tensor([-1.0, -1.0])) and torch.allclose(g[-1], torch.tensor([1.0, 1.0]))
    assert torch.allclose(g[1], torch.tensor([-1.0, -1.0 + 2 / 3]))  # row-major: column moves first
    assert torch.allclose(g[4], torch.tensor([0.0, -1.0]))


def write_png16(path, data, significant_bits=12):
    """A minimal 16-bit RGB PNG (no filter, one IDAT, an sBIT chunk), by the PNG specification."""
    import struct
    import zlib
    h, w, _ = data.shape
    raw = b"".join(b"\x00" + data[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"sBIT", bytes([significant_bits] * 3))  # must not rescale the samples
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", ["gray", "rgba", "rgb16", "tiff16", "jpeg", "tiff", "gray_alpha"])
def test_image_formats(tmp_path, kind):
    rgb = iio.imread("images/01.png")[:16, :20]
    notes = []
    if kind == "gray":
        path, data = tmp_path / "g.png", rgb[..., 0]
    elif kind == "rgba":
        path, data = tmp_path / "a.png", np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    elif kind == "rgb16":  # +3: values an 8-bit read would round away
        path, data = tmp_path / "w16.png", rgb.astype(np.uint16) * 257 + 3
    elif kind == "tiff16":
        path, data = tmp_path / "w16.tif", rgb.astype(np.uint16) * 257 + 3
    elif kind == "jpeg":
        path, data = tmp_path / "j.jpg", rgb
    elif kind == "tiff":
        path, data = tmp_path / "t.tif", rgb
    else:
        path, data = tmp_path / "ga.png", np.dstack([rgb[..., 0], rgb[..., 1]])
    if kind == "rgb16":
        write_png16(path, data)  # Pillow cannot write 16-bit RGB PNG
    else:
        iio.imwrite(path, data)
    img = load_image(str(path), notify=notes.append)
    assert img.dtype == np.float32 and img.shape[:2] == (16, 20) and 0 <= img.min() and img.max() <= 1
    assert img.shape[2] == (1 if kind in ("gray", "gray_alpha") else 3)
    assert bool(notes) == (kind in ("rgba", "gray_alpha"))
    if kind in ("rgb16", "tiff16"):
        assert np.allclose(img, data / 65535.0, atol=1e-7)  # full 16-bit precision


def test_cmyk_jpeg_is_converted_not_cut(tmp_path):
    from PIL import Image
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (200, 40, 10)
    rgb[:, 8:] = (10, 90, 220)
    path = str(tmp_path / "print.jpg")
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    notes = []
    img = load_image(path, notify=notes.append)
    assert img.shape == (16, 16, 3) and any("CMYK" in n for n in notes)
    assert np.abs(img * 255 - rgb).mean() < 12  # the colours survive the round trip


def test_resize_option(tmp_path):
    assert load_image("images/01.png", 32).shape == (32, 32, 3)
    assert load_image("images/01.png", [24, 40]).shape == (24, 40, 3)


def test_value_range_minus_one_one(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "DATASET_CONFIGS.value_range=[-1,1]",
                      iterations=10)
    from utils.tasks import build_task
    task = build_task("image", cfg, torch.device("cpu"))
    assert task.targets.min() < -0.5 and task.targets.max() <= 1.0
    # SIREN starts near 0, the middle of [-1, 1]: 16.2 dB after 10 steps (measured); metrics that
    # ignored the range would compare [-1, 1] outputs with the [0, 1] image (6.8 dB)
    assert run_tiny(cfg)[0]["final_psnr"] > 15


@pytest.mark.parametrize("value_range", [[0, 1], [-1, 1]])
def test_metrics_read_outputs_in_the_value_range(tiny_image, tmp_path, value_range):
    """The PSNR of a model whose outputs are the targets shrunk toward the range's middle is the
    PSNR of that error measured in [0, 1] units."""
    from utils.tasks import build_task
    from utils.tasks.image.metrics import psnr
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform",
                      f"DATASET_CONFIGS.value_range={value_range}")
    task = build_task("image", cfg, torch.device("cpu"))
    lo, hi = value_range
    middle = (lo + hi) / 2
    lookup = {tuple(c): t for c, t in zip(task.coords.tolist(), task.targets)}

    def shrunk(coords):
        return torch.stack([middle + 0.9 * (lookup[tuple(c)] - middle) for c in coords.tolist()])

    error_in_unit = 0.1 * (task.targets - middle) / (hi - lo)
    expected = 10 * np.log10(1.0 / float(error_in_unit.pow(2).mean()))
    assert task.evaluate(shrunk)["psnr"] == pytest.approx(expected, abs=1e-3)
    assert psnr(task.reconstruct(shrunk), task.image) == pytest.approx(expected, abs=1e-3)


def test_super_resolution_eval_grid(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "DATASET_CONFIGS.img_size=16",
                      "DATASET_CONFIGS.eval_size=32", iterations=10)
    from utils.tasks import build_task
    from utils.tasks.image.metrics import psnr
    task = build_task("image", cfg, torch.device("cpu"))
    assert task.n_points == 256 and task.eval_coords.shape[0] == 1024
    summary, run_dir = run_tiny(cfg)
    # measured against the 32x32 image: the saved 32x32 reconstruction (8-bit) scores the same
    recon = iio.imread(os.path.join(run_dir, "reconstruction.png")) / 255.0
    assert recon.shape == (32, 32, 3) and summary["final_psnr"] > 6.5  # 6.88 dB measured after 10 steps
    assert psnr(recon, load_image(tiny_image, 32)) == pytest.approx(summary["final_psnr"], abs=0.05)


@pytest.mark.parametrize("schedule,factor", [("constant", 1.0), ("cosine", None), ("multistep", 0.1)])
def test_lr_schedule_reaches_the_optimizer(tiny_image, tmp_path, schedule, factor):
    """The learning rate Adam has at the checkpoint after 12 of 20 steps: constant stays, cosine is
    annealed by its formula, multistep has passed its 50% milestone (x0.1) but not 75%."""
    import math
    from utils.engine.task_keys import COSINE_LR_MIN
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lr=1e-3",
                      f"TRAIN_CONFIGS.lr_scheduler={schedule}", iterations=20)
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=12)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    lr = ckpt["optimizer"]["param_groups"][0]["lr"]
    if factor is None:  # cosine from 1e-3 to COSINE_LR_MIN over 20 steps, after 12
        factor = (COSINE_LR_MIN + (1e-3 - COSINE_LR_MIN) * (1 + math.cos(math.pi * 12 / 20)) / 2) / 1e-3
    assert ckpt["step"] == 12 and lr == pytest.approx(1e-3 * factor, rel=1e-9)


def test_num_threads_sets_torchs_threads(tiny_image, tmp_path, monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run_tiny(tiny_config(tiny_image, tmp_path / "a", "EXP_CONFIGS.strategy_type=uniform",
                             "TRAIN_CONFIGS.num_threads=1", iterations=1))
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(2)
        run_tiny(tiny_config(tiny_image, tmp_path / "b", "EXP_CONFIGS.strategy_type=uniform",
                             "TRAIN_CONFIGS.num_threads=0", iterations=1))
        assert torch.get_num_threads() == 2  # 0 with OMP_NUM_THREADS set: torch's own count, left as it is
    finally:
        torch.set_num_threads(before)


def test_first_ctrl_c_saves_a_checkpoint_and_exits_130(tiny_image, tmp_path):
    """A real SIGINT to a training process: it stops at the next step, writes checkpoint.pt and an
    'interrupted' summary, prints the --resume command and exits with 130 (resuming is tested elsewhere)."""
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    args = _cli_args(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.iterations=1000000",
                     "TRAIN_CONFIGS.num_threads=1")
    proc = subprocess.Popen([sys.executable, "train_image.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "r" / "metrics.csv"
    deadline = time.time() + 120
    while not metrics.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # the loop has run its first evaluation: it is training now
    assert metrics.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the first Ctrl-C did not stop the run")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"--resume {tmp_path / 'r'}" in err
    summary = json.load(open(tmp_path / "r" / "summary.json"))
    step = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["step"]
    assert summary["status"] == "interrupted" and summary["iterations"] == step >= 10


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    from utils.engine.run import resolve_device
    with pytest.raises(UserError, match="no CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def _cli_args(tiny_image, tmp_path, *extra):
    return [f"DATASET_CONFIGS.file_path={tiny_image}", f"TRAIN_CONFIGS.out_root={tmp_path}", "TRAIN_CONFIGS.out_dir=r",
            "TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.lpips=0", "TRAIN_CONFIGS.eval_interval=10",
            "model_config.hidden_layers=2", "model_config.hidden_features=32", *extra]


def test_cli_resume_of_an_interrupted_run(tiny_image, tmp_path, capsys):
    from utils.engine.cli import main
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform")
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=12)
    assert main("image", ["--resume", str(tmp_path / "run")]) == 0
    assert json.load(open(tmp_path / "run" / "summary.json"))["status"] == "completed"
    assert main("image", ["--resume", str(tmp_path / "run")]) == 2  # finished: nothing to resume
    assert "already finished" in capsys.readouterr().err
    assert main("image", ["--resume", str(tmp_path / "nowhere")]) == 2


def test_cli_nan_loss_exit_code_and_one_line(tiny_image, tmp_path, capsys):
    from utils.engine.cli import main
    code = main("image", _cli_args(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.lr=1e30",
                                   "model_config.hidden_features=64", "TRAIN_CONFIGS.iterations=200"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and "loss became" in err[0]
    has_ckpt = os.path.isfile(tmp_path / "r" / "checkpoint.pt")
    assert ("last good checkpoint" in err[0]) == has_ckpt
    if has_ckpt:  # the kept checkpoint holds finite weights
        state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["model"]
        assert all(torch.isfinite(v).all() for v in state.values())


def test_wandb_logs_ground_truth_once(tiny_image, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from utils.engine import wandb_logger
    logged = []
    monkeypatch.setattr(wandb_logger.WandbLogger, "log_media",
                        lambda self, step, media: (logged.append((step, sorted(media))), setattr(self, "media_logged", True)))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "WANDB_CONFIGS.use_wandb=1")
    run_tiny(cfg)
    assert logged[0] == (10, ["ground_truth", "reconstruction"])
    assert all("ground_truth" not in names for _, names in logged[1:]) and logged[-1][0] == 30


def test_max_train_seconds_stops_evaluates_and_keeps_the_schedule(tiny_image, tmp_path, monkeypatch):
    """With a clock that makes every training step last exactly 1 s, a 12.5 s limit ends the
    30-iteration run after step 13: evaluated there, completed, the step scheduler still on
    its 30-iteration stages."""
    import types
    import utils.engine.run as run_module
    ticks = iter(range(10 ** 9))
    monkeypatch.setattr(run_module, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "nint.batch_size_scheduler=step",
                      "TRAIN_CONFIGS.max_train_seconds=12.5")
    summary, run_dir = run_tiny(cfg)
    rows = read_metrics(run_dir)
    assert [int(r["step"]) for r in rows] == [10, 13]  # the usual evaluation, then the last step
    assert [float(r["train_seconds"]) for r in rows] == [10.0, 13.0]
    assert summary["status"] == "completed" and summary["iterations"] == 13
    assert summary["stopped_by"] == "max_train_seconds" and summary["train_seconds"] == 13.0
    # Step 12 (0-based) of 30 with 10 stages of 3 steps: ratio 0.2 + 4 x 0.08 = 0.52 -> int(532.48);
    # a 13-iteration schedule would have been at 0.92 (942 points).
    assert int(rows[-1]["batch_size"]) == 532
    assert all(float(r["wall_seconds"]) >= float(r["train_seconds"]) for r in rows)
    assert os.path.isfile(os.path.join(run_dir, "reconstruction.png"))
    with pytest.raises(UserError, match="max_train_seconds"):
        tiny_config(tiny_image, tmp_path, "TRAIN_CONFIGS.max_train_seconds=-1")


def test_wall_seconds_beside_train_seconds(tiny_image, tmp_path):
    """wall_seconds: the loop's elapsed time, evaluation included, so never below the training clock."""
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform")
    summary, run_dir = run_tiny(cfg)
    rows = read_metrics(run_dir)
    walls = [float(r["wall_seconds"]) for r in rows]
    assert walls == sorted(walls) and all(w >= float(r["train_seconds"]) for w, r in zip(walls, rows))
    assert summary["wall_seconds"] >= walls[-1] >= summary["train_seconds"] + summary["eval_seconds"] * 0.5
    assert summary["stopped_by"] == "iterations" and summary["iterations"] == 30
