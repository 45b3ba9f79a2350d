"""NTK scores: per-point norms of K g without forming K (docs/methods.md, "NINT").

With g = f(x) - y the loss gradient for every point and channel (flattened to N*C),
the NTK-augmented gradient is w = K g = J (J^T g), J the N*C x P Jacobian of the
outputs with respect to the parameters. K and J are never formed: one vector-Jacobian
product gives v = J^T g (a P-vector), one Jacobian-vector product gives w = J v. A
point's score is the squared L2 norm of its C entries of w.

Public: `ntk_scores(model, coords, residual)` and `ntk_scores_from_targets(model,
coords, targets)`; any nn.Module works, models with `pointwise_mlp()` get a faster
hand-written path. The sampler that uses them is samplers/nint.py.

`score` picks what is computed: 'kg' (default) the score above, as the paper defines it;
'output_norm' what the NINT release computes instead: its `_ntk_weighted_scores_pixelwise`
writes `w_flat, _ = jvp(f, (params,), (v,))`, but torch.func.jvp returns (output, J v), so
it keeps the model's output and each point's score is ||f(x_i)||^2 summed over channels,
whatever the residual. `output_norm` runs the same VJP and the same torch.func JVP as the
release and keeps the same element, so it costs what the release's score costs
(docs/methods.md, "NINT").
"""
import warnings

import torch
from torch.func import functional_call, jvp, vjp

from utils.devices import chunk_points, chunk_slices
from utils.errors import UserValueError

SCORES = ("kg", "output_norm")  # the paper's ||(K g)_i||^2; the release's ||f(x_i)||^2 (see above)
# Both paths keep the forward's activations for the tangent pass up to this many bytes (beyond
# it, each chunk's forward is recomputed: one extra forward per score), on a CPU (and any device
# but CUDA). On CUDA the cap comes from the free memory at each score instead (`memory_limits`).
ACTIVATION_CACHE_BYTES = {"cpu": 2 << 30}
CUDA_CACHE_SHARE = 0.5    # share of the free CUDA memory the kept activations may take
CUDA_CHUNK_SHARE = 0.25   # share of the free CUDA memory one chunk's passes may take
CUDA_MIN_CHUNK = 1024     # points: the smallest automatic chunk on CUDA (below, the GPU idles)
PASS_FACTOR = 3           # a chunk's peak over its saved activations (gradients, create_graph's copies)


def memory_limits(device: torch.device, bytes_per_point: float) -> tuple:
    """(activation cache in bytes, automatic chunk in points) for the NTK score on `device`.

    CPU (and any device but CUDA): the fixed ACTIVATION_CACHE_BYTES and utils/devices.py's
    AUTO_CHUNK_POINTS['ntk'] size. CUDA: from the free memory F now (torch.cuda.mem_get_info),
    so that a 12 GB card and an 80 GB one both fit: the cache CUDA_CACHE_SHARE * F, and the
    chunk AUTO_CHUNK_POINTS['ntk']['cuda'] (2^18) points, fewer when one chunk's passes,
    PASS_FACTOR * bytes_per_point (the activations a point keeps for the backward) per point,
    would take more than CUDA_CHUNK_SHARE * F (never below CUDA_MIN_CHUNK).
    """
    largest = chunk_points("auto", device.type, "ntk")
    if device.type != "cuda":
        return ACTIVATION_CACHE_BYTES.get(device.type, ACTIVATION_CACHE_BYTES["cpu"]), largest
    free, _ = torch.cuda.mem_get_info(device)
    fitting = int(CUDA_CHUNK_SHARE * free / max(PASS_FACTOR * bytes_per_point, 1.0))
    return int(CUDA_CACHE_SHARE * free), max(CUDA_MIN_CHUNK, min(largest, fitting))


def _chunks(n: int, chunk_size, automatic: int):
    """Slices covering range(n) in pieces of chunk_size (None or 0 = `automatic`, memory_limits')."""
    return chunk_slices(n, chunk_size if chunk_size and chunk_size > 0 else automatic)


def _model_output(out, targets=None):
    """out, refused in one line naming `model` unless a tensor [n, C] matching targets [n, C]."""
    if not isinstance(out, torch.Tensor):
        raise UserValueError(f"model must return a tensor [N, C]; it returned a {type(out).__name__} (wrap it so "
                             f"that it returns the prediction alone)")
    if targets is not None and out.shape != targets.shape:
        raise UserValueError(f"model returns {tuple(out.shape)} where the targets are {tuple(targets.shape)}: the "
                             f"model's outputs and the targets' channels must agree")
    return out


def _probe_bytes_per_point(model, params, buffers, coords, probe: int = 256) -> float:
    """Bytes autograd saves per point in a forward of `model` with `params` trained (measured on
    `probe` points; on CUDA only, where the chunk size depends on it)."""
    counter, hooks = _saved_bytes()
    x = coords[:probe]
    with torch.enable_grad(), hooks:
        leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
        functional_call(model, (leaves, buffers), (x,))
    return counter[0] / max(len(x), 1)


def _saved_bytes():
    """(counter, context): inside the context, every tensor autograd saves for a backward pass
    adds its size in bytes to counter[0] (shared storage counted again: an upper bound)."""
    counter = [0]

    def pack(t):
        counter[0] += t.numel() * t.element_size()
        return t

    return counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


