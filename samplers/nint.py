"""NINT: NTK-guided implicit neural teaching (CVPR 2026); docs/methods.md, "NINT".

Score (`ntk_score: kg`, the default). A point's score is ||(K g)_i||^2, K the NTK and
g = f(x) - y, computed without forming K by samplers/ntk.py (one VJP, then one JVP), as the
paper defines it. `ntk_score: output_norm` is what the NINT release computes instead,
||f(x_i)||^2 (it keeps torch.func.jvp's primal output, not J v), at the release's cost.

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

import numpy as np
import torch

from samplers.base import Sampler, Selection
from samplers.ntk import SCORES, ntk_scores, ntk_scores_from_targets  # noqa: F401 (ntk_scores: public here too)
from utils.params import Param

P_NTK_MIN = 1e-3                   # below this share the scores are no longer refreshed (the cached points stay)

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
        "ntk_score": Param("kg", "kg = ||(K g)_i||^2, the paper's score; output_norm = ||f(x_i)||^2, what the "
                           "NINT release computes (it keeps torch.func.jvp's primal output; same cost)",
                           choices=SCORES),
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
        self.score = str(c["ntk_score"])
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
        if self.score == "kg":
            scores, predictions = ntk_scores_from_targets(ctx.model, ctx.coords, ctx.targets, self.chunk)
        else:  # the release's computation (samplers/ntk.py); the same calls, the primal output kept
            scores, predictions = ntk_scores_from_targets(ctx.model, ctx.coords, ctx.targets, self.chunk,
                                                          score=self.score)
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

        # index_fill_ rather than free[idx] = False: a Python value written through an index
        # tensor is a host-to-device copy on a GPU, which makes the step wait
        free = torch.ones(N, dtype=torch.bool, device=device).index_fill_(0, ntk_idx, False)
        if n_err and self.top_k:  # the full forward is only paid for when top errors are drawn
            errors = ctx.errors()
            masked = errors.masked_fill(~free, -float("inf")) if n_ntk else errors
            err_idx = masked.topk(n_err, sorted=False).indices
            free.index_fill_(0, err_idx, False)
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
