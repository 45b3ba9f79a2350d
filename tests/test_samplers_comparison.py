"""The comparison samplers (docs/methods.md): EVOS (with and without CFS, without crossover), Expansive Supervision, EGRA, Soft Mining.

Tiny sizes throughout (32x32 or 64x64 images, 2x32 SIRENs, at most 30 steps; one EVOS count
test drives the sampler alone for 1,600 steps on a 16x16 image).
"""
import csv
import json
import os

import numpy as np
import pytest
import torch

from models import build_model
from samplers import build_sampler, make_sampler
from samplers.base import SelectionContext
from samplers.evos import crossover, fitness_steps
from samplers.expansive import adjusted_canny, release_canny, upper_threshold_factor
from samplers.image_structure import canny_edges, dilate_2x2, grayscale, soft_mining_sobel_map
from utils.engine.config import load_config
from utils.errors import UserError
from utils.tasks.image import ImageTask, load_image
from utils.engine.trainer import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "images", "01.png")
SAMPLERS = ("evos", "evos_no_cfs", "evos_no_crossover", "expansive", "egra", "soft_mining")
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
    """The trainer's calls on a sampler at one step (utils/engine/trainer.py), without the
    optimizer update; predict(x, y): planted predictions instead of model(x)."""
    selection = sampler.select(SelectionContext(step, sampler.total_steps, model, coords, targets))
    x, y = selection.points(coords, targets)
    loss, point_losses = sampler.training_loss(selection, model(x) if predict is None else predict(x, y), y)
    if loss.requires_grad:
        loss.backward()
    sampler.observe(selection, point_losses.detach(), x.grad)
    return selection


# -- every sampler: budget, distinct points, determinism ------------------------------------------
@pytest.mark.parametrize("strategy", SAMPLERS)
def test_batch_follows_the_scheduler_with_distinct_points(strategy):
    # A linear scheduler makes B change every step; EVOS gets its fitness steps by the release's rule
    _, task, model, sampler = setup(strategy, "nint.batch_size_scheduler=linear", "TRAIN_CONFIGS.iterations=20",
                                    "evos.fitness_interval_start=5", "evos.fitness_interval_end=3")
    fitness = set(fitness_steps(20, 5, 3))
    for step in range(12):
        selection = one_step(sampler, step, model, task.coords, task.targets)
        n = len(selection.indices)
        if strategy.startswith("evos") and step in fitness:
            assert n == task.n_points  # a fitness step trains on every point
            continue
        if strategy == "expansive":  # the release's fill: int(a N) anchors + int((r - a) N) can be B - 1
            assert sampler.batch_size(step) - 1 <= n <= sampler.batch_size(step), (step, n)
        else:
            assert n == sampler.batch_size(step), (step, n)
        assert int(selection.indices.min()) >= 0 and int(selection.indices.max()) < task.n_points
        if strategy == "soft_mining":  # nearest pixels of continuous positions: they may coincide
            assert selection.coords is None and selection.targets is None  # snapped: grid points, exact values
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


@pytest.mark.parametrize("strategy", ("evos", "evos_no_cfs", "expansive", "egra", "soft_mining"))
@pytest.mark.parametrize("modality", ("audio", "sdf"))
def test_structure_samplers_refuse_other_modalities(strategy, modality):
    cfg = make_cfg(strategy)
    with pytest.raises(UserError, match=f"not defined for the {modality} modality"):
        build_sampler(cfg, 1000, torch.Generator().manual_seed(0), signal={"modality": modality})


