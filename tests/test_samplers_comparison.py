"""The comparison samplers of SPEC.md 5: EVOS (with and without CFS), Expansive Supervision, EGRA, Soft Mining.

Tiny sizes throughout (32x32 or 64x64 images, 2x32 SIRENs, at most 30 steps).
"""
import csv
import os

import numpy as np
import pytest
import torch

from models import build_model
from samplers import build_sampler
from samplers.base import SelectionContext
from samplers.egra import DEFAULTS as EGRA_DEFAULTS
from samplers.evos import DEFAULTS as EVOS_DEFAULTS
from samplers.evos import crossover, fitness_steps
from samplers.expansive import DEFAULTS as EXPANSIVE_DEFAULTS
from samplers.expansive import adjusted_canny
from samplers.image_structure import canny_edges, grayscale
from samplers.soft_mining import DEFAULTS as SOFT_MINING_DEFAULTS
from utils.engine.config import load_config
from utils.errors import UserError
from utils.tasks.image import ImageTask, load_image
from utils.engine.trainer import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "images", "01.png")
SAMPLERS = ("evos", "evos_no_cfs", "expansive", "egra", "soft_mining")
CPU = torch.device("cpu")


def make_cfg(strategy, *overrides, size=32):
    return load_config("image", overrides=[
        f"EXP_CONFIGS.strategy_type={strategy}", f"DATASET_CONFIGS.file_path={IMAGE}",
        f"DATASET_CONFIGS.img_size={size}", "TRAIN_CONFIGS.lpips=0", "TRAIN_CONFIGS.progress=0",
        "TRAIN_CONFIGS.device=cpu", "model_config.hidden_layers=2", "model_config.hidden_features=32",
        *overrides])


def setup(strategy, *overrides, size=32, seed=0):
    cfg = make_cfg(strategy, *overrides, size=size)
    task = ImageTask(cfg, CPU)
    torch.manual_seed(seed)
    model = build_model(cfg["model_config"], task.in_features, task.out_features)
    sampler = build_sampler(cfg, task.n_points, torch.Generator().manual_seed(seed), signal=task.signal)
    return cfg, task, model, sampler


def one_step(sampler, step, model, coords, targets, predict=None):
    """What the trainer does with a sampler at one step (without the optimizer update)."""
    ctx = SelectionContext(step, sampler.total_steps, model, coords, targets)
    selection = sampler.select(ctx)
    x = selection.coords if selection.coords is not None else coords[selection.indices]
    y = selection.targets if selection.targets is not None else targets[selection.indices]
    if sampler.needs_coord_grads:
        x = x.detach().requires_grad_(True)
    predictions = model(x) if predict is None else predict(x, y)
    loss, point_losses = sampler.training_loss(selection, predictions, y)
    if loss.requires_grad:
        loss.backward()
    sampler.observe(selection, point_losses.detach(), x.grad if sampler.needs_coord_grads else None)
    return selection


# -- every sampler: budget, distinct points, determinism ------------------------------------------
@pytest.mark.parametrize("strategy", SAMPLERS)
def test_batch_follows_the_scheduler_with_distinct_points(strategy):
    # A linear scheduler makes B change every step; EVOS gets fitness steps at 0, 5, 9, ...
    _, task, model, sampler = setup(strategy, "nint.batch_size_scheduler=linear", "TRAIN_CONFIGS.iterations=20",
                                    "evos.fitness_interval_start=5", "evos.fitness_interval_end=3")
    fitness = set(fitness_steps(20, 5, 3))
    for step in range(12):
        selection = one_step(sampler, step, model, task.coords, task.targets)
        n = len(selection.indices)
        if strategy.startswith("evos") and step in fitness:
            assert n == task.n_points  # a fitness step trains on every point
            continue
        assert n == sampler.batch_size(step), (step, n)
        assert int(selection.indices.min()) >= 0 and int(selection.indices.max()) < task.n_points
        if strategy == "soft_mining":  # continuous positions (they may share a nearest pixel)
            assert selection.coords.shape == (n, 2) and selection.targets.shape == (n, 3)
            assert float(selection.coords.abs().max()) <= 1.0
        else:
            assert len(torch.unique(selection.indices)) == n, f"repeated points at step {step}"


