"""NINT: NTK-guided implicit neural teaching (CVPR 2026), SPEC.md 6.

Score. With g = f(x) - y the loss gradient for every point and channel (flattened
to N*C), the NTK-augmented gradient is w = K g = J (J^T g), J the N*C x P Jacobian
of the outputs with respect to the parameters. K and J are never formed: one
vector-Jacobian product gives v = J^T g (a P-vector), one Jacobian-vector product
gives w = J v. A point's score is the squared L2 norm of its C entries of w.

Batch. Of B points at a selection: n_ntk = int(B p_ntk) by the highest score,
n_err = int(B (1 - xi - p_ntk)) by the highest L1 error among the rest, and the
remainder uniformly at random among the rest; the three sets are disjoint.

Schedule (default `ntk_decay: release`, as in the released code): counting selection
calls c = 1, 2, ..., scores are recomputed at c = 1 and whenever c % alpha == 0, with
p_ntk = (1 - xi) exp(floor(-lambda c / alpha)); between refreshes the saved top indices
are reused; below 1e-3 the stream is off for good. With the defaults that is 6 score
computations (c = 1, 10, ..., 50), after which NINT is 70% random + 30% top error.
`ntk_decay: paper` uses p_ntk = (1 - xi) exp(-lambda t / alpha), t the step, at the
same refresh calls.
"""
import math

import numpy as np
import torch
from torch.func import functional_call, jvp, vjp

from samplers.base import Sampler, Selection

P_NTK_OFF = 1e-3                   # below this the NTK stream is switched off for good
# Automatic chunk size (points): on a CPU, chunks that stay in cache are faster than one
# big pass (measured 1.45 s vs 2.37 s for 65,536 points, benchmarks/ntk_cost.py); on a GPU
# large chunks keep it busy. Either way memory stays bounded for any N.
AUTO_CHUNK_POINTS = {"cpu": 16384, "cuda": 262144}
# The fast path keeps the forward's activations for the tangent pass up to this size
# (beyond it, each chunk's forward is recomputed: one extra forward per score).
ACTIVATION_CACHE_BYTES = {"cpu": 2 << 30, "cuda": 8 << 30}


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------