@pytest.mark.parametrize("modality,in_features", (("audio", 1), ("sdf", 3)))
def test_evos_without_crossover_works_on_every_modality(modality, in_features):
    cfg = make_cfg("evos_no_crossover", "TRAIN_CONFIGS.iterations=10", "evos.fitness_interval_start=3",
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
    """evos.fitness_rule: last_gap (the option): each gap the interval at the last fitness step."""
    steps = fitness_steps(5000, 100, 50, "last_gap")
    gaps = np.diff(steps)
    assert steps[:3] == [0, 100, 199]
    assert gaps[0] == 100 and 50 <= gaps[-1] <= 51
    assert all(a >= b for a, b in zip(gaps, gaps[1:]))  # never grows
    assert len(steps) == 70


def test_evos_picks_the_stale_top_plus_mutation():
    _, task, model, sampler = setup("evos_no_crossover", "TRAIN_CONFIGS.iterations=100")
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
    # An L2 share that rounds to 0 (L2 errors tiny beside the Laplacian's): the release slices the
    # L2-only list with [-0:], i.e. takes all of it, and those points end above the Laplacian-only
    # ones, so the top 4 is the L2 top {6, 7, 8, 9}.
    order = crossover(torch.argsort(l2), 1e-6 * l2, lap, n_top=4)
    assert sorted(order.tolist()) == list(range(10))
    assert set(order[-4:].tolist()) == {6, 7, 8, 9}


def gray_sampler(strategy, image, *overrides, value_range=(0.0, 1.0)):
    """An EVOS sampler on a hand-made grayscale image [H, W] in [0, 1] (100 steps unless overridden)."""
    h, w = image.shape
    cfg = make_cfg(strategy, "TRAIN_CONFIGS.iterations=100", *overrides)
    signal = {"modality": "image", "shape": (h, w), "image": image[..., None].astype(np.float32),
              "value_range": value_range}
    return build_sampler(cfg, h * w, torch.Generator().manual_seed(0), signal=signal)


def planted_image(size=8):
    image = np.random.default_rng(0).uniform(0.2, 0.8, (size, size))
    image[0, 0], image[-1, -1] = 0.0, 1.0  # full range: the release's min-max stretch is 2u - 1
    return image


def run_step(sampler, step, targets, bump_at=None, bump=0.0):
    """select + training_loss at `step` with predictions = targets + `bump` at one point.

    Returns (the Laplacian part of the loss: loss - MSE, the selection)."""
    n = len(targets)
    ctx = SelectionContext(step, sampler.total_steps, None, torch.zeros(n, 2), targets)
    selection = sampler.select(ctx)
    y = targets[selection.indices]
    predictions = y.clone()
    if bump_at is not None:
        predictions[(selection.indices == bump_at).nonzero()[0]] += bump
    loss, point_losses = sampler.training_loss(selection, predictions, y)
    return float(loss - point_losses.mean()), selection


@pytest.mark.parametrize("value_range,scale", (((0.0, 1.0), 1.0), ((-1.0, 1.0), 2.0)))
def test_evos_laplacian_loss_follows_the_release_rule_and_units(value_range, scale):
    # The release (loss = MSE on [-1, 1] min-max values + 1e-5 * Laplacian MSE in 0-255 units):
    #  - a fitness step adds the term over the whole image, at any step (here also step 60 > cfs_steps = 10);
    #  - a sparse step before cfs_steps adds it over the chosen pixels of the last fitness image with this
    #    step's predictions put in; from cfs_steps on a sparse step adds nothing.
    # A bump d (in [0, 1] image units) at one interior pixel of an otherwise exact image has a Laplacian
    # error of -4 * 255 d there and 255 d at its 4 neighbours. The release's MSE is (2 / span)^2 times
    # ours in [0, 1] (span = 1 here: 4x) and equal to ours in [-1, 1]; our weight is 1e-5 / that factor.
    image = planted_image()
    lo, hi = value_range
    targets = torch.from_numpy(image.reshape(-1, 1) * (hi - lo) + lo).float()
    sampler = gray_sampler("evos", image, "evos.cfs_steps=10", "evos.fitness_interval_start=30",
                           "evos.fitness_interval_end=30", value_range=value_range)
    factor = 4.0 / scale ** 2  # the release's MSE over ours
    d, k = 0.1, 3 * 8 + 4      # bump of 0.1 (image units) at pixel (3, 4)
    # fitness step 0, whole image: (16 + 4) (255 d)^2 / 64 pixels
    extra, selection = run_step(sampler, 0, targets, bump_at=k, bump=d * scale)
    assert len(selection.indices) == 64
    assert extra == pytest.approx(1e-5 / factor * 20 * (255 * d) ** 2 / 64, rel=1e-4)
    # sparse step 1 (< cfs_steps): k tops the ranking, so it is chosen, and its exact prediction now
    # replaces the stale bump: an exact image, no term
    extra, selection = run_step(sampler, 1, targets)
    assert k in selection.indices.tolist() and extra == pytest.approx(0.0, abs=1e-9)
    # sparse step 2: a stale bump at an unchosen pixel q shows at its chosen neighbours, (255 d)^2
    # each, averaged over the B chosen pixels (q's own error is not averaged in)
    ctx = SelectionContext(2, 100, None, torch.zeros(64, 2), targets)
    selection = sampler.select(ctx)
    chosen = set(selection.indices.tolist())
    def neighbours(i):
        r, c = divmod(i, 8)
        return {a * 8 + b for a, b in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)) if 0 <= a < 8 and 0 <= b < 8}
    q = next(i for i in range(64) if i not in chosen and neighbours(i) & chosen)
    stale = targets.clone()
    stale[q] += d * scale
    sampler.fitness_predictions = stale  # as if the last fitness step had predicted this
    y = targets[selection.indices]
    loss, point_losses = sampler.training_loss(selection, y.clone(), y)
    expected = len(neighbours(q) & chosen) * (255 * d) ** 2 / len(chosen)
    assert float(loss - point_losses.mean()) == pytest.approx(1e-5 / factor * expected, rel=1e-4)
    # fitness step 30 (>= cfs_steps) with exact predictions: the stale image is exact from now on
    run_step(sampler, 30, targets)
    # sparse step 31, past cfs_steps: MSE only, even with a bump at a chosen pixel j (the first of the
    # ranking's top, chosen at every sparse step until the next fitness step)
    j = int(run_step(sampler, 31, targets)[1].indices[0])
    assert run_step(sampler, 31, targets, bump_at=j, bump=d * scale)[0] == pytest.approx(0.0, abs=1e-9)
    # the same bump before cfs_steps: 16 (255 d)^2 at j and (255 d)^2 at each chosen neighbour, over B
    sampler.cfs_steps = 40
    extra, selection = run_step(sampler, 32, targets, bump_at=j, bump=d * scale)
    chosen = set(selection.indices.tolist())
    expected = (16 + len(neighbours(j) & chosen)) * (255 * d) ** 2 / len(chosen)
    assert extra == pytest.approx(1e-5 / factor * expected, rel=1e-4)
    # a fitness step past cfs_steps still carries the term (the release)
    sampler.cfs_steps = 10
    extra, _ = run_step(sampler, 60, targets, bump_at=k, bump=d * scale)
    assert extra == pytest.approx(1e-5 / factor * 20 * (255 * d) ** 2 / 64, rel=1e-4)


