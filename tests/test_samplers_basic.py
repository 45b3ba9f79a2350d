"""Standard, Uniform and INT; the shared re-selection behaviour of every sampler."""
import pytest
import torch

from samplers import build_sampler
from samplers.base import SelectionContext
from utils.engine.config import load_config


class Recorder(torch.nn.Module):
    """A 'model' whose predictions are fixed, so errors are known exactly."""

    def __init__(self, predictions):
        super().__init__()
        self.predictions = predictions

    def forward(self, x):
        return self.predictions[: len(x)]


def make(strategy, n=1000, *overrides, iterations=100):
    cfg = load_config("image", overrides=[f"EXP_CONFIGS.strategy_type={strategy}",
                                          f"TRAIN_CONFIGS.iterations={iterations}", *overrides])
    return build_sampler(cfg, n, torch.Generator().manual_seed(0), signal={"modality": "image"})


def ctx(step, n=1000, predictions=None, targets=None, total=100):
    coords = torch.zeros(n, 2)
    targets = torch.zeros(n, 3) if targets is None else targets
    predictions = torch.randn(n, 3) if predictions is None else predictions
    return SelectionContext(step, total, Recorder(predictions), coords, targets)


def test_standard_uses_every_point():
    s = make("standard")
    for step in (0, 5, 50):
        assert torch.equal(s.select(ctx(step)).indices, torch.arange(1000))


def test_uniform_batch_size_and_uniqueness():
    s = make("uniform")
    seen = set()
    for step in range(5):
        idx = s.select(ctx(step)).indices
        assert len(idx) == 200 and len(set(idx.tolist())) == 200
        seen.add(tuple(sorted(idx.tolist())))
    assert len(seen) == 5  # re-drawn every step (dense)


def test_uniform_follows_scheduler():
    s = make("uniform", 1000, "nint.batch_size_scheduler=step", iterations=100)
    assert len(s.select(ctx(0)).indices) == 200
    assert len(s.select(ctx(50)).indices) == 200 + 5 * 80


def test_int_picks_exactly_top_b_by_l1():
    torch.manual_seed(1)
    preds = torch.randn(1000, 3)
    targets = torch.randn(1000, 3)
    s = make("int")
    idx = s.select(ctx(0, predictions=preds, targets=targets)).indices
    l1 = (preds - targets).abs().sum(1)
    assert set(idx.tolist()) == set(l1.argsort(descending=True)[:200].tolist())


def test_interval_reuses_indices_between_reselections():
    s = make("uniform", 1000, "nint.sample_interval=dense2", "nint.dense2_period=5")
    first = s.select(ctx(0)).indices
    for step in (1, 2, 3, 4):
        assert torch.equal(s.select(ctx(step)).indices, first)
    assert not torch.equal(s.select(ctx(5)).indices, first)


def test_same_seed_same_selection():
    a, b = make("uniform"), make("uniform")
    for step in range(3):
        assert torch.equal(a.select(ctx(step)).indices, b.select(ctx(step)).indices)


def test_context_runs_one_forward_for_many_consumers():
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return torch.zeros(len(x), 3)

    c = SelectionContext(0, 10, Counting(), torch.zeros(50, 2), torch.ones(50, 3))
    c.errors(), c.errors(), c.predictions()
    assert len(calls) == 1
    assert torch.allclose(c.errors(), torch.full((50,), 3.0))


RELEASE_SELECTIONS = {5000: {"dense": 5000, "dense2": 1000, "incremental": 1422, "decremental": 2157},
                      1000: {"dense": 1000, "dense2": 200, "incremental": 285, "decremental": 432}}


@pytest.mark.parametrize("scheduler", ["constant", "linear", "step"])
@pytest.mark.parametrize("total", [5000, 1000])
def test_selection_counts_match_the_releases_under_every_scheduler(scheduler, total):
    """The releases re-select only when the interval says so, whatever B does in between."""
    n = 50
    for interval, expected in RELEASE_SELECTIONS[total].items():
        s = make("uniform", n, f"nint.sample_interval={interval}", f"nint.batch_size_scheduler={scheduler}",
                 iterations=total)
        c = SelectionContext(0, total, Recorder(torch.zeros(n, 3)), torch.zeros(n, 2), torch.zeros(n, 3))
        for step in range(total):
            c.step = step
            s.select(c)
        assert s.counts()["selections"] == expected, interval
        assert s.counts()["full_forwards"] == 0


def test_batch_size_lags_the_scheduler_until_the_next_reselection():
    s = make("uniform", 1000, "nint.sample_interval=dense2", "nint.batch_size_scheduler=linear", iterations=100)
    sizes = [len(s.select(ctx(step)).indices) for step in range(6)]
    assert sizes[:5] == [200] * 5            # B grows every step, the batch of step 0 is reused
    assert sizes[5] == int((0.2 + 0.05 * 0.8) * 1000)


def test_reselect_on_resize_option():
    s = make("uniform", 1000, "nint.sample_interval=dense2", "nint.batch_size_scheduler=linear",
             "nint.reselect_on_resize=1", iterations=100)
    sizes = [len(s.select(ctx(step)).indices) for step in range(4)]
    assert sizes == [int((0.2 + st / 100 * 0.8) * 1000) for st in range(4)]
    assert s.counts()["selections"] == 4


def test_int_counts_one_full_forward_per_selection():
    s = make("int", 1000, "nint.sample_interval=dense2", "nint.dense2_period=2")
    for step in range(10):
        s.select(ctx(step))
    assert s.counts() == {"selections": 5, "full_forwards": 5}
