"""The generic NTK path (samplers/ntk.py, any nn.Module): J v by reverse over reverse, checked
against an explicit Jacobian built one output at a time by plain backward passes."""
import math
import warnings

import pytest
import torch
from torch import nn

import samplers.ntk as nint
from samplers.ntk import _func_vjp_jvp, ntk_scores, ntk_scores_from_targets


class UserSiren(nn.Module):
    """A SIREN written as a user would: nn.Linear and torch.sin, no pointwise_mlp()."""

    def __init__(self, layers=2, width=12, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        dims = [2] + [width] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(width, 3)
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                bound = 1.0 / layer.in_features if i == 0 else math.sqrt(6.0 / layer.in_features) / 30.0
                layer.weight.uniform_(-bound, bound)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.sin(30.0 * layer(x))
        return self.out(x)


def jacobian_by_rows(model, coords):
    """J [N*C, P]: row r is d output_r / d (trained) params, one plain backward per output entry."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = model(coords).reshape(-1)
    rows = []
    for r in range(out.numel()):
        grads = torch.autograd.grad(out[r], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)]))
    return torch.stack(rows)


def explicit_scores(model, coords, residual):
    J = jacobian_by_rows(model, coords)
    w = J @ (J.T @ residual.reshape(-1))
    return w.reshape(residual.shape).pow(2).sum(dim=1)


def problem(n=10, seed=1, model=None):
    model = (model or UserSiren()).double()
    torch.manual_seed(seed)
    coords = torch.rand(n, 2, dtype=torch.float64) * 2 - 1
    targets = torch.rand(n, 3, dtype=torch.float64)
    return model, coords, targets


@pytest.mark.parametrize("chunk", [None, 3, 10])
def test_generic_path_matches_explicit_jacobian(chunk):
    model, coords, targets = problem()
    residual = model(coords).detach() - targets
    expected = explicit_scores(model, coords, residual)
    assert expected.min() > 0  # a real test: no zero scores to hide behind
    got = ntk_scores(model, coords, residual, chunk_size=chunk, method="func")
    assert torch.allclose(got, expected, rtol=1e-9, atol=0)
    scores, predictions = ntk_scores_from_targets(model, coords, targets, chunk_size=chunk, method="auto")
    assert torch.allclose(scores, expected, rtol=1e-9, atol=0)
    assert torch.allclose(predictions, model(coords).detach(), rtol=1e-12, atol=1e-15)


def test_forward_mode_reference_agrees():
    model, coords, targets = problem()
    residual = model(coords).detach() - targets
    reverse, _ = _func_vjp_jvp(model, coords, residual=residual, chunk_size=4)
    forward, _ = _func_vjp_jvp(model, coords, residual=residual, chunk_size=4, tangent="jvp")
    assert torch.allclose(reverse, forward, rtol=1e-10, atol=0)
    with pytest.raises(ValueError):
        _func_vjp_jvp(model, coords, residual=residual, tangent="linearize")


def test_chunks_beyond_the_memory_budget_use_forward_mode(monkeypatch):
    """With no room for kept graphs, every chunk but the last gets J v by torch.func.jvp."""
    model, coords, targets = problem(n=11)
    residual = model(coords).detach() - targets
    expected = explicit_scores(model, coords, residual)
    calls = []
    real = nint._jvp_pass

    def counting(*args):
        calls.append(args[3].shape[0])
        return real(*args)

    monkeypatch.setattr(nint, "_jvp_pass", counting)
    monkeypatch.setitem(nint.ACTIVATION_CACHE_BYTES, "cpu", 0)
    got = ntk_scores(model, coords, residual, chunk_size=4, method="func")
    assert calls == [4, 4]  # chunks 0 and 1; chunk 2 (3 points) kept its graph
    assert torch.allclose(got, expected, rtol=1e-9, atol=0)
    calls.clear()
    monkeypatch.setitem(nint.ACTIVATION_CACHE_BYTES, "cpu", 1 << 40)
    assert torch.allclose(ntk_scores(model, coords, residual, chunk_size=4, method="func"), expected, rtol=1e-9)
    assert calls == []


class OnceDifferentiableSine(torch.autograd.Function):
    """sin whose backward cannot itself be differentiated (forward mode is defined)."""

    @staticmethod
    def forward(x):
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.cos()

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return tangent * x.cos()


class CustomFunctionNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b = nn.Linear(2, 8), nn.Linear(8, 2)

    def forward(self, x):
        return self.b(OnceDifferentiableSine.apply(3.0 * self.a(x)))


def test_falls_back_to_forward_mode_when_the_backward_is_not_differentiable():
    torch.manual_seed(4)
    model = CustomFunctionNet().double()
    coords = torch.rand(7, 2, dtype=torch.float64)
    residual = torch.randn(7, 2, dtype=torch.float64)

    class Plain(CustomFunctionNet):  # the same function with torch.sin, for the explicit Jacobian
        def forward(self, x):
            return self.b(torch.sin(3.0 * self.a(x)))

    plain = Plain().double()
    plain.load_state_dict(model.state_dict())
    expected = explicit_scores(plain, coords, residual)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ntk_scores(model, coords, residual, chunk_size=3, method="func")
    assert torch.allclose(got, expected, rtol=1e-9)  # not silently missing the first layer's share
    assert any("torch.func.jvp" in str(w.message) for w in caught)


class WithUnusedAndBuffer(nn.Module):
    """A parameter that never reaches the output (its Jacobian columns are zero) and a buffer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.register_buffer("freq", torch.randn(2, 4) * 2)
        self.lin = nn.Linear(8, 3)
        self.unused = nn.Parameter(torch.randn(5))

    def forward(self, x):
        p = x @ self.freq
        return self.lin(torch.cat([p.sin(), p.cos()], dim=1))


def test_unused_parameters_and_buffers():
    model, coords, targets = problem(model=WithUnusedAndBuffer())
    residual = model(coords).detach() - targets
    expected = explicit_scores(model, coords, residual)
    assert torch.allclose(ntk_scores(model, coords, residual, chunk_size=4), expected, rtol=1e-9)


def test_leaves_the_model_and_its_gradients_alone():
    model, coords, targets = problem()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # the sampler may be called with gradients off
        ntk_scores_from_targets(model, coords, targets, method="func")
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_frozen_parameters_are_not_part_of_the_kernel():
    """As in the release: the NTK of training is over the parameters that are trained."""
    model, coords, targets = problem()
    residual = model(coords).detach() - targets
    with_all = explicit_scores(model, coords, residual)
    model.hidden[0].requires_grad_(False)
    expected = explicit_scores(model, coords, residual)
    assert not torch.allclose(expected, with_all, rtol=1e-3)
    for chunk in (None, 4):
        assert torch.allclose(ntk_scores(model, coords, residual, chunk_size=chunk), expected, rtol=1e-9)
        assert torch.allclose(_func_vjp_jvp(model, coords, residual=residual, chunk_size=chunk, tangent="jvp")[0],
                              expected, rtol=1e-9)


def test_a_model_with_nothing_to_train_scores_zero():
    model, coords, targets = problem()
    model.requires_grad_(False)
    scores, predictions = ntk_scores_from_targets(model, coords, targets, method="func")
    assert torch.equal(scores, torch.zeros(10, dtype=torch.float64))
    assert torch.allclose(predictions, model(coords))


# -- memory caps: fixed on a CPU, from the free memory on CUDA ---------------------------------------

def test_ntk_memory_caps_on_cuda_come_from_the_free_memory(monkeypatch):
    free = {"bytes": 4 << 30}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 12 << 30))
    cuda = torch.device("cuda")
    assert nint.memory_limits(cuda, 1000) == (2 << 30, 1 << 18)   # a roomy card: half the free memory, 2^18 points
    free["bytes"] = 1 << 30                                       # a busy 12 GB card
    assert nint.memory_limits(cuda, 10_000) == (1 << 29, int(0.25 * (1 << 30) / 30_000))
    free["bytes"] = 1 << 20                                       # nearly full: the smallest chunk, no cache to speak of
    assert nint.memory_limits(cuda, 10_000) == (1 << 19, nint.CUDA_MIN_CHUNK)