def test_evos_weights_follow_the_images_min_max_stretch():
    # An image spanning [0.25, 0.75]: the release stretches it to [-1, 1], 4x the [0, 1] span, so its
    # MSE is (2 / 0.5)^2 = 16x ours and our Laplacian weight is 1e-5 / 16.
    image = 0.25 + 0.5 * planted_image()
    targets = torch.from_numpy(image.reshape(-1, 1)).float()
    sampler = gray_sampler("evos", image)
    extra, _ = run_step(sampler, 0, targets, bump_at=28, bump=0.1)
    assert extra == pytest.approx(1e-5 / 16 * 20 * 25.5 ** 2 / 64, rel=1e-4)


def test_evos_variants_weights():
    image = planted_image()
    targets = torch.from_numpy(image.reshape(-1, 1)).float()
    full = gray_sampler("evos", image)
    no_cfs = gray_sampler("evos_no_cfs", image)
    no_cross = gray_sampler("evos_no_crossover", image)
    # the release's evos_wo_cfs: no Laplacian loss, the crossover weight stays 1e-5 (release units)
    assert (full.loss_weight, full.crossover_weight) == (pytest.approx(1e-5 / 4), pytest.approx(1e-5 / 4))
    assert (no_cfs.loss_weight, no_cfs.crossover_weight) == (0.0, pytest.approx(1e-5 / 4))
    assert (no_cross.loss_weight, no_cross.crossover_weight) == (0.0, 0.0)
    for sampler in (no_cfs, no_cross):
        assert run_step(sampler, 0, targets, bump_at=28, bump=0.1)[0] == 0.0
        assert run_step(sampler, 1, targets)[0] == 0.0


def test_evos_no_cfs_keeps_the_laplacian_crossover():
    # Errors whose L2 and Laplacian rankings disagree on a 16x16 image: the L2 error rises along the
    # flat index, a checkerboard on the left half makes the Laplacian error large there. With the
    # crossover some Laplacian top points enter the top set; without it the top set is the L2 top.
    image = planted_image(16)
    targets = torch.from_numpy(image.reshape(-1, 1)).float()
    error = torch.linspace(0.0, 0.05, 256).reshape(16, 16)
    error[:, :8] += 0.04 * (torch.arange(16).view(16, 1) + torch.arange(8).view(1, 8)).remainder(2)
    tops = {}
    for strategy in ("evos_no_cfs", "evos_no_crossover"):
        sampler = gray_sampler(strategy, image)
        ctx = SelectionContext(0, 100, None, torch.zeros(256, 2), targets)
        selection = sampler.select(ctx)
        loss, point_losses = sampler.training_loss(selection, targets + error.reshape(-1, 1), targets)
        assert float(loss - point_losses.mean()) == 0.0  # no Laplacian loss in either
        tops[strategy] = set(sampler.order[256 - 26:].tolist())  # B - n_mut = 51 - 25
    l2_top = set(torch.argsort(error.reshape(-1), stable=True)[256 - 26:].tolist())
    assert tops["evos_no_crossover"] == l2_top
    assert tops["evos_no_cfs"] != l2_top and len(tops["evos_no_cfs"]) == 26
    assert all(i % 16 < 8 for i in tops["evos_no_cfs"] - l2_top)  # taken from the checkerboard half