def _trained_and_constant(model):
    """(names of the trained parameters, {name: detached tensor} of the buffers and the frozen
    parameters). The NTK of training is over the parameters that are trained (as the release);
    frozen ones are constants of functional_call."""
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    constants = {k: b.detach() for k, b in model.named_buffers()}
    constants.update({k: p.detach() for k, p in model.named_parameters() if not p.requires_grad})
    return names, constants


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
    names, buffers = _trained_and_constant(model)
    if not names:  # nothing is trained: the kernel is zero
        out = _model_output(functional_call(model, buffers, (coords,))).detach() if targets is not None else None
        return coords.new_zeros(coords.shape[0]), out
    reverse = tangent == "auto"
    v, gs, kept, kept_bytes = None, [], {}, 0  # kept: chunk -> (u, [J^T u per parameter, with graph])
    predictions = [] if targets is not None else None
    with torch.enable_grad():
        leaves = {k: p.detach().requires_grad_(True) for k, p in model.named_parameters() if p.requires_grad}
        per_point = _probe_bytes_per_point(model, leaves, buffers, coords) if coords.device.type == "cuda" else 0.0
        budget, automatic = memory_limits(coords.device, per_point)
        pieces = _chunks(coords.shape[0], chunk_size, automatic)
        for i, sl in enumerate(pieces):
            counter, hooks = _saved_bytes()
            with hooks:
                out = _model_output(functional_call(model, (leaves, buffers), (coords[sl],)),
                                    None if targets is None else targets[sl])
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
    per_point = sum(lin.out_features for lin, _ in layers) * 2 * coords.element_size()  # h and dh/dz per layer
    budget, automatic = memory_limits(coords.device, per_point)
    pieces = _chunks(n, chunk_size, automatic)
    keep = n * per_point <= budget
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


def _release_output_norm(model, coords, residual=None, targets=None, chunk_size=None):
    """The NINT release's score, ||f(x_i)||^2 summed over channels, [N], computed its way.

    Per chunk: torch.func.vjp gives v = J^T g (summed over the chunks, as the release's one
    VJP over all N), then torch.func.jvp(f, (params,), (v,)) returns (f(x), J v) and, as in
    the release, the first element is kept. So the cost is the release's (a VJP and a JVP,
    three evaluations of the primal with the sampler's forward) and J v is thrown away; the
    residual changes nothing but that discarded work. Returns (scores [N], predictions
    [N, C] of the VJP's forward when `targets` is given, else None).
    """
    names, buffers = _trained_and_constant(model)
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    per_point = _probe_bytes_per_point(model, params, buffers, coords) if coords.device.type == "cuda" else 0.0
    pieces = _chunks(coords.shape[0], chunk_size, memory_limits(coords.device, per_point)[1])
    if not names:  # nothing is trained: no VJP or JVP to run, the output is all there is
        with torch.no_grad():
            out = functional_call(model, buffers, (coords,))
        return out.pow(2).sum(dim=1), (out if targets is not None else None)

    def forward_on(x):
        return lambda p: functional_call(model, (p, buffers), (x,))

    v, predictions = None, [] if targets is not None else None
    with torch.enable_grad():
        for sl in pieces:
            out, pullback = vjp(forward_on(coords[sl]), params)
            _model_output(out, None if targets is None else targets[sl])
            g = out.detach() - targets[sl] if targets is not None else residual[sl].detach().to(out.dtype)
            if predictions is not None:
                predictions.append(out.detach())
            (vc,) = pullback(g)
            v = vc if v is None else {k: v[k] + vc[k] for k in v}
        scores = []
        for sl in pieces:
            primal, _ = jvp(forward_on(coords[sl]), (params,), (v,))  # (output, J v): the release keeps [0]
            scores.append(primal.detach().pow(2).sum(dim=1))
    return torch.cat(scores), (torch.cat(predictions) if predictions is not None else None)


def _pick_method(model, method):
    if method == "auto":
        return "mlp" if hasattr(model, "pointwise_mlp") else "func"
    if method not in ("func", "mlp"):
        raise ValueError(f"method must be auto, func or mlp, not {method!r}")
    return method


def _pick_score_function(model, method, score):
    if not isinstance(model, torch.nn.Module):
        raise UserValueError(f"model must be a torch.nn.Module for the NTK scores (they differentiate its "
                             f"parameters), got a {type(model).__name__}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    if score == "output_norm":
        return _release_output_norm
    return _mlp_vjp_jvp if _pick_method(model, method) == "mlp" else _func_vjp_jvp


def ntk_scores(model, coords, residual, chunk_size=None, method="func", score="kg") -> torch.Tensor:
    """Per-point NTK-augmented gradient norms: ||(K g)_i||^2 over output channels, [N].

    model: any nn.Module mapping [N, in] -> [N, C] (parameters and buffers are read, not changed).
    coords: [N, in]. residual: g = f(x) - y, [N, C] (the MSE gradient up to a constant factor).
    chunk_size: points per chunk for the VJP and JVP (None = automatic, utils/devices.py: 16,384
      on a CPU, 262,144 on a GPU); the result does not depend on it beyond float rounding.
    method: 'func' (default) = the generic autograd path over functional_call, any model (VJP, then J v
        by reverse over reverse; see _func_vjp_jvp);
      'mlp' = the exact hand-written passes for models with `pointwise_mlp()` (faster);
      'auto' = 'mlp' when available, else 'func'.
    score: 'kg' (default) = ||(K g)_i||^2, the paper's score; 'output_norm' = ||f(x_i)||^2, what
      the NINT release computes (same VJP and JVP, the JVP's primal output kept; `method` unused).
    """
    fn = _pick_score_function(model, method, score)
    return fn(model, coords, residual=residual, chunk_size=chunk_size)[0]


def ntk_scores_from_targets(model, coords, targets, chunk_size=None, method="auto", score="kg"):
    """(scores [N], predictions [N, C]): the residual comes from the VJP's own forward."""
    fn = _pick_score_function(model, method, score)
    return fn(model, coords, targets=targets, chunk_size=chunk_size)
