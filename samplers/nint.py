"""NINT: NTK-guided implicit neural teaching (CVPR 2026); docs/methods.md, "NINT".

Score. With g = f(x) - y the loss gradient for every point and channel (flattened
to N*C), the NTK-augmented gradient is w = K g = J (J^T g), J the N*C x P Jacobian
of the outputs with respect to the parameters. K and J are never formed: one
vector-Jacobian product gives v = J^T g (a P-vector), one Jacobian-vector product
gives w = J v. A point's score is the squared L2 norm of its C entries of w.

Batch. Of B points at a selection: n_ntk = int(B p_ntk) NTK points, n_err =
int(B (1 - p_ntk - xi)) error points among the rest and the remainder uniformly at
random among what is left; the three sets are disjoint. With `top_k: 1` (default) the
NTK points are the highest scores and the error points the highest L1 errors; with
`top_k: 0` the NTK points are drawn without replacement with probability proportional
to (score - min score), and the error points uniformly at random (as the release does).

Schedule (default `ntk_decay: release`, as in the released code): counting selection
calls c = 1, 2, ..., p_ntk = (1 - xi) exp(floor(-lambda c / alpha)) is re-evaluated at
c = 1 and whenever c % alpha == 0, and kept in between. At such a call the scores are
recomputed while p_ntk >= 1e-3, and the NTK points they give are cached; between
refreshes, and at every later call once p_ntk < 1e-3, the NTK stream is the first
int(B p_ntk) of the cached points. The scores are thus no longer refreshed after the
last call with p_ntk >= 1e-3 (c = 50 with the defaults: 6 score computations), but a
tiny stream from that call's points goes on while int(B p_ntk) > 0 (at 512x512, B =
52,428: 38, 14, 5 and 1 points from calls 60, 70, 80 and 90; none from call 100 on).
`ntk_decay: paper` uses p_ntk = (1 - xi) exp(-lambda t / alpha), t the step, at the
same calls and with the same rules.
"""
import math
import warnings

import numpy as np
import torch
from torch.func import functional_call, jvp

from samplers.base import Sampler, Selection
from utils.params import Param

P_NTK_MIN = 1e-3                   # below this share the scores are no longer refreshed (the cached points stay)
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


def _saved_bytes():
    """(counter, context): inside the context, every tensor autograd saves for a backward pass
    adds its size in bytes to counter[0] (shared storage counted again: an upper bound)."""
    counter = [0]

    def pack(t):
        counter[0] += t.numel() * t.element_size()
        return t

    return counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


def _jvp_pass(model, params, buffers, x, v):
    """w = J v on the points x by forward mode (torch.func.jvp): recomputes the primal."""
    _, w = jvp(lambda p: functional_call(model, (p, buffers), (x,)), (params,), (v,))
    return w