def test_evos_counts_the_release_rule_at_1600_steps():
    # The release adds the Laplacian loss on every step before 1500 and on every fitness step after.
    # Its fitness steps at S = 1600 (epoch % int(100 - epoch / 32) == 1, epoch = step + 1) are 27,
    # one of them (epoch 1509, step 1508) at or after 1500, so 1500 + 1 = 1501 steps carry the term.
    # The sampler is driven as the trainer drives it, without the model (predictions near the targets).
    image = np.random.default_rng(1).uniform(0.0, 1.0, (16, 16))
    targets = torch.from_numpy(image.reshape(-1, 1)).float()
    noise = 0.01 * torch.randn(targets.shape, generator=torch.Generator().manual_seed(0))
    for strategy, cfs in (("evos", 1501), ("evos_no_cfs", 0), ("evos_no_crossover", 0)):
        sampler = gray_sampler(strategy, image, "TRAIN_CONFIGS.iterations=1600")
        carried = []
        for step in range(1600):
            ctx = SelectionContext(step, 1600, None, torch.zeros(256, 2), targets)
            selection = sampler.select(ctx)
            y = targets[selection.indices]
            loss, point_losses = sampler.training_loss(selection, y + noise[selection.indices], y)
            if float(loss - point_losses.mean()) > 0:
                carried.append(step)
        assert sampler.counts()["fitness_steps"] == 27
        assert sampler.counts()["cfs_loss_steps"] == cfs == len(carried), strategy
        if cfs:
            assert carried == list(range(1500)) + [1508]


# -- Expansive Supervision -----------------------------------------------------------------------------
def test_canny_thresholds_are_in_0_255_units():
    step = np.zeros((20, 20))
    step[:, 10:] = 0.1  # a 25.5-level step: Sobel magnitude 4 * 25.5 = 102 in 0-255 units
    assert canny_edges(step, 90, 100).sum() > 0
    assert canny_edges(step, 110, 120).sum() == 0


@pytest.mark.parametrize("xi", (0.5, 0.7))
@pytest.mark.parametrize("name", ("01", "02", "03", "12", "14"))
def test_expansive_bisection_lands_the_edge_area_at_xi_r0(name, xi):
    gray = grayscale(load_image(os.path.join(ROOT, "images", f"{name}.png"), 128))
    target = xi * 0.2  # the anchor ratio a = xi * r0 with r0 = 0.2
    area = adjusted_canny(gray, target).mean()
    assert abs(area - target) <= 0.2 * target, area


def test_expansive_release_factor_on_the_upper_threshold():
    # 1 + 15 (area - target), worked by hand
    assert upper_threshold_factor(0.3, 0.1) == pytest.approx(4.0)
    assert upper_threshold_factor(0.05, 0.1) == pytest.approx(0.25)
    assert upper_threshold_factor(0.0, 0.1) == pytest.approx(-0.5)   # the factor can flip the sign
    assert upper_threshold_factor(0.1, 0.1) == pytest.approx(1.0)


def test_expansive_release_search_moves_only_the_upper_threshold():
    gray = np.zeros((10, 10))
    gray[:, 5:] = 0.8
    calls, areas = [], iter([0.2, 0.11])  # first map 0.2 (target 0.1), then 0.11: inside [0.08, 0.12]

    def fake_canny(g, low, high, sigma):
        calls.append((low, high))
        return np.arange(100).reshape(10, 10) < round(next(areas) * 100)

    edges, rounds, reached = release_canny(gray, 0.1, canny=fake_canny)
    assert rounds == 1 and reached and edges.mean() == pytest.approx(0.11)
    (low0, high0), (low1, high1) = calls
    assert low0 == pytest.approx(0.5 * high0) and high0 > 0
    assert low1 == low0                         # the lower threshold never moves
    assert high1 == pytest.approx(2.5 * high0)  # 1 + 15 (0.2 - 0.1)


def test_expansive_release_search_gives_up_after_100_rounds():
    calls = []

    def stuck(g, low, high, sigma):  # the area never changes: 0.3 against a target of 0.1
        calls.append(high)
        return np.arange(100).reshape(10, 10) < 30

    _, rounds, reached = release_canny(np.linspace(0, 1, 100).reshape(10, 10), 0.1, canny=stuck)
    assert (rounds, reached, len(calls)) == (100, False, 101)
    assert calls[1] / calls[0] == pytest.approx(4.0) and calls[-1] / calls[-2] == pytest.approx(4.0)


def test_dilate_2x2_grows_down_and_right_as_opencv():
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 2] = mask[4, 4] = True
    grown = {tuple(p) for p in np.argwhere(dilate_2x2(mask)).tolist()}
    assert grown == {(2, 2), (2, 3), (3, 2), (3, 3), (4, 4)}  # the corner pixel cannot grow further


