"""The image task on CUDA (skipped without a GPU; benchmarks/gpu_check.sh runs it on one).

Every image sampler trains on the GPU with the same seed as on the CPU and ends close to the
CPU's result (same initial weights; the random draws differ, since the samplers' generator is
the run's generator on the training device); a steady training step of every sampler never
makes the host wait for the device; NTK scores on the GPU match float64 ones on the CPU for
both paths; the training clock synchronises the device around every step.

NINT_TEST_CUDA_DEVICE=cpu runs the same tests with the CPU in the GPU's place (a dry run of
the tests themselves on a machine without CUDA; the comparisons are then trivial).
"""
import math
import os

import pytest
import torch

from conftest import tiny_config
from models import build_model
from samplers.ntk import ntk_scores

DEVICE = os.environ.get("NINT_TEST_CUDA_DEVICE", "cuda")
if DEVICE == "cuda" and not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)
GPU = torch.device(DEVICE)
CPU = torch.device("cpu")

IMAGE_SAMPLERS = ["standard", "uniform", "int", "nint", "nint_no_ntk", "evos", "evos_no_cfs",
                  "expansive", "egra", "soft_mining"]
# Samplers that train on the same points on both devices (no random draws, no ranking by
# errors): their runs stay within rounding of each other.
SAME_POINTS = {"standard"}


@pytest.fixture(autouse=True)
def _exact_float32():
    """No TF32 in matmuls, so that GPU and CPU float32 results are comparable."""
    if GPU.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def train_on(device, cfg, tmp_path, name):
    from utils.tasks import build_task
    from utils.engine.trainer import train
    task = build_task("image", cfg, device)
    run_dir = tmp_path / name
    run_dir.mkdir()
    return train(cfg, task, str(run_dir), device, log=lambda *a: None)


@pytest.mark.parametrize("strategy", IMAGE_SAMPLERS)
def test_every_image_sampler_trains_on_the_gpu_like_on_the_cpu(strategy, tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, f"EXP_CONFIGS.strategy_type={strategy}", iterations=30)
    on_gpu = train_on(GPU, cfg, tmp_path, "gpu")
    on_cpu = train_on(CPU, cfg, tmp_path, "cpu")
    assert on_gpu["status"] == "completed" and on_gpu["device"].startswith(DEVICE)
    assert math.isfinite(on_gpu["final_psnr"])
    assert on_gpu["sampler"]["selections"] == on_cpu["sampler"]["selections"]
    tolerance = 0.05 if strategy in SAME_POINTS else 1.0  # dB
    assert abs(on_gpu["final_psnr"] - on_cpu["final_psnr"]) < tolerance, (on_gpu["final_psnr"], on_cpu["final_psnr"])


@pytest.mark.skipif(DEVICE != "cuda", reason="the CPU has no host-device synchronisation")
@pytest.mark.parametrize("strategy", IMAGE_SAMPLERS)
def test_a_steady_training_step_never_makes_the_host_wait(strategy):
    # Past NINT's NTK phase and off EVOS's fitness steps (which read rankings on the host by
    # design), select + step + observe run with torch.cuda.set_sync_debug_mode("error"): any
    # .item(), .cpu(), nonzero() or copy from host memory inside them raises.
    from functools import partial
    from samplers import make_sampler
    from utils.engine.trainer import optimization_step
    torch.manual_seed(0)
    image = torch.rand(32, 32, 3)
    axis = torch.linspace(-1, 1, 32)
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2).to(GPU)
    targets = image.reshape(-1, 3).to(GPU)
    model = build_model({"name": "siren", "hidden_layers": 2, "hidden_features": 32}, 2, 3).to(GPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    sampler = make_sampler(strategy, total_steps=400, ratio=0.2, image=image.numpy(), device=GPU)
    checked = 0
    for step in range(160):
        steady = step >= 120 and step not in getattr(sampler, "fitness_at", ())
        if steady:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
        try:
            selection = sampler.select(step, model, coords, targets)
            x, y = selection.points(coords, targets)
            _, point_loss = optimization_step(model, optimizer, x, y, partial(sampler.training_loss, selection), step,
                                              0, sampler.pointwise_loss, check_finite=False)
            sampler.observe(selection, point_loss, x.grad)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        checked += steady
    assert checked >= 20
    assert getattr(sampler, "p_ntk", 0.0) < 1e-3  # NINT: the steps checked were past its NTK phase


class UserMLP(torch.nn.Module):
    """A model without pointwise_mlp(): scored by the generic path."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = torch.nn.Linear(2, 32), torch.nn.Linear(32, 32), torch.nn.Linear(32, 3)

    def forward(self, x):
        return self.c(torch.tanh(self.b(torch.sin(10.0 * self.a(x)))))


@pytest.mark.parametrize("kind", ["siren_hand_written", "siren_generic", "user_module"])
def test_ntk_scores_on_the_gpu_match_float64_on_the_cpu(kind):
    torch.manual_seed(0)
    if kind == "user_module":
        model, method = UserMLP(), "func"
    else:
        model = build_model({"name": "siren", "hidden_layers": 3, "hidden_features": 32}, 2, 3)
        method = "mlp" if kind == "siren_hand_written" else "func"
    coords = torch.rand(3000, 2) * 2 - 1
    residual = torch.randn(3000, 3) * 0.1
    expected = ntk_scores(model.double(), coords.double(), residual.double(), method=method)
    model = model.float().to(GPU)
    for chunk in (None, 1000):
        got = ntk_scores(model, coords.to(GPU), residual.to(GPU), chunk_size=chunk, method=method)
        assert got.device.type == GPU.type and got.dtype == torch.float32
        assert torch.allclose(got.double().cpu(), expected, rtol=2e-3, atol=1e-5 * expected.max().item()), (kind, chunk)


@pytest.mark.skipif(DEVICE != "cuda", reason="the CPU needs no synchronisation")
def test_the_training_clock_synchronises_the_gpu(tiny_image, tmp_path, monkeypatch):
    import utils.engine.run as run_module
    calls = []
    real = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: (calls.append(1), real(*a, **k)))
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform", "TRAIN_CONFIGS.eval_interval=1000",
                      iterations=5)
    train_on(GPU, cfg, tmp_path, "clock")
    assert run_module.synchronize is not None and len(calls) >= 2 * 5  # before and after every step