@pytest.mark.parametrize("strategy", SAMPLERS)
def test_a_fixed_seed_gives_the_same_selections(strategy):
    runs = []
    for _ in range(2):
        _, task, model, sampler = setup(strategy, "TRAIN_CONFIGS.iterations=20", "evos.fitness_interval_start=4",
                                        "evos.fitness_interval_end=4", seed=3)
        runs.append([one_step(sampler, s, model, task.coords, task.targets) for s in range(8)])
    for a, b in zip(*runs):
        assert torch.equal(a.indices, b.indices)
        if a.coords is not None:
            assert torch.equal(a.coords, b.coords)
    # ...and the selections do change from step to step (they are not all the same draw)
    assert not all(torch.equal(runs[0][1].indices, s.indices) for s in runs[0][2:])


@pytest.mark.parametrize("strategy", ("evos", "expansive", "egra", "soft_mining"))
@pytest.mark.parametrize("modality", ("audio", "sdf"))
def test_structure_samplers_refuse_other_modalities(strategy, modality):
    cfg = make_cfg(strategy)
    with pytest.raises(UserError, match=f"not defined for the {modality} modality"):
        build_sampler(cfg, 1000, torch.Generator().manual_seed(0), signal={"modality": modality})


@pytest.mark.parametrize("modality,in_features", (("audio", 1), ("sdf", 3)))
def test_evos_without_cfs_works_on_every_modality(modality, in_features):
    cfg = make_cfg("evos_no_cfs", "TRAIN_CONFIGS.iterations=10", "evos.fitness_interval_start=3",
                   "evos.fitness_interval_end=3")
    n = 500
    coords, targets = torch.rand(n, in_features) * 2 - 1, torch.rand(n, 1)
    torch.manual_seed(0)
    model = build_model(cfg["model_config"], in_features, 1)
    sampler = build_sampler(cfg, n, torch.Generator().manual_seed(0), signal={"modality": modality})
    sizes = [len(one_step(sampler, s, model, coords, targets).indices) for s in range(6)]
    assert sizes == [n, 100, 100, n, 100, 100]


# -- EVOS ---------------------------------------------------------------------------------------------
def test_evos_fitness_gap_falls_linearly_from_100_to_50():
    steps = fitness_steps(5000, 100, 50)
    gaps = np.diff(steps)
    assert steps[:3] == [0, 100, 199]
    assert gaps[0] == 100 and 50 <= gaps[-1] <= 51
    assert all(a >= b for a, b in zip(gaps, gaps[1:]))  # never grows
    assert len(steps) == 70


def test_evos_picks_the_stale_top_plus_mutation():
    _, task, model, sampler = setup("evos_no_cfs", "TRAIN_CONFIGS.iterations=100")
    N, B = task.n_points, sampler.batch_size(1)
    n_mut = int(0.5 * 0.2 * N)
    # Fitness step 0: plant errors that rank point i by a known random permutation.
    rank = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    planted = lambda x, y: y + (rank.float() / N).unsqueeze(1) * 0.5  # noqa: E731
    assert len(one_step(sampler, 0, model, task.coords, task.targets, predict=planted).indices) == N
    top = set(torch.argsort(rank)[N - (B - n_mut):].tolist())
    mutations = []
    for step in (1, 2, 3):  # between fitness steps: the stale top, always, plus fresh mutation
        chosen = set(one_step(sampler, step, model, task.coords, task.targets).indices.tolist())
        assert len(chosen) == B and top <= chosen
        mutations.append(chosen - top)
        assert len(mutations[-1]) == n_mut
    assert mutations[0] != mutations[1]


def test_evos_crossover_merges_the_two_rankings():
    l2 = torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9])       # L2 top 4: 6, 7, 8, 9
    lap = torch.tensor([0.0, 8, 7, 0, 0, 0, 1, 2, 9, 10])     # Laplacian top 4: 2, 1, 8, 9
    order = crossover(torch.argsort(l2), l2, lap, n_top=4)
    assert sorted(order.tolist()) == list(range(10))
    # shared {8, 9}; the 2 other places split by mean(L2) 4.5 : mean(Lap) 3.7 -> 1 each,
    # each side taking its own highest: L2-only 7, Laplacian-only 1
    assert set(order[-4:].tolist()) == {8, 9, 7, 1}
    assert order[-2:].tolist() == [8, 9]  # the shared points are the very top


