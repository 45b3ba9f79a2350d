"""Chunked passes: the training step and the no-grad forwards give the unchunked results."""
from functools import partial

import pytest
import torch

from models import build_model
from samplers import build_sampler
from samplers.base import SelectionContext
from utils.devices import chunk_points, chunk_slices
from utils.engine.config import load_config
from utils.engine.trainer import optimization_step
from utils.errors import UserError

N = 1024  # a 32x32 image


def problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    coords = torch.rand(N, 2, generator=g) * 2 - 1
    targets = torch.rand(N, 3, generator=g)
    torch.manual_seed(seed)
    model = build_model({"name": "siren", "hidden_layers": 2, "hidden_features": 32}, 2, 3)
    return model, coords, targets


def sampler_for(strategy, *overrides):
    cfg = load_config("image", overrides=[f"EXP_CONFIGS.strategy_type={strategy}", "TRAIN_CONFIGS.iterations=20",
                                          *overrides])
    image = torch.rand(32, 32, 3, generator=torch.Generator().manual_seed(1)).numpy()
    signal = {"modality": "image", "shape": (32, 32), "image": image, "value_range": (0.0, 1.0)}
    return build_sampler(cfg, N, torch.Generator().manual_seed(0), signal=signal)


def run_steps(strategy, chunk, steps=1, overrides=()):
    """Per step: (loss, per-point losses, gradients, coordinate gradients, chosen indices) of `strategy`.

    The learning rate is 0, so the model stays put and every step's gradients can be compared."""
    model, coords, targets = problem()
    sampler = sampler_for(strategy, *overrides)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    out = []
    for step in range(steps):
        selection = sampler.select(SelectionContext(step, 20, model, coords, targets, forward_chunk=chunk))
        x, y = selection.points(coords, targets)
        loss, point_loss = optimization_step(model, optimizer, x, y, partial(sampler.training_loss, selection),
                                             step, chunk, sampler.pointwise_loss)
        sampler.observe(selection, point_loss, x.grad)
        out.append((float(loss), point_loss, [p.grad.clone() for p in model.parameters()], x.grad, selection.indices))
    return out


def assert_same(whole, chunked):
    for w, c in zip(whole, chunked):
        assert torch.equal(w[4], c[4])  # the same points were chosen
        assert c[0] == pytest.approx(w[0], rel=1e-5)
        assert torch.allclose(c[1], w[1], rtol=1e-5, atol=1e-8)
        for a, b in zip(w[2], c[2]):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
        if w[3] is not None:  # Soft Mining's coordinate gradients
            assert torch.allclose(w[3], c[3], rtol=1e-4, atol=1e-6 * float(w[3].abs().max()))


@pytest.mark.parametrize("strategy", ["standard", "uniform", "int", "nint", "evos", "evos_no_cfs", "evos_no_crossover",
                                      "soft_mining", "expansive", "egra"])
def test_chunked_step_gives_the_unchunked_gradient(strategy):
    # 1024 or 204 points in chunks of 100 (an uneven last chunk); EVOS: a fitness step, then sparse steps
    # with the Laplacian term; Soft Mining: the importance-weighted loss and the coordinate gradients
    assert_same(run_steps(strategy, 0, steps=4), run_steps(strategy, 100, steps=4))


def test_the_chunked_step_weights_each_chunk_by_its_share():
    model, coords, targets = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, _ = optimization_step(model, optimizer, coords, targets, chunk=0)
    whole = [p.grad.clone() for p in model.parameters()]
    chunked_loss, _ = optimization_step(model, optimizer, coords, targets, chunk=100)
    assert float(chunked_loss) == pytest.approx(float(loss), rel=1e-6)
    assert all(torch.allclose(a, p.grad, rtol=1e-4, atol=1e-7) for a, p in zip(whole, model.parameters()))


def test_chunked_forward_gives_the_same_selection():
    model, coords, targets = problem()
    picks = []
    for chunk in (0, 100):
        sampler = sampler_for("int")
        picks.append(sampler.select(SelectionContext(0, 20, model, coords, targets, forward_chunk=chunk)).indices)
    assert torch.equal(picks[0], picks[1])


def test_auto_sizes_and_slices():
    assert chunk_points("auto", "cpu", "step") == 4096 and chunk_points("auto", "cuda", "forward") == 1 << 20
    assert chunk_points(0, "cpu", "step") == 0 and chunk_points(500, "cuda", "step") == 500
    assert chunk_slices(10, 0) == [slice(0, 10)] and chunk_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]


def test_run_records_the_resolved_chunks(tiny_image, tmp_path):
    import yaml
    from conftest import run_tiny, tiny_config
    summary, run_dir = run_tiny(tiny_config(tiny_image, tmp_path, iterations=10))
    with open(f"{run_dir}/config.yaml") as f:
        saved = yaml.safe_load(f)["TRAIN_CONFIGS"]
    assert (saved["forward_chunk"], saved["step_chunk"]) == (4096, 4096)


@pytest.mark.parametrize("value", ["big", -1, 1.5, True])
def test_bad_chunk_values_are_one_line_errors(value):
    with pytest.raises(UserError, match="step_chunk"):
        load_config("image", overrides=[f"TRAIN_CONFIGS.step_chunk={value}"])