def _chunks(n: int, chunk_size, device):
    """Slices covering range(n) in pieces of chunk_size (None = automatic for the device)."""
    if chunk_size is None or chunk_size <= 0:
        chunk_size = AUTO_CHUNK_POINTS.get(device.type, AUTO_CHUNK_POINTS["cuda"])
    return [slice(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]


def _func_vjp_jvp(model, coords, residual=None, targets=None, chunk_size=None):
    """torch.func path for any nn.Module: v = J^T g by VJP, then w = J v by JVP, chunk by chunk.

    Give `residual` [N, C], or `targets` [N, C] to take g = f(x) - y from the VJP's own
    forward (no separate forward pass). Returns (scores [N], predictions [N, C] or None).
    """
    params = {k: p.detach() for k, p in model.named_parameters()}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    pieces = _chunks(coords.shape[0], chunk_size, coords.device)

    def f(p, x):
        return functional_call(model, (p, buffers), (x,))

    v = None
    predictions = [] if targets is not None else None
    for sl in pieces:
        x = coords[sl]
        out, pullback = vjp(lambda p: f(p, x), params)
        if targets is not None:
            predictions.append(out.detach())
            g = out.detach() - targets[sl]
        else:
            g = residual[sl]
        (vc,) = pullback(g.to(out.dtype))
        v = vc if v is None else {k: v[k] + vc[k] for k in v}

    scores = []
    for sl in pieces:
        x = coords[sl]
        _, w = jvp(lambda p: f(p, x), (params,), (v,))
        scores.append(w.pow(2).sum(dim=1))
    return torch.cat(scores), (torch.cat(predictions) if predictions is not None else None)


def _mlp_forward(layers, x):
    """Forward through [(linear, activation)] keeping what the backward and tangent passes need:
    per layer its input h and, for activated layers, dh/dz. Returns (output, cache)."""
    cache = []
    h = x
    for linear, act in layers:
        z = torch.nn.functional.linear(h, linear.weight, linear.bias)
        if act is None:
            cache.append((h, None))
            h = z
        else:
            h_next, dz = act(z)
            cache.append((h, dz))
            h = h_next
    return h, cache


def _mlp_vjp(layers, cache, g, v):
    """Accumulate J^T g into v (a list of [dW, db] per layer), by the chain rule backwards."""
    delta = g
    for i in range(len(layers) - 1, -1, -1):
        h, dz = cache[i]
        if dz is not None:
            delta = delta * dz
        v[i][0].addmm_(delta.t(), h)
        v[i][1].add_(delta.sum(dim=0))
        if i > 0:
            delta = delta @ layers[i][0].weight


def _mlp_tangent(layers, cache, v):
    """J v: forward-mode pass over a cached forward. dz = dW h + W dh + db, dh = h'(z) dz."""
    dh = None  # the input coordinates carry no tangent
    for (linear, _), (h, dz), (dW, db) in zip(layers, cache, v):
        t = torch.addmm(db, h, dW.t())
        if dh is not None:
            t.addmm_(dh, linear.weight.t())
        dh = t if dz is None else t * dz
    return dh


def _mlp_vjp_jvp(model, coords, residual=None, targets=None, chunk_size=None):
    """Exact hand-written VJP + tangent pass for models exposing `pointwise_mlp()`.

    Same result as the torch.func path, but the tangent pass reuses the forward's
    activations and derivatives instead of recomputing the primal: about 5 matmuls
    per layer against a training step's 3 (forward + backward).
    """
    layers = model.pointwise_mlp()
    n = coords.shape[0]
    pieces = _chunks(n, chunk_size, coords.device)
    width = sum(lin.out_features for lin, _ in layers)
    keep = n * width * 2 * coords.element_size() <= ACTIVATION_CACHE_BYTES.get(coords.device.type, 2 << 30)
    with torch.no_grad():
        v = [[torch.zeros_like(lin.weight), torch.zeros_like(lin.bias)] for lin, _ in layers]
        caches, predictions = [], [] if targets is not None else None
        for sl in pieces:
            out, cache = _mlp_forward(layers, coords[sl])
            g = out - targets[sl] if targets is not None else residual[sl].to(out.dtype)
            if targets is not None:
                predictions.append(out)
            _mlp_vjp(layers, cache, g, v)
            caches.append(cache if keep else None)
        scores = []
        for sl, cache in zip(pieces, caches):
            if cache is None:  # too large to keep: recompute this chunk's forward
                _, cache = _mlp_forward(layers, coords[sl])
            scores.append(_mlp_tangent(layers, cache, v).pow(2).sum(dim=1))
    return torch.cat(scores), (torch.cat(predictions) if predictions is not None else None)


def _pick_method(model, method):
    if method == "auto":
        return "mlp" if hasattr(model, "pointwise_mlp") else "func"
    if method not in ("func", "mlp"):
        raise ValueError(f"method must be auto, func or mlp, not {method!r}")
    return method


def ntk_scores(model, coords, residual, chunk_size=None, method="func") -> torch.Tensor:
    """Per-point NTK-augmented gradient norms: ||(K g)_i||^2 over output channels, [N].

    model: any nn.Module mapping [N, in] -> [N, C] (parameters and buffers are read, not changed).
    coords: [N, in]. residual: g = f(x) - y, [N, C] (the MSE gradient up to a constant factor).
    chunk_size: points per chunk for the VJP and JVP (None = automatic: 16,384 on a CPU,
      262,144 on a GPU); the result does not depend on it beyond float rounding.
    method: 'func' (default) = torch.func.vjp then torch.func.jvp over functional_call, any model;
      'mlp' = the exact hand-written passes for models with `pointwise_mlp()` (faster);
      'auto' = 'mlp' when available, else 'func'.
    """
    fn = _mlp_vjp_jvp if _pick_method(model, method) == "mlp" else _func_vjp_jvp
    return fn(model, coords, residual=residual, chunk_size=chunk_size)[0]


def ntk_scores_from_targets(model, coords, targets, chunk_size=None, method="auto"):
    """(scores [N], predictions [N, C]): the residual comes from the VJP's own forward."""
    fn = _mlp_vjp_jvp if _pick_method(model, method) == "mlp" else _func_vjp_jvp
    return fn(model, coords, targets=targets, chunk_size=chunk_size)


# ----------------------------------------------------------------------------------------------
# Sampler
# ----------------------------------------------------------------------------------------------

def ntk_share(decay: str, xi: float, lam: float, alpha: int, call: int, step: int) -> float:
    """p_ntk at a refresh: 'release' = (1-xi) exp(floor(-lambda c/alpha)), 'paper' = (1-xi) exp(-lambda t/alpha)."""
    if decay == "release":
        return (1.0 - xi) * math.exp(math.floor(-lam * call / alpha))
    return (1.0 - xi) * math.exp(-lam * step / alpha)


class NintSampler(Sampler):
    name = "nint"
    use_ntk_scores = True
    state_keys = ("p_ntk", "ntk_active", "ntk_order", "refresh_calls", "recorded_streams")

    def __init__(self, cfg, n_points, total_steps, generator, signal=None):
        super().__init__(cfg, n_points, total_steps, generator, signal)
        c = cfg["nint"]
        self.xi, self.alpha, self.lam = float(c["xi"]), int(c["alpha"]), float(c["lambda"])
        self.decay, self.top_k = c["ntk_decay"], int(c["top_k"])
        self.chunk = int(c["ntk_chunk"]) or None
        self.save_maps = bool(c["save_selection_maps"])
        self.map_steps = set(int(s) for s in c["selection_map_steps"])
        self.p_ntk = 0.0
        self.ntk_active = True
        self.ntk_order = None        # point indices by decreasing score, saved at the last refresh
        self.refresh_calls = []      # selection calls at which scores were computed
        self.recorded_streams = {}   # step -> {'ntk', 'error', 'random'} index arrays (maps)
        self.last_streams = None

    def _refresh(self, ctx, batch_size):
        """Recompute p_ntk and, while the stream is on, the NTK ranking (SPEC.md 6)."""
        c = self.selection_calls
        if not self.ntk_active or not (c == 1 or c % self.alpha == 0):
            return
        p = ntk_share(self.decay, self.xi, self.lam, self.alpha, c, ctx.step)
        if p < P_NTK_OFF:
            self.ntk_active, self.p_ntk, self.ntk_order = False, 0.0, None
            return
        self.p_ntk = p
        self.refresh_calls.append(c)
        if not self.use_ntk_scores:
            return
        scores, predictions = ntk_scores_from_targets(ctx.model, ctx.coords, ctx.targets, self.chunk)
        ctx.set_predictions(predictions)  # the error stream reuses this forward
        k = min(batch_size, self.n_points)
        if self.top_k:
            self.ntk_order = scores.topk(k).indices
        else:  # sample in proportion to the scores, without replacement
            weights = scores.double().cpu().clamp_min(0) + 1e-30
            self.ntk_order = torch.multinomial(weights, k, replacement=False,
                                               generator=self.generator).to(scores.device)

    def choose(self, ctx, batch_size):
        self._refresh(ctx, batch_size)
        B, N = batch_size, self.n_points
        n_ntk = int(B * self.p_ntk)
        n_err = max(0, int(B * (1.0 - self.xi - self.p_ntk)))
        device = ctx.coords.device
        if self.use_ntk_scores:
            ntk_idx = self.ntk_order[:n_ntk] if n_ntk else torch.empty(0, dtype=torch.long, device=device)
        else:  # ablation: the NTK slot filled by the next-highest errors
            n_err += n_ntk
            ntk_idx = torch.empty(0, dtype=torch.long, device=device)
        n_ntk = len(ntk_idx)
        n_rand = B - n_ntk - n_err

        free = torch.ones(N, dtype=torch.bool, device=device)
        free[ntk_idx] = False
        if n_err:  # the full forward is only paid for when an error stream is drawn
            errors = ctx.errors()
            masked = errors.masked_fill(~free, -float("inf")) if n_ntk else errors
            err_idx = masked.topk(n_err, sorted=False).indices
            free[err_idx] = False
        else:
            err_idx = ntk_idx.new_empty(0)
        rest = free.nonzero().squeeze(1)
        rand_idx = rest[torch.randperm(len(rest), generator=self.generator)[:n_rand].to(rest.device)]

        self.last_streams = {"ntk": ntk_idx, "error": err_idx, "random": rand_idx}
        # A requested step may fall between re-selections (dense2, incremental, ...): the map
        # then shows the first selection after it, labelled with its own step. Maps are
        # recorded in step order, so a requested step is served once one is at or past it.
        last_map = max(self.recorded_streams, default=-1)
        if self.save_maps and any(last_map < s <= ctx.step for s in self.map_steps):
            self.recorded_streams[ctx.step] = {k: v.cpu().numpy() for k, v in self.last_streams.items()}
        return Selection(torch.cat([ntk_idx, err_idx, rand_idx]))

    def save_figures(self, run_dir):
        if self.recorded_streams and self.signal.get("modality") == "image":
            from samplers.nint_maps import save_selection_maps
            save_selection_maps(self.signal["image"], self.recorded_streams, run_dir)


class NintNoNtkSampler(NintSampler):
    """Ablation: NINT's mix and schedule with the NTK stream replaced by top-error picks.

    Comparing it with `nint` isolates what the NTK scores themselves contribute,
    as opposed to the random/error mixture around them.
    """
    name = "nint_no_ntk"
    use_ntk_scores = False