def test_evos_laplacian_term_only_in_the_first_cfs_steps():
    _, task, model, sampler = setup("evos", "TRAIN_CONFIGS.iterations=100", "evos.cfs_steps=10")
    _, _, _, plain = setup("evos_no_cfs", "TRAIN_CONFIGS.iterations=100")
    predictions = task.targets + 0.1 * torch.randn(task.targets.shape, generator=torch.Generator().manual_seed(0))
    extra = []
    for step in (0, 10):
        ctx = SelectionContext(step, 100, model, task.coords, task.targets)
        sampler.order = plain.order = None  # force a fitness step
        selection = sampler.select(ctx)
        plain.select(ctx)
        extra.append(float(sampler.training_loss(selection, predictions, task.targets)[0]
                           - plain.training_loss(selection, predictions, task.targets)[0]))
    assert extra[0] > 1e-3 and extra[1] == 0.0


# -- Expansive Supervision -----------------------------------------------------------------------------
def test_canny_thresholds_are_in_0_255_units():
    step = np.zeros((20, 20))
    step[:, 10:] = 0.1  # a 25.5-level step: Sobel magnitude 4 * 25.5 = 102 in 0-255 units
    assert canny_edges(step, 90, 100).sum() > 0
    assert canny_edges(step, 110, 120).sum() == 0


@pytest.mark.parametrize("xi", (0.5, 0.7))
@pytest.mark.parametrize("name", ("01", "02", "03", "12", "14"))
def test_expansive_edge_area_lands_at_xi_b_over_n(name, xi):
    gray = grayscale(load_image(os.path.join(ROOT, "images", f"{name}.png"), 128))
    target = xi * 0.2  # xi * B / N with B = 20% of N
    area = adjusted_canny(gray, target).mean()
    assert abs(area - target) <= 0.2 * target, area


def test_expansive_always_trains_on_every_anchor():
    _, task, model, sampler = setup("expansive", "TRAIN_CONFIGS.iterations=30", "nint.batch_size_scheduler=linear",
                                    size=64)
    anchors = set(sampler.anchors.tolist())
    assert len(anchors) == int(0.5 * sampler.batch_size(0))  # the dilated edges exceed the budget: trimmed
    fills = []
    for step in (0, 5, 17, 29):
        chosen = one_step(sampler, step, model, task.coords, task.targets).indices.tolist()
        assert anchors <= set(chosen) and len(chosen) == sampler.batch_size(step)
        fills.append(set(chosen) - anchors)
    assert fills[0] != fills[1]


# -- EGRA ----------------------------------------------------------------------------------------------
def test_egra_edge_pixels_are_more_likely_by_the_spec_ratio():
    _, task, _, sampler = setup("egra")
    edges = sampler.shifted_edges()
    probs = sampler.probabilities(edges)
    p, q = 0.0025, (1 - 0.0025) * 4096 / 640000
    ratio = float(probs[edges == 1][0] / probs[edges == 0][0])
    assert ratio == pytest.approx((p + q) / q, rel=1e-5)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)


def test_egra_shifts_each_edge_pixel_by_6_to_9():
    image = np.zeros((32, 32, 1), dtype=np.float32)
    image[:, 16:] = 1.0  # one vertical edge
    cfg = make_cfg("egra")
    sampler = build_sampler(cfg, 32 * 32, torch.Generator().manual_seed(0),
                            signal={"modality": "image", "shape": (32, 32), "image": image})
    original = set(sampler.edge_indices.tolist())
    shifted = torch.nonzero(sampler.shifted_edges()).reshape(-1).tolist()
    # every shifted pixel lies 6..9 flat indices after some edge pixel (wrapping), and no
    # edge pixel stays put (the edge columns are narrower than the smallest offset)
    assert shifted and all(any((s - k) % 1024 in original for k in range(6, 10)) for s in shifted)
    assert len(shifted) <= len(original) and not set(shifted) & original


# -- Soft Mining ---------------------------------------------------------------------------------------
def test_soft_mining_points_move_toward_a_high_loss_region():
    _, task, model, sampler = setup("soft_mining", "TRAIN_CONFIGS.iterations=100", size=64)
    centre = torch.tensor([0.5, -0.4])  # (row, col) in [-1, 1]

    def planted(x, y):  # the error is high around `centre` and falls off slowly away from it
        d2 = (x - centre).pow(2).sum(dim=1, keepdim=True)
        return y + 0.5 / torch.sqrt(1.0 + d2 / 0.09)

    def near_share(selection):
        return float(((selection.coords - centre).norm(dim=1) < 0.4).float().mean())

    shares = [near_share(one_step(sampler, s, model, task.coords, task.targets, predict=planted)) for s in range(8)]
    assert shares[0] < 0.2                  # about the region's share of the square at the start
    assert shares[-1] > 2.5 * shares[0], shares