def test_expansive_anchors_and_fill_follow_the_release_rule():
    # 64x64, r0 = 0.2, xi = 0.5: a = 0.1, anchors int(0.1 * 4096) = 409 (the dilated edges exceed
    # the budget), fill int((r - 0.1) * 4096) with r the linear scheduler's ratio 0.2 + 0.8 s / 30
    _, task, model, sampler = setup("expansive", "TRAIN_CONFIGS.iterations=30", "nint.batch_size_scheduler=linear",
                                    size=64)
    anchors = set(sampler.anchors.tolist())
    assert len(anchors) == 409
    expected = {0: (819, 409), 5: (1365, 955), 15: (2457, 2048), 29: (3986, 3577)}  # step: (B, fill)
    fills = []
    for step, (b, n_fill) in expected.items():
        chosen = one_step(sampler, step, model, task.coords, task.targets).indices.tolist()
        assert anchors <= set(chosen) and len(chosen) == 409 + n_fill and len(set(chosen)) == len(chosen)
        assert sampler.batch_size(step) == b
        fills.append(set(chosen) - anchors)
    assert fills[0] != fills[1]
    counts = sampler.counts()
    assert counts["anchors"] == 409 and counts["selections"] == 4
    assert counts["fill_points"] == 409 + 955 + 2048 + 3577
    assert counts["batch_deficit"] == (819 - 818) + (1365 - 1364) + 0 + 0


def test_expansive_short_anchors_keep_the_release_fill():
    # One vertical step edge: far fewer dilated edge pixels than the budget of int(0.1 * 4096) = 409.
    image = np.zeros((64, 64, 3), dtype=np.float32)
    image[:, 32:] = 1.0
    signal = {"modality": "image", "shape": (64, 64), "image": image}
    sizes = {}
    for fill in ("release", "batch"):
        cfg = make_cfg("expansive", f"expansive.fill={fill}", size=64)
        sampler = build_sampler(cfg, 4096, torch.Generator().manual_seed(0), signal=signal)
        n_anchors = len(sampler.anchors)
        assert 0 < n_anchors < 409 and sampler.counts()["band_reached"] == 0
        ctx = SelectionContext(0, sampler.total_steps, None, torch.zeros(4096, 2), torch.zeros(4096, 3))
        sizes[fill] = len(sampler.select(ctx).indices)
        assert sampler.counts()["batch_deficit"] == 819 - sizes[fill]
    assert sizes == {"release": n_anchors + 409, "batch": 819}


def test_expansive_release_search_on_a_shipped_image_misses_the_band_but_not_the_budget():
    # docs/methods.md, Expansive Supervision: 02.png at 256x256, xi 0.5, r0 0.2. The release's rule
    # runs its 100 rounds without reaching [0.08, 0.12]; the dilated edges still exceed int(0.1 N).
    cfg = make_cfg("expansive", f"DATASET_CONFIGS.file_path={os.path.join(ROOT, 'images', '02.png')}", size=256)
    task = ImageTask(cfg, CPU)
    sampler = build_sampler(cfg, task.n_points, torch.Generator().manual_seed(0), signal=task.signal)
    counts = sampler.counts()
    assert counts["canny_rounds"] == 100 and counts["band_reached"] == 0
    assert counts["anchors"] == 6553  # int(0.1 * 65536)
    assert sampler.fill_count(0, sampler.batch_size(0)) == 6553  # int((0.2 - 0.1) * 65536): batch 13106 = B - 1


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
        return float(((task.coords[selection.indices] - centre).norm(dim=1) < 0.4).float().mean())

    shares = [near_share(one_step(sampler, s, model, task.coords, task.targets, predict=planted)) for s in range(8)]
    assert shares[0] < 0.2                  # about the region's share of the square at the start
    assert shares[-1] > 2.5 * shares[0], shares


def test_soft_mining_trains_on_the_nearest_pixel_with_its_exact_value():
    _, task, model, sampler = setup("soft_mining", "TRAIN_CONFIGS.iterations=100")
    h, w = task.height, task.width
    grid_rows = torch.linspace(-1, 1, h)
    off_grid = 0
    for step in range(5):
        selection = one_step(sampler, step, model, task.coords, task.targets)
        assert selection.coords is None and selection.targets is None  # the trainer indexes the grid
        u = sampler.positions  # continuous (row, col) in [0, 1] after this step's move
        rows = torch.floor(u[:, 0] * (h - 1) + 0.5).long()  # nearest pixel, by hand
        cols = torch.floor(u[:, 1] * (w - 1) + 0.5).long()
        assert torch.equal(selection.indices, rows * w + cols)
        x = task.coords[selection.indices]
        assert torch.equal(x[:, 0], grid_rows[rows])  # a pixel centre of the task's grid
        assert torch.equal(task.targets[selection.indices], task.targets.reshape(h, w, 3)[rows, cols])
        off_grid += int(((u * (h - 1)) - (u * (h - 1)).round()).abs().gt(1e-4).any(dim=1).sum())
    assert off_grid > 0  # the positions themselves did leave the grid: snapping did something