def _func_vjp_jvp(model, coords, residual=None, targets=None, chunk_size=None, tangent="auto"):
    """Generic path for any nn.Module: v = J^T g, then w = J v, chunk by chunk, by autograd.

    Give `residual` [N, C], or `targets` [N, C] to take g = f(x) - y from the VJP's own
    forward (no separate forward pass). Returns (scores [N], predictions [N, C] or None).

    J v without recomputing the primal ("reverse over reverse"): the VJP's backward runs with
    `create_graph=True` from a leaf u = g, so it records the linear map u -> J^T u; v is its
    value, and one backward of that map with cotangent v gives J v (the transpose of the
    transpose), reusing the forward's saved activations: one forward and two backward passes,
    where torch.func.jvp needs the forward again (primal and tangent) after the VJP's. For a
    5x256 SIREN at 128x128 that is about 1.5x a training step instead of 2.1-2.5x
    (benchmarks/ntk_cost.py). Each chunk's recorded graph is kept for the second pass while
    their total, measured with saved-tensor hooks, stays within ACTIVATION_CACHE_BYTES (the
    last chunk's always: it is alive anyway); the other chunks get J v by torch.func.jvp
    (cheaper than rebuilding their graphs), so memory stays bounded for any N.

    Check: <J v, g> = v.v exactly, so a backward that autograd cannot differentiate through
    (a custom autograd.Function marked once_differentiable detaches its part of the graph and
    would silently drop that part of J v) shows up as a mismatch; the scores are then redone
    by torch.func.jvp, with a warning. `tangent='jvp'` uses torch.func.jvp for every chunk
    (the plain torch.func route, the reference).
    """
    if tangent not in ("auto", "jvp"):
        raise ValueError(f"tangent must be auto or jvp, not {tangent!r}")
    # The NTK of training: the parameters that are trained (as the release); frozen ones are constants.
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    buffers.update({k: p.detach() for k, p in model.named_parameters() if not p.requires_grad})
    pieces = _chunks(coords.shape[0], chunk_size, coords.device)
    if not names:  # nothing is trained: the kernel is zero
        out = functional_call(model, buffers, (coords,)).detach() if targets is not None else None
        return coords.new_zeros(coords.shape[0]), out
    budget = ACTIVATION_CACHE_BYTES.get(coords.device.type, 2 << 30)
    reverse = tangent == "auto"
    v, gs, kept, kept_bytes = None, [], {}, 0  # kept: chunk -> (u, [J^T u per parameter, with graph])
    predictions = [] if targets is not None else None
    with torch.enable_grad():
        leaves = {k: p.detach().requires_grad_(True) for k, p in model.named_parameters() if p.requires_grad}
        for i, sl in enumerate(pieces):
            counter, hooks = _saved_bytes()
            with hooks:
                out = functional_call(model, (leaves, buffers), (coords[sl],))
                if targets is not None:
                    predictions.append(out.detach())
                    g = out.detach() - targets[sl]
                else:
                    g = residual[sl].detach().to(out.dtype)
                u = g.clone().requires_grad_(reverse)  # a leaf of our own
                grads = torch.autograd.grad(out, list(leaves.values()), u, create_graph=reverse, allow_unused=True)
            grads = [torch.zeros_like(leaves[k]) if t is None else t for k, t in zip(names, grads)]
            vc = [t.detach() for t in grads]
            v = vc if v is None else [a + b for a, b in zip(v, vc)]
            gs.append(g)
            if reverse and (kept_bytes + counter[0] <= budget or i == len(pieces) - 1):
                kept[i] = (u, grads)
                kept_bytes += counter[0]
            del out, grads, u
        w = [None] * len(pieces)
        for i in list(kept):
            u, grads = kept.pop(i)
            live = [(t, vk) for t, vk in zip(grads, v) if t.requires_grad]
            try:
                (wi,) = torch.autograd.grad([t for t, _ in live], u, [vk for _, vk in live],
                                            allow_unused=True) if live else (None,)
            except RuntimeError as err:  # a double backward that raises
                warnings.warn(f"NTK scores: reverse over reverse failed ({str(err).splitlines()[0]}); "
                              "J v by torch.func.jvp instead", RuntimeWarning)
                kept.clear()
                break
            w[i] = torch.zeros_like(u) if wi is None else wi.detach()
    params = {k: leaves[k].detach() for k in names}
    v = dict(zip(names, v))
    reversed_any = any(wi is not None for wi in w)
    for i, sl in enumerate(pieces):
        if w[i] is None:
            w[i] = _jvp_pass(model, params, buffers, coords[sl], v)
    if reversed_any:
        vv = sum(t.double().pow(2).sum() for t in v.values())
        wg = sum((wi.double() * g.double()).sum() for wi, g in zip(w, gs))
        if abs(float(wg - vv)) > 1e-3 * float(vv) + 1e-30:
            warnings.warn("NTK scores: reverse over reverse missed part of J v (a backward that is not "
                          "differentiable, e.g. once_differentiable); J v by torch.func.jvp instead", RuntimeWarning)
            w = [_jvp_pass(model, params, buffers, coords[sl], v) for sl in pieces]
    scores = torch.cat([wi.pow(2).sum(dim=1) for wi in w])
    return scores, (torch.cat(predictions) if predictions is not None else None)


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
    method: 'func' (default) = the generic autograd path over functional_call, any model (VJP, then J v
        by reverse over reverse; see _func_vjp_jvp);
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
    """p_ntk at a refresh call: 'release' = (1-xi) exp(floor(-lambda c/alpha)), 'paper' = (1-xi) exp(-lambda t/alpha),
    'none' = 1 - xi at every refresh (our ablation: the NTK stream is never switched off)."""
    share = round(1.0 - xi, 12)  # 0.3 for xi = 0.7, as the release writes it (not 0.30000000000000004)
    if decay == "none":
        return share
    if decay == "release":
        return share * math.exp(math.floor(-lam * call / alpha))
    return share * math.exp(-lam * step / alpha)