def test_ntk_memory_caps_on_a_cpu_stay_fixed(monkeypatch):
    def never(*a, **k):
        raise AssertionError("mem_get_info on a CPU")

    monkeypatch.setattr(torch.cuda, "mem_get_info", never)
    assert nint.memory_limits(torch.device("cpu"), 10 ** 9) == (2 << 30, 16384)


@pytest.mark.parametrize("method", ["func", "mlp"])
def test_both_paths_take_their_chunk_and_cache_from_the_memory_caps(monkeypatch, method):
    from models import build_model
    model = build_model({"name": "siren", "hidden_layers": 2, "hidden_features": 16}, 2, 3).double()
    torch.manual_seed(0)
    coords, residual = torch.rand(50, 2, dtype=torch.float64), torch.rand(50, 3, dtype=torch.float64)
    expected = ntk_scores(model, coords, residual, method=method)
    asked = []

    def limits(device, bytes_per_point):
        asked.append(device.type)
        return 0, 7  # no cache, chunks of 7 points

    monkeypatch.setattr(nint, "memory_limits", limits)
    sizes = []
    real = nint._mlp_forward if method == "mlp" else nint.functional_call
    if method == "mlp":
        monkeypatch.setattr(nint, "_mlp_forward", lambda layers, x: (sizes.append(len(x)), real(layers, x))[1])
    else:
        monkeypatch.setattr(nint, "functional_call", lambda m, p, args: (sizes.append(len(args[0])), real(m, p, args))[1])
    assert torch.allclose(ntk_scores(model, coords, residual, method=method), expected, rtol=1e-9)
    assert asked == ["cpu"] and max(sizes) == 7