def test_soft_mining_bilinear_option_trains_off_the_grid():
    _, task, model, sampler = setup("soft_mining", "soft_mining.snap_to_pixels=0", "TRAIN_CONFIGS.iterations=100")
    for step in range(3):
        selection = one_step(sampler, step, model, task.coords, task.targets)
    assert torch.allclose(selection.coords, 2 * sampler.positions - 1)
    assert torch.allclose(selection.targets, sampler.interpolate(task.targets, selection.coords))


def test_soft_mining_sobel_map_by_hand():
    # 3x6 gray image: a bright pixel (1.0) at (1, 1) and a dimmer one (0.5) at (1, 4). Zero-padded
    # Sobel around a single pixel: corners sqrt(2) v, edge midpoints 2 v, centre 0.
    image = np.zeros((3, 6, 1))
    image[1, 1], image[1, 4] = 1.0, 0.5
    s2 = np.sqrt(2.0) / 2.0
    left = np.array([[s2, 1.0, s2], [1.0, 1e-5, 1.0], [s2, 1.0, s2]])
    by_column = soft_mining_sobel_map(image)  # every column divided by its own maximum (2 or 1)
    assert np.allclose(by_column, np.hstack([left, left]), atol=1e-6)
    by_image = soft_mining_sobel_map(image, "image")  # one maximum: 2
    right = left / 2.0
    right[1, 1] = 1e-5
    assert np.allclose(by_image, np.hstack([left, right]), atol=1e-6)


def test_soft_mining_sobel_map_grayscale_weights():
    # a red pixel and a green one: gray 0.2989 and 0.5870; one maximum, 2 * 0.5870
    image = np.zeros((3, 6, 3))
    image[1, 1, 0], image[1, 4, 1] = 1.0, 1.0
    m = soft_mining_sobel_map(image, "image")
    assert m[0, 1] == pytest.approx(0.2989 / 0.5870, rel=1e-6) and m[0, 4] == pytest.approx(1.0, rel=1e-6)


def test_soft_mining_sobel_map_matches_scipy_zero_padding():
    import scipy.ndimage as ndi
    image = np.random.default_rng(0).random((17, 23, 3))
    gray = image @ np.array([0.2989, 0.5870, 0.1140])
    magnitude = np.hypot(ndi.sobel(gray, axis=1, mode="constant", cval=0.0),
                         ndi.sobel(gray, axis=0, mode="constant", cval=0.0))
    expected = np.clip(magnitude / (magnitude.max(axis=0) + 1e-7), 1e-5, 1.0)
    assert np.allclose(soft_mining_sobel_map(image), expected, rtol=1e-10, atol=1e-12)
    flat = soft_mining_sobel_map(np.full((4, 5, 3), 0.3))  # zero padding: the border of a flat image is an edge
    assert flat[0, 0] == pytest.approx(1.0) and flat[2, 2] == pytest.approx(1e-5)


def test_soft_mining_redraws_from_the_sobel_map_of_the_target():
    _, task, _, sampler = setup("soft_mining")
    expected = soft_mining_sobel_map(task.image).reshape(-1)
    assert torch.allclose(sampler.edge_probs.double(), torch.from_numpy(expected / expected.sum()), rtol=1e-5)


def test_soft_mining_redraw_counts():
    # 32x32, B = int(0.2 * 1024) = 204: a move re-draws the int(0.1 B) + 1 = 21 lowest losses from the
    # Sobel map and the last int(0.1 B) = 20 points uniformly (unless a Sobel draw overwrites them)
    _, task, _, sampler = setup("soft_mining", "soft_mining.b=0")
    B = 204
    sampler.positions = torch.full((B, 2), 0.5)
    sampler.drift = torch.zeros(B, 2)
    sampler.ranking_loss = torch.arange(B, dtype=torch.float32)  # lowest at the front: no overlap
    sampler._langevin_step()
    assert sampler.counts()["redrawn_sobel"] == 21 and sampler.counts()["redrawn_uniform"] == 20
    sampler.drift = torch.zeros(B, 2)
    sampler.drift[100:105, 0] = 1.0  # five points pushed past the border
    sampler.positions = torch.full((B, 2), 0.5)
    sampler.ranking_loss = torch.arange(B, 0, -1, dtype=torch.float32)  # lowest 21 = the last 21: covers the tail
    sampler._langevin_step()
    assert sampler.counts() == {"selections": 0, "full_forwards": 0, "langevin_steps": 2,
                                "redrawn_points": 21 + 20 + 26 + 0, "redrawn_sobel": 21 + 26,
                                "redrawn_uniform": 20 + 0}