def free_points(free: torch.Tensor, count: int) -> torch.Tensor:
    """The indices where the mask `free` [N] is True, in rising order; `count` is their number.

    The count is known on the host (N minus the distinct points already taken), so the
    result's size is too: a GPU step does not wait to learn it, as free.nonzero() would.
    """
    return torch.nonzero_static(free, size=count).squeeze(1)


def proportional_draw(scores: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k distinct indices drawn one after another with probability proportional to (score - min score)
    among the points not drawn yet (what torch.multinomial without replacement does), in draw order.

    Drawn by exponential keys E_i / w_i, E_i ~ Exp(1), the k smallest first (Efraimidis and
    Spirakis 2006: the same distribution as successive draws), which has no limit on N. The
    point(s) with the minimum score have weight 0 and are never drawn, unless fewer than k
    points score above the minimum; the rest of the k are then drawn uniformly among them.
    """
    if k <= 0:
        return torch.empty(0, dtype=torch.long, device=scores.device)
    weights = (scores.double() - scores.double().min()).clamp_min(0)
    draws = torch.empty(len(weights), dtype=torch.float64, device=generator.device).exponential_(
        generator=generator).to(scores.device)
    positive = weights > 0
    keys = draws / weights.clamp_min(1e-300)
    # The points at the minimum get keys above every other key, so they are drawn (uniformly
    # among themselves) only when fewer than k points score above it; the host never needs
    # to know how many do.
    top = keys.masked_fill(~positive, 0.0).max()
    keys = torch.where(positive, keys, top + 1.0 + draws)
    return keys.topk(k, largest=False).indices


def _steps_check(value):
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return "must be a list of step numbers >= 0, e.g. [0, 10, 100]"


class NintSampler(Sampler):
    name = "nint"
    use_ntk_scores = True
    # refresh_calls: selection calls at which p_ntk >= 1e-3, i.e. the scores were recomputed (nint).
    state_keys = ("p_ntk", "ntk_order", "refresh_calls", "recorded_streams")
    section = "nint"
    params = {
        "xi": Param(0.7, "share of the batch drawn uniformly at random; the error stream gets 1 - p_ntk - xi",
                    "[0, 1]"),
        "alpha": Param(10, "NTK refresh interval, in selection calls", "[1, inf)"),
        "lambda": Param(1.0, "decay rate of the NTK share", "[0, inf)"),
        "ntk_decay": Param("release", "release = the released code's floor schedule of p_ntk; paper = continuous "
                           "(1 - xi) exp(-lambda t / alpha); none = p_ntk stays 1 - xi (our ablation, "
                           "docs/methods.md)", choices=("release", "paper", "none")),
        "top_k": Param(1, "1 = top scores and top errors; 0 = NTK points drawn in proportion to score - min, "
                       "error points at random (the release's top_k False)", choices=(0, 1)),
        "ntk_chunk": Param(0, "points per chunk in the NTK score; 0 = automatic (by device)", "[0, inf)"),
        "save_selection_maps": Param(0, "1 = save Fig.-1-style maps of the three streams (images only)",
                                     choices=(0, 1)),
        "selection_map_steps": Param([0, 10, 100, 1000], "steps whose streams the maps show",
                                     check=_steps_check, rule="a list of steps >= 0"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c = self.constants
        self.xi, self.alpha, self.lam = float(c["xi"]), int(c["alpha"]), float(c["lambda"])
        self.decay, self.top_k = c["ntk_decay"], int(c["top_k"])
        self.chunk = int(c["ntk_chunk"]) or None
        self.save_maps = bool(c["save_selection_maps"])
        self.map_steps = set(int(s) for s in c["selection_map_steps"])
        self.p_ntk = 0.0
        self.ntk_order = None        # the NTK points chosen at the last score refresh, in rank/draw order
        self.refresh_calls = []      # selection calls at which the scores were recomputed
        self.recorded_streams = {}   # step -> {'ntk', 'error', 'random'} index arrays (maps)
        self.last_streams = None

    def counts(self):
        """Adds ntk_scores: how many times the NTK scores were computed (0 for nint_no_ntk)."""
        return {**super().counts(), "ntk_scores": len(self.refresh_calls) if self.use_ntk_scores else 0}

    def _refresh(self, ctx, batch_size):
        """At c = 1 and every alpha-th call: re-evaluate p_ntk, and recompute the scores while p_ntk >= 1e-3."""
        c = self.selection_calls
        if not (c == 1 or c % self.alpha == 0):
            return
        self.p_ntk = ntk_share(self.decay, self.xi, self.lam, self.alpha, c, ctx.step)
        if self.p_ntk < P_NTK_MIN:  # the scores are no longer refreshed; the cached points stay
            return
        self.refresh_calls.append(c)
        if not self.use_ntk_scores:
            return
        scores, predictions = ntk_scores_from_targets(ctx.model, ctx.coords, ctx.targets, self.chunk)
        ctx.set_predictions(predictions)  # the error stream reuses this forward
        k = min(int(batch_size * self.p_ntk), self.n_points)
        if self.top_k:
            self.ntk_order = scores.topk(k).indices
        else:
            self.ntk_order = proportional_draw(scores, k, self.generator)

    def choose(self, ctx, batch_size):
        self._refresh(ctx, batch_size)
        B, N = batch_size, self.n_points
        n_ntk = int(B * self.p_ntk)
        n_err = max(0, int(B * (1.0 - self.p_ntk - self.xi)))
        device = ctx.coords.device
        empty = torch.empty(0, dtype=torch.long, device=device)
        if self.use_ntk_scores:  # the cached points; a shortfall (B grew since the refresh) goes to random
            ntk_idx = self.ntk_order[:n_ntk].to(device) if n_ntk and self.ntk_order is not None else empty
        else:  # ablation: the NTK slot filled by the error stream
            n_err += n_ntk
            ntk_idx = empty
        n_ntk = len(ntk_idx)
        n_err = min(n_err, N - n_ntk)
        n_rand = B - n_ntk - n_err

        free = torch.ones(N, dtype=torch.bool, device=device)
        free[ntk_idx] = False
        if n_err and self.top_k:  # the full forward is only paid for when top errors are drawn
            errors = ctx.errors()
            masked = errors.masked_fill(~free, -float("inf")) if n_ntk else errors
            err_idx = masked.topk(n_err, sorted=False).indices
            free[err_idx] = False
            rest = free_points(free, N - n_ntk - n_err)
            rand_idx = rest[self.randperm(len(rest))[:n_rand].to(device)]
        else:  # top_k 0: the error stream is drawn at random too, then the random stream
            rest = free_points(free, N - n_ntk)
            order = rest[self.randperm(len(rest))[:n_err + n_rand].to(device)]
            err_idx, rand_idx = order[:n_err], order[n_err:]

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
    """Ablation: NINT's mix and schedule with the NTK stream replaced by error-stream picks.

    Comparing it with `nint` isolates what the NTK scores themselves contribute,
    as opposed to the random/error mixture around them.
    """
    name = "nint_no_ntk"
    use_ntk_scores = False
