"""NINT: exact NTK scores, chunking, the three streams and the refresh/decay schedule (SPEC.md 6)."""
import math
import os

import pytest
import torch
from torch.func import functional_call, jacrev

from conftest import run_tiny, tiny_config
from models import build_model
from samplers import build_sampler
from samplers.base import SelectionContext
from samplers.nint import ntk_scores, ntk_scores_from_targets
from utils.engine.config import load_config


def tiny_siren(layers=2, width=16, inp=2, out=3, seed=0):
    torch.manual_seed(seed)
    return build_model({"name": "siren", "hidden_layers": layers, "hidden_features": width}, inp, out)


def explicit_scores(model, coords, residual):
    """||J J^T g||^2 per point with J formed explicitly (float64)."""
    params = {k: p.detach() for k, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    jac = jacrev(lambda p: functional_call(model, (p, buffers), (coords,)))(params)
    n, c = residual.shape
    J = torch.cat([jac[k].reshape(n * c, -1) for k in params], dim=1).double()
    w = J @ (J.T @ residual.reshape(-1).double())
    return w.reshape(n, c).pow(2).sum(dim=1)


@pytest.mark.parametrize("method", ["func", "mlp"])
def test_scores_match_explicit_jacobian(method):
    model = tiny_siren()
    torch.manual_seed(1)
    x, g = torch.rand(64, 2) * 2 - 1, torch.randn(64, 3)
    ref = explicit_scores(model, x, g)
    got = ntk_scores(model, x, g, method=method).double()
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


class WithBuffer(torch.nn.Module):
    """Fourier features from a fixed buffer, then a tanh MLP: exercises buffers in functional_call."""

    def __init__(self):
        super().__init__()
        self.register_buffer("B", torch.randn(2, 8) * 3)
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    def forward(self, x):
        p = x @ self.B
        return self.net(torch.cat([p.sin(), p.cos()], dim=1))


def test_scores_for_any_module_with_buffers():
    torch.manual_seed(0)
    model = WithBuffer()
    x, g = torch.rand(40, 2), torch.randn(40, 2)
    ref = explicit_scores(model, x, g)
    got = ntk_scores(model, x, g).double()
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    assert ntk_scores(model, x, g, method="auto").shape == (40,)  # no fast path: falls back to torch.func


@pytest.mark.parametrize("method", ["func", "mlp"])
def test_chunked_equals_unchunked(method):
    model = tiny_siren(3, 32)
    torch.manual_seed(2)
    x, g = torch.rand(300, 2) * 2 - 1, torch.randn(300, 3)
    full = ntk_scores(model, x, g, method=method)
    for chunk in (13, 64, 299, 1000):
        assert torch.allclose(ntk_scores(model, x, g, chunk_size=chunk, method=method), full, rtol=1e-4, atol=1e-6)


def test_scores_from_targets_reuse_forward():
    model = tiny_siren()
    x, y = torch.rand(50, 2), torch.rand(50, 3)
    with torch.no_grad():
        pred = model(x)
    for method in ("func", "mlp"):
        scores, predictions = ntk_scores_from_targets(model, x, y, method=method)
        assert torch.allclose(predictions, pred, atol=1e-6)
        assert torch.allclose(scores, ntk_scores(model, x, pred - y), rtol=1e-5)


# ---------------------------------------------------------------------------------- sampler

N = 400


def make_sampler(*overrides, strategy="nint", iterations=1000):
    cfg = load_config("image", overrides=[f"EXP_CONFIGS.strategy_type={strategy}",
                                          f"TRAIN_CONFIGS.iterations={iterations}", *overrides])
    return build_sampler(cfg, N, torch.Generator().manual_seed(0), signal={"modality": "image"})


@pytest.fixture(scope="module")
def problem():
    model = tiny_siren()
    torch.manual_seed(3)
    side = int(math.sqrt(N))
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
    coords = torch.stack([rows, cols], -1).reshape(-1, 2)
    return model, coords, torch.rand(N, 3)


def ctx(problem, step):
    model, coords, targets = problem
    return SelectionContext(step, 1000, model, coords, targets)


def run_calls(sampler, problem, calls):
    """Run `calls` selections (dense interval: one per step); return each call's streams."""
    out = []
    for step in range(calls):
        sampler.select(ctx(problem, step))
        out.append({k: v.clone() for k, v in sampler.last_streams.items()})
    return out


def test_stream_sizes_and_disjointness(problem):
    s = make_sampler()
    streams = run_calls(s, problem, 65)
    B = 80
    for call in (1, 2, 9, 10, 11, 20, 35, 50, 59, 60, 65):
        st = streams[call - 1]
        idx = torch.cat(list(st.values()))
        assert len(idx) == B and len(set(idx.tolist())) == B  # disjoint, exactly B
    # Expected counts from the release schedule at a few calls.
    def counts(p):
        n_ntk = int(B * p)
        n_err = int(B * (1 - 0.7 - p))
        return n_ntk, n_err, B - n_ntk - n_err
    p1 = 0.3 * math.exp(-1)
    for call, p in ((1, p1), (9, p1), (10, p1), (19, p1), (20, 0.3 * math.exp(-2)), (50, 0.3 * math.exp(-5))):
        st = streams[call - 1]
        assert (len(st["ntk"]), len(st["error"]), len(st["random"])) == counts(p), call
    st = streams[64]  # stream off: 70% random + 30% error
    assert (len(st["ntk"]), len(st["error"]), len(st["random"])) == (0, 24, 56)


def test_refresh_calls_of_the_release_schedule(problem):
    s = make_sampler()
    run_calls(s, problem, 70)
    assert s.refresh_calls == [1, 10, 20, 30, 40, 50]
    assert not s.ntk_active and s.p_ntk == 0.0


def test_cached_top_indices_reused_between_refreshes(problem):
    s = make_sampler()
    streams = run_calls(s, problem, 12)
    for call in range(2, 10):
        assert torch.equal(streams[call - 1]["ntk"], streams[0]["ntk"])
    model, coords, targets = problem
    with torch.no_grad():
        scores = ntk_scores(model, coords, model(coords) - targets)
    assert set(streams[0]["ntk"].tolist()) == set(scores.topk(len(streams[0]["ntk"])).indices.tolist())


def test_error_stream_is_top_error_among_the_rest(problem):
    s = make_sampler()
    st = run_calls(s, problem, 1)[0]
    model, coords, targets = problem
    with torch.no_grad():
        err = (model(coords) - targets).abs().sum(1)
    err[st["ntk"]] = -float("inf")
    assert set(st["error"].tolist()) == set(err.topk(len(st["error"])).indices.tolist())


def test_xi_one_is_all_random(problem):
    s = make_sampler("nint.xi=1.0")
    for st in run_calls(s, problem, 12):
        assert len(st["ntk"]) == 0 and len(st["error"]) == 0 and len(st["random"]) == 80
    assert s.refresh_calls == []


def test_p_ntk_zero_is_70_30_random_error(problem):
    s = make_sampler("nint.lambda=100")  # p_ntk = 0.3 exp(floor(-10)) < 1e-3 at the first call
    for st in run_calls(s, problem, 5):
        assert (len(st["ntk"]), len(st["error"]), len(st["random"])) == (0, 24, 56)


def test_paper_decay(problem):
    s = make_sampler("nint.ntk_decay=paper")
    streams = run_calls(s, problem, 21)
    # refresh at call 1 (step 0): p = 0.3; at call 10 (step 9): 0.3 exp(-0.9); call 20 (step 19): 0.3 exp(-1.9)
    assert len(streams[0]["ntk"]) == int(80 * 0.3)
    assert len(streams[9]["ntk"]) == int(80 * 0.3 * math.exp(-0.9))
    assert len(streams[19]["ntk"]) == int(80 * 0.3 * math.exp(-1.9))


def test_proportional_sampling_variant(problem):
    s = make_sampler("nint.top_k=0")
    st = run_calls(s, problem, 1)[0]
    idx = torch.cat(list(st.values()))
    assert len(set(idx.tolist())) == 80 and len(st["ntk"]) == int(80 * 0.3 * math.exp(-1))


def test_refresh_counts_selection_calls_not_steps(problem):
    s = make_sampler("nint.sample_interval=dense2")
    for step in range(40):
        s.select(ctx(problem, step))
    assert s.selection_calls == 20 and s.refresh_calls == [1, 10, 20]


def test_works_with_every_scheduler(problem):
    for scheduler in ("linear", "step", "cosine"):
        s = make_sampler(f"nint.batch_size_scheduler={scheduler}", iterations=100)
        for step in (0, 50, 99):
            idx = s.select(SelectionContext(step, 100, *problem)).indices
            assert len(idx) == s.batch_size(step) and len(set(idx.tolist())) == len(idx)


def test_no_ntk_ablation(problem):
    s = make_sampler(strategy="nint_no_ntk")
    st = run_calls(s, problem, 1)[0]
    p = 0.3 * math.exp(-1)
    assert len(st["ntk"]) == 0 and len(st["error"]) == int(80 * p) + int(80 * (0.3 - p))
    assert s.ntk_order is None


def test_selection_maps_written(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=nint", "nint.save_selection_maps=1",
                      "nint.selection_map_steps=[0,10]", iterations=12)
    _, run_dir = run_tiny(cfg)
    for name in ("selection_maps.png", "selection_step000000.png", "selection_step000010.png"):
        assert os.path.isfile(os.path.join(run_dir, name))


def test_selection_maps_between_reselections(tiny_image, tmp_path):
    """With dense2 (period 5) step 11 is no re-selection: its map is the next selection's, step 15."""
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=nint", "nint.save_selection_maps=1",
                      "nint.sample_interval=dense2", "nint.dense2_period=5",
                      "nint.selection_map_steps=[0,11,12,100]", iterations=20)
    _, run_dir = run_tiny(cfg)
    written = sorted(n for n in os.listdir(run_dir) if n.startswith("selection_step"))
    assert written == ["selection_step000000.png", "selection_step000015.png"]  # 11 and 12 share one map