def test_soft_mining_importance_weights():
    _, _, _, sampler = setup("soft_mining", "TRAIN_CONFIGS.iterations=100")
    l1 = torch.tensor([0.01, 0.1, 0.2, 0.5, 1.0])
    predictions, targets = l1.unsqueeze(1).repeat(1, 3), torch.zeros(5, 3)
    sampler._step = 0  # the release's first step is 1: r = 1 / 1000
    c = l1.reciprocal().pow(0.001)  # 1.00462, 1.00231, 1.00161, 1.00069, 1; mean + std = 1.00363
    expected = c.clamp(min=0.2, max=float(c.mean() + c.std()))
    weights = sampler.importance_weights(predictions, targets)
    assert torch.allclose(weights, expected)
    assert float(weights[0]) == pytest.approx(1.003625, abs=2e-6)  # clamped at mean + std
    assert float(weights[1]) == pytest.approx(10 ** 0.001, rel=1e-6) and float(weights[-1]) == 1.0
    sampler._step = 5000  # r = alpha = 0.6, clamped to [0.2, mean + std]
    c = l1.reciprocal().pow(0.6)
    expected = c.clamp(min=0.2, max=float(c.mean() + c.std()))
    assert torch.allclose(sampler.importance_weights(predictions, targets), expected)


def test_soft_mining_targets_are_bilinear_between_pixels():
    _, task, _, sampler = setup("soft_mining", "soft_mining.snap_to_pixels=0")
    h, w = task.height, task.width
    img = task.targets.reshape(h, w, 3)
    # halfway between pixel (3, 4) and (3, 5), and at pixel (10, 7) exactly
    coords = torch.tensor([[-1 + 2 * 3 / (h - 1), -1 + 2 * 4.5 / (w - 1)], [-1 + 2 * 10 / (h - 1), -1 + 2 * 7 / (w - 1)]])
    values = sampler.interpolate(task.targets, coords)
    assert torch.allclose(values[0], (img[3, 4] + img[3, 5]) / 2, atol=1e-6)
    assert torch.allclose(values[1], img[10, 7], atol=1e-6)


# -- configuration -------------------------------------------------------------------------------------
def test_config_sections_hold_the_release_defaults():
    # The release's values (docs/methods.md), written out here, against what a run resolves.
    cfg = make_cfg("uniform")
    assert cfg["evos"] == {"fitness_interval_start": 100, "fitness_interval_end": 50, "fitness_rule": "release",
                           "mutation_ratio": 0.5,
                           "cfs_steps": 1500, "cfs_loss_weight": 1e-5, "crossover_weight": 1e-5}
    assert cfg["expansive"] == {"xi": 0.5, "canny_sigma": 0.0, "threshold_search": "release", "fill": "release"}
    assert cfg["egra"] == {"low_threshold": 30.0, "high_threshold": 40.0, "canny_sigma": 0.0, "p": 0.0025,
                           "base_rate": 4096 / 640000, "shift_min": 6, "shift_max": 9}
    assert cfg["soft_mining"] == {"a": 20.0, "b": 0.02, "resample_low_loss": 0.1, "uniform_share": 0.1,
                                  "alpha": 0.6, "warmup": 1000, "correction_min": 0.2, "snap_to_pixels": 1,
                                  "sobel_normalise": "column"}


@pytest.mark.parametrize("override", ("expansive.xi=1.5", "egra.p=-1", "soft_mining.snap_to_pixels=2",
                                      "soft_mining.sobel_normalise=max", "expansive.fill=all",
                                      "expansive.threshold_search=grid",
                                      "evos.fitness_interval_end=0", "evos.mutation_ratio=2",
                                      "evos.cfs_loss_weight=-1", "evos.crossover_weight=-1e-5"))
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
    if strategy.startswith("evos"):  # summary.json's sampler block: fitness steps 0, 10, 20; the Laplacian
        with open(tmp_path / "run" / "summary.json") as f:  # loss on every step (all before cfs_steps)
            counts = json.load(f)["sampler"]
        assert counts["fitness_steps"] == 3
        assert counts["cfs_loss_steps"] == (30 if strategy == "evos" else 0)