def test_soft_mining_importance_weights():
    _, _, _, sampler = setup("soft_mining", "TRAIN_CONFIGS.iterations=100")
    l1 = torch.tensor([0.01, 0.1, 0.2, 0.5, 1.0])
    predictions, targets = l1.unsqueeze(1).repeat(1, 3), torch.zeros(5, 3)
    sampler._step = 0  # r = 0: every weight is 1
    assert torch.allclose(sampler.importance_weights(predictions, targets), torch.ones(5))
    sampler._step = 5000  # r = alpha = 0.6, clamped to [0.2, mean + std]
    c = l1.reciprocal().pow(0.6)
    expected = c.clamp(min=0.2, max=float(c.mean() + c.std()))
    assert torch.allclose(sampler.importance_weights(predictions, targets), expected)


def test_soft_mining_targets_are_bilinear_between_pixels():
    _, task, _, sampler = setup("soft_mining")
    h, w = task.height, task.width
    img = task.targets.reshape(h, w, 3)
    # halfway between pixel (3, 4) and (3, 5), and at pixel (10, 7) exactly
    coords = torch.tensor([[-1 + 2 * 3 / (h - 1), -1 + 2 * 4.5 / (w - 1)], [-1 + 2 * 10 / (h - 1), -1 + 2 * 7 / (w - 1)]])
    values = sampler.interpolate(task.targets, coords)
    assert torch.allclose(values[0], (img[3, 4] + img[3, 5]) / 2, atol=1e-6)
    assert torch.allclose(values[1], img[10, 7], atol=1e-6)


# -- configuration -------------------------------------------------------------------------------------
def test_yaml_sections_mirror_the_sampler_defaults():
    cfg = make_cfg("uniform")
    for section, defaults in (("evos", EVOS_DEFAULTS), ("expansive", EXPANSIVE_DEFAULTS),
                              ("egra", EGRA_DEFAULTS), ("soft_mining", SOFT_MINING_DEFAULTS)):
        assert cfg[section] == defaults, section


@pytest.mark.parametrize("override", ("expansive.xi=1.5", "egra.p=-1", "soft_mining.snap_to_pixels=2",
                                      "evos.fitness_interval_end=0", "evos.mutation_ratio=2"))
def test_bad_sampler_settings_are_one_line_errors(override):
    with pytest.raises(UserError):
        make_cfg("uniform", override)


# -- end to end ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", SAMPLERS)
def test_thirty_steps_raise_psnr(strategy, tmp_path):
    cfg = make_cfg(strategy, "TRAIN_CONFIGS.iterations=30", "TRAIN_CONFIGS.eval_interval=5", "TRAIN_CONFIGS.lr=0.001",
                   f"TRAIN_CONFIGS.out_root={tmp_path}", "evos.fitness_interval_start=10",
                   "evos.fitness_interval_end=10")
    task = ImageTask(cfg, CPU)
    os.makedirs(tmp_path / "run")
    summary = train(cfg, task, str(tmp_path / "run"), CPU, log=lambda *a: None)
    assert summary["status"] == "completed"
    with open(tmp_path / "run" / "metrics.csv") as f:
        psnr = [float(row["psnr"]) for row in csv.DictReader(f)]
    assert len(psnr) == 6 and psnr[-1] > psnr[0] + 1.0, psnr


@pytest.mark.parametrize("strategy", ("evos", "soft_mining"))
def test_resume_matches_an_uninterrupted_run(strategy, tmp_path):
    # the two samplers that carry state between steps (ranking, stale predictions; positions, feedback)
    from utils.engine.trainer import Interrupted
    cfg = make_cfg(strategy, "TRAIN_CONFIGS.iterations=16", "TRAIN_CONFIGS.eval_interval=8", "TRAIN_CONFIGS.lr=0.001",
                   "evos.fitness_interval_start=5", "evos.fitness_interval_end=5")
    task = ImageTask(cfg, CPU)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    os.makedirs(whole), os.makedirs(parts)
    expected = train(cfg, task, str(whole), CPU, log=lambda *a: None)["final_psnr"]
    with pytest.raises(Interrupted):
        train(cfg, task, str(parts), CPU, stop_at=7, log=lambda *a: None)
    assert train(cfg, task, str(parts), CPU, resume=True, log=lambda *a: None)["final_psnr"] == expected