@pytest.mark.parametrize("strategy", ("evos", "soft_mining", "expansive"))
def test_resume_matches_an_uninterrupted_run(strategy, tmp_path):
    # the samplers that carry state between steps (EVOS: ranking, the last fitness step's predictions
    # behind the sparse steps' Laplacian loss, counts; Soft Mining: positions, feedback, re-draw counts;
    # Expansive: anchors and fill counts)
    from utils.engine.trainer import Interrupted
    cfg = make_cfg(strategy, "TRAIN_CONFIGS.iterations=16", "TRAIN_CONFIGS.eval_interval=8", "TRAIN_CONFIGS.lr=0.001",
                   "evos.fitness_interval_start=5", "evos.fitness_interval_end=5")
    task = ImageTask(cfg, CPU)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    os.makedirs(whole), os.makedirs(parts)
    expected = train(cfg, task, str(whole), CPU, log=lambda *a: None)
    with pytest.raises(Interrupted):
        train(cfg, task, str(parts), CPU, stop_at=7, log=lambda *a: None)
    resumed = train(cfg, task, str(parts), CPU, resume=True, log=lambda *a: None)
    assert resumed["final_psnr"] == expected["final_psnr"]
    assert resumed["sampler"] == expected["sampler"]


def test_summary_counts_of_soft_mining_and_expansive(tmp_path):
    # 32x32, B = 204, 12 dense steps: 11 Langevin moves, each re-drawing at least the 21 lowest losses from
    # the Sobel map and at most the 20 tail points uniformly; Expansive: int(0.1 * 1024) = 102 anchors and
    # int(0.1 * 1024) = 102 fill points per selection (batch 204 = B)
    summaries = {}
    for strategy in ("soft_mining", "expansive"):
        cfg = make_cfg(strategy, "TRAIN_CONFIGS.iterations=12", "TRAIN_CONFIGS.eval_interval=12")
        os.makedirs(tmp_path / strategy)
        summaries[strategy] = train(cfg, ImageTask(cfg, CPU), str(tmp_path / strategy), CPU,
                                    log=lambda *a: None)["sampler"]
    soft = summaries["soft_mining"]
    assert soft["selections"] == 12 and soft["langevin_steps"] == 11
    assert soft["redrawn_sobel"] >= 11 * 21 and 0 < soft["redrawn_uniform"] <= 11 * 20
    assert soft["redrawn_points"] == soft["redrawn_sobel"] + soft["redrawn_uniform"]
    es = summaries["expansive"]
    assert (es["anchors"], es["fill_points"], es["batch_deficit"]) == (102, 12 * 102, 0)


# -- EVOS's fitness steps: the release's rule by default, ours as an option --------------------------
def test_evos_fitness_steps_follow_the_release_rule():
    """The release: a fitness step where epoch % int(interval(epoch)) == 1 (epochs from 1): 72 steps in
    5000 with gaps 4 to 158; evos.fitness_rule=last_gap spaces each gap by the interval at the last one (70)."""
    release = fitness_steps(5000, 100, 50)
    gaps = [b - a for a, b in zip(release, release[1:])]
    assert len(release) == 72 and min(gaps) == 4 and max(gaps) == 158 and release[:3] == [0, 99, 196]
    for s in release:  # the release's own test, step by step
        assert (s + 1) % int(100 + (50 - 100) * (s + 1) / 5000) == 1 or s == 0
    assert len(fitness_steps(5000, 100, 50, "last_gap")) == 70 and len(fitness_steps(1600, 100, 50)) == 27
    default = make_sampler("evos_no_crossover", n_points=64, total_steps=5000)
    assert default.fitness_at == set(release)
    ours = make_sampler("evos_no_crossover", n_points=64, total_steps=5000, fitness_rule="last_gap")
    assert ours.fitness_at == set(fitness_steps(5000, 100, 50, "last_gap"))


def test_soft_mining_drift_is_the_release_one_for_any_value_range():
    """The release computes the drift in [-1, 1]-stretched values; ours is multiplied by k^r so that the
    same image error moves the points alike in [0, 1] and in [-1, 1] (k = 2 / ((hi - lo) span))."""
    drifts, gains = {}, {}
    for lo, hi in ((0.0, 1.0), (-1.0, 1.0)):
        _, task, model, sampler = setup("soft_mining", "soft_mining.warmup=1", "soft_mining.correction_min=0",
                                        f"DATASET_CONFIGS.value_range=[{lo:g}, {hi:g}]")

        def predict(x, y):  # the same image error in both ranges: (hi - lo) times a [0, 1] error
            return y + (hi - lo) * 0.05 * (1.5 + torch.sin(3 * x[:, :1] + 2 * x[:, 1:]))  # above the eps floor

        one_step(sampler, 0, model, task.coords, task.targets, predict=predict)
        drifts[hi - lo], gains[hi - lo] = sampler.drift, sampler.release_gain
    assert gains[1.0] == pytest.approx(2 * gains[2.0])
    assert drifts[1.0].abs().max() > 0
    assert torch.allclose(drifts[1.0], drifts[2.0], rtol=1e-4, atol=1e-9)  # without k^r: 2^0.6 = 1.52x apart
