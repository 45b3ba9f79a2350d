"""EVOS (Zhang et al., EVOlutionary Selector, CVPR 2025) and two reduced variants.

docs/methods.md, section "EVOS", describes the method, the units and every departure
from the authors' release in full; this docstring is the short version.

Sparse fitness evaluation: on "fitness" steps the model trains on all N points, and
the squared errors of that very forward pass rank the points. The interval between
fitness steps falls linearly from `fitness_interval_start` to `fitness_interval_end`
steps over training; `fitness_rule: release` (default) takes the release's test
`epoch % int(interval(epoch)) == 1` at every step (epochs counted from 1), which gives
irregular gaps (72 fitness steps in 5,000, gaps 4 to 158); `fitness_rule: last_gap`
spaces each gap by the interval at the last fitness step (70 in 5,000). Fitness steps
are ordinary steps of the budget: they count as full-batch steps in the iteration count
and in the training clock.

Mutation: between fitness steps the batch of B points is the top (B - n_mut) points
of the stale ranking plus n_mut points drawn uniformly from the rest,
n_mut = int(mutation_ratio * r0 * N) with r0 the starting batch ratio (0.5 * r0 by
default). The shared sampling interval decides when that pick is redrawn; the step
after a fitness step always redraws.

Frequency-guided crossover (weight `crossover_weight`; 0 turns it off): on a fitness
step a second ranking by the squared error of the Laplacian of the grayscale image
(3x3 4-neighbour kernel, 0-255 units, predictions clamped to the value range first,
see samplers/image_structure.py) is merged with the L2 ranking: points in the top
sets of both first, the remaining places split between the two in proportion
mean(L2) : crossover_weight * mean(Laplacian).

Cross-frequency supervision, the Laplacian loss (weight `cfs_loss_weight`; 0 turns it
off), the release's rule:
- a fitness step adds the weight times the mean Laplacian squared error over the
  whole image, at every fitness step of the run (also after `cfs_steps`);
- a sparse step before `cfs_steps` rebuilds a full image from the last fitness step's
  (detached) predictions with this step's predictions put in at the chosen pixels,
  and adds the weight times the Laplacian squared error averaged over the chosen
  pixels; from step `cfs_steps` on, sparse steps train on the MSE alone.

Units of the two weights: the release trains on values stretched per image to
[-1, 1] (r = 2 (u - min u) / (max u - min u) - 1, u = pixel / 255), so its MSE is
MSE_here * g^2 with g = 2 / ((hi - lo) * (max u - min u)) for this repository's value
range [lo, hi] (g^2 = 4 for [0, 1] and a full-range image), while its Laplacian error
is in 0-255 units, as here. The weights are given in the release's units (1e-5 there
is 1e-5 here) and divided by g^2 before use, so that the Laplacian term stands to our
MSE in the same ratio as in the release and the crossover splits its places alike.

Why an earlier version of the sparse-step term trained much worse: it applied 1e-5 to this
repository's [0, 1] MSE unconverted, 5.45 times the release's weight for images/01.png at
128x128, and on the sparse steps the Laplacian of the stale-neighbour image is already as
large as the MSE in the release's units late in each fitness interval, so at 5.45x it
dominates and pins the chosen pixels to values that fit their stale neighbours. A second
effect remains with [0, 1] values: the model starts near black, and until the first refresh
the sparse steps pull the chosen pixels toward that black step-0 image (the release's [-1, 1]
values start mid-gray). docs/methods.md, EVOS, gives the PSNR measured for each case.

The variants (VARIANTS below fixes their weights, which are then not among their constants;
the `evos:` section's values of those keys are ignored for them, and on audio and SDF, where
only `evos_no_crossover` runs, the section has no such keys):
- `evos_no_cfs`: the release's `evos_wo_cfs` (the paper's Table 1 row "w/o CFS"): no
  Laplacian loss, crossover kept. Images only.
- `evos_no_crossover`: neither Laplacian loss nor crossover (the paper's "crossover
  component disabled", used on audio and 3D, Tables 6 and 7); any modality. On a task
  that draws fresh points each step (SDF) the stale ranking refers to positions in the
  point array of the fitness step, which is all a point-index ranking can do there.

Departures from the release, on purpose: (1) Randomness comes from the run's generator
(the release reseeds from the OS before each selection). (2) The release ties the
crossover weight to the loss weight (1e-5 when the loss weight is 0); here they are two
keys, whose defaults give the release's values for every variant. (3) An interval of 1
makes every step a fitness step (the release's test `epoch % 1 == 1` never holds).
"""
import torch

from samplers.base import Sampler, Selection
from samplers.image_structure import laplacian_255
from utils.errors import UserError
from utils.params import Param

# The constants of the `evos:` config section (weights in the release's units, see above).
PARAMS = {
    "fitness_interval_start": Param(100, "steps between full-batch fitness steps at the start...", "[1, inf)"),
    "fitness_interval_end": Param(50, "...falling linearly to this at the end", "[1, inf)"),
    "fitness_rule": Param("release", "release = a fitness step where epoch % int(interval(epoch)) == 1, epochs "
                          "from 1 (the release; irregular gaps); last_gap = each gap the interval at the last "
                          "fitness step", choices=("release", "last_gap")),
    "mutation_ratio": Param(0.5, "random \"mutation\" share, as a fraction of the starting batch ratio mt_ratio",
                            "[0, 1]"),
    "cfs_steps": Param(1500, "sparse steps before this one carry the Laplacian loss; fitness steps always do "
                       "(the release)", "[0, inf)"),
    "cfs_loss_weight": Param(1.0e-5, "weight of the Laplacian loss (the release's lap_coff, its units: "
                             "docs/methods.md, EVOS); 0 = none", "[0, inf)"),
    "crossover_weight": Param(1.0e-5, "weight of the Laplacian error in the crossover split (the release ties it "
                              "to lap_coff, 1e-5 when that is 0); 0 = L2 ranking only", "[0, inf)"),
}

# What each registered variant fixes: those keys are not its constants (not in its `params`).
VARIANTS = {
    "evos": {},
    "evos_no_cfs": {"cfs_loss_weight": 0.0},                             # the release's evos_wo_cfs
    "evos_no_crossover": {"cfs_loss_weight": 0.0, "crossover_weight": 0.0},  # no Laplacian at all
}


def variant_params(name: str) -> dict:
    """The constants of the EVOS variant `name`: PARAMS without the ones it fixes."""
    return {k: p for k, p in PARAMS.items() if k not in VARIANTS[name]}


def release_value_gain(image, value_range=(0.0, 1.0)) -> float:
    """g: how much the EVOS release's values stretch ours, r = g * y + const (dimensionless, > 0).

    The release fits each image min-max stretched to [-1, 1], r = 2 (u - min u) / (max u - min u) - 1
    with u the image in [0, 1]; here y = lo + (hi - lo) u for value_range [lo, hi]. So
    g = 2 / ((hi - lo) (max u - min u)) (a flat image counts as span 1). image: array-like in [0, 1].
    Its MSE is g^2 times ours; Soft Mining's drift is g^r times ours (samplers/soft_mining.py).
    """
    lo, hi = (float(v) for v in value_range)
    u = torch.as_tensor(image, dtype=torch.float32)
    span = float(u.max() - u.min())
    return 2.0 / ((hi - lo) * (span if span > 0 else 1.0))


def fitness_steps(total_steps: int, start: int, end: int, rule: str = "release") -> list:
    """The 0-based steps at which EVOS trains on every point and re-ranks them.

    The interval at step s is int(start + (end - start) * t / S) over the S steps, falling
    linearly from `start` to `end`. rule 'release': step s is a fitness step when
    t % interval(t) == 1 with t = s + 1 (the release's epochs count from 1; an interval of 1
    makes every step one); rule 'last_gap': step 0 is one, and after a fitness step s the next
    is s + max(1, interval(s)).
    """
    if rule == "release":
        steps = []
        for s in range(total_steps):
            t = s + 1
            interval = int(start + (end - start) * t / total_steps)
            if interval <= 1 or t % interval == 1:
                steps.append(s)
        return steps
    if rule != "last_gap":
        raise ValueError(f"rule must be release or last_gap, not {rule!r}")
    steps, s = [], 0
    while s < total_steps:
        steps.append(s)
        s += max(1, int(start + (end - start) * s / total_steps))
    return steps


class EvosSampler(Sampler):
    name = "evos"
    pointwise_loss = False  # fitness steps rank all N points; the Laplacian term needs the whole image
    needs_training_loss = True  # the ranking and the Laplacian term are made there
    uses_value_range = True     # the Laplacian is taken in 0-255 units of value_range
    modalities = ("image",)  # the Laplacian needs the image grid
    state_keys = ("order", "fitness_predictions", "fitness_count", "cfs_loss_count")
    section = "evos"
    params = variant_params("evos")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = {**self.constants, **VARIANTS[self.name]}
        self.mutation_ratio = float(p["mutation_ratio"])
        self.cfs_steps = int(p["cfs_steps"])
        self.fitness_at = set(fitness_steps(self.total_steps, int(p["fitness_interval_start"]),
                                            int(p["fitness_interval_end"]), str(p["fitness_rule"])))
        self.order = None                # point indices by rising fitness (the last ones are trained first)
        self.fitness_predictions = None  # [N, C] detached predictions of the last fitness step (Laplacian loss)
        self.fitness_count = 0           # fitness (full-batch) steps run
        self.cfs_loss_count = 0          # steps whose loss carried the Laplacian term
        self._step, self._fitness_now = 0, False
        self.loss_weight, self.crossover_weight = 0.0, 0.0
        if float(p["cfs_loss_weight"]) > 0 or float(p["crossover_weight"]) > 0:
            self._init_laplacian(float(p["cfs_loss_weight"]), float(p["crossover_weight"]))

    def _init_laplacian(self, loss_weight: float, crossover_weight: float):
        if self.signal.get("modality") != "image" or "shape" not in self.signal:
            raise UserError(f"sampler '{self.name}': the Laplacian weights (evos.cfs_loss_weight, "
                            f"evos.crossover_weight) need an image; use evos_no_crossover")
        self.shape = tuple(self.signal["shape"])
        if self.shape[0] * self.shape[1] != self.n_points:
            raise UserError(f"sampler '{self.name}': the image has {self.shape[0]}x{self.shape[1]} pixels "
                            f"but the task has {self.n_points} points")
        self.value_range = tuple(float(v) for v in self.signal.get("value_range", (0.0, 1.0)))
        image = torch.as_tensor(self.signal["image"], dtype=torch.float32)  # [H, W, C] in [0, 1]
        self.target_laplacian = laplacian_255(image.reshape(self.n_points, -1), self.shape)  # [H, W], 0-255 units
        # The release's values are r = g * y + const with g = 2 / ((hi - lo) * (max u - min u)): its MSE is
        # g^2 times ours, its Laplacian error the same. Dividing the weights by g^2 keeps the release's ratios.
        self.release_mse_factor = release_value_gain(self.signal["image"], self.value_range) ** 2
        self.loss_weight = loss_weight / self.release_mse_factor
        self.crossover_weight = crossover_weight / self.release_mse_factor

    def mutation_count(self, batch_size: int) -> int:
        return min(int(self.mutation_ratio * self.start_ratio * self.n_points), batch_size)

    def next_selection(self, ctx):
        self._step = ctx.step
        self._fitness_now = ctx.step in self.fitness_at or self.order is None
        if self._fitness_now:
            self.fitness_count += 1
            self._last = None  # the ranking is about to change: redraw at the next step
            return Selection(torch.arange(self.n_points, device=ctx.coords.device))
        return super().next_selection(ctx)

    def choose(self, ctx, batch_size):
        """Top of the stale ranking plus uniform mutation from the rest: B distinct points."""
        n_mut = self.mutation_count(batch_size)
        n_top = batch_size - n_mut
        top = self.order[self.n_points - n_top:]
        rest = self.order[: self.n_points - n_top]
        mutation = rest[self.randperm(len(rest))[:n_mut].to(rest.device)]
        return Selection(torch.cat([top, mutation]).to(ctx.coords.device))

    def counts(self):
        return {**super().counts(), "fitness_steps": self.fitness_count, "cfs_loss_steps": self.cfs_loss_count}

    # -- the loss of this step, and the fitness evaluation that reuses its forward pass ---------
    def training_loss(self, selection, predictions, targets):
        """(loss, per-point squared error [B]): the MSE plus the Laplacian term (see above); on a
        fitness step it also ranks the points by this very forward pass."""
        loss, point_losses = super().training_loss(selection, predictions, targets)
        if self._fitness_now:
            self._rank(point_losses.detach(), predictions.detach())
        if self.loss_weight > 0:
            if self._fitness_now:
                self.fitness_predictions = predictions.detach()
                loss = loss + self.loss_weight * self._laplacian_error(predictions).mean()
                self.cfs_loss_count += 1
            elif self._step < self.cfs_steps:
                loss = loss + self.loss_weight * self._sparse_laplacian_loss(selection, predictions)
                self.cfs_loss_count += 1
        return loss, point_losses

    def _laplacian_error(self, full_predictions):
        """Squared Laplacian error per pixel [N], 0-255 units, of predictions for all N pixels.

        The predictions are clamped to the value range first, as the release clamps its
        decoded image to 0-255 (no gradient reaches a pixel outside the range).
        """
        lo, hi = self.value_range
        lap = laplacian_255(full_predictions.clamp(lo, hi), self.shape, self.value_range)
        if self.target_laplacian.device != lap.device:  # moved once, not copied at every step
            self.target_laplacian = self.target_laplacian.to(lap.device)
        return (lap - self.target_laplacian).pow(2).reshape(-1)

    def _sparse_laplacian_loss(self, selection, predictions):
        """Mean Laplacian squared error over the chosen pixels of the last fitness step's
        image with this step's predictions put in at the chosen pixels."""
        pseudo = self.fitness_predictions.index_put((selection.indices,), predictions)
        return self._laplacian_error(pseudo).index_select(0, selection.indices).mean()

    def _rank(self, point_losses, predictions):
        """Fitness evaluation on a full-batch step: the new ranking (and the crossover)."""
        l2_order = torch.argsort(point_losses, stable=True)
        if self.crossover_weight <= 0:
            self.order = l2_order
            return
        lap_error = self.crossover_weight * self._laplacian_error(predictions)
        n_top = self.batch_size(self._step) - self.mutation_count(self.batch_size(self._step))
        self.order = crossover(l2_order, point_losses, lap_error, n_top)


def crossover(l2_order, l2_error, lap_error, n_top: int) -> torch.Tensor:
    """EVOS's frequency-guided crossover of two rankings into one order of all N points.

    The last `n_top` entries of the result are the merged top set: the points in the
    top n_top of both rankings, then the remaining places split between the L2-only
    and the Laplacian-only top points in proportion mean(L2) : mean(Laplacian), each
    taking its highest errors. The other points come first, in rising L2 error.
    As in the release, a share that rounds to 0 takes its whole list (a slice [-0:]),
    so when the L2 share is 0 the top set is the L2 top after all.
    """
    n = len(l2_order)
    if n_top <= 0:
        return l2_order
    lap_order = torch.argsort(lap_error, stable=True)
    top_l2, top_lap = l2_order[n - n_top:], lap_order[n - n_top:]
    in_both = torch.isin(top_l2, top_lap)
    shared = top_l2[in_both]
    l2_only = top_l2[~in_both]                            # rising L2 error
    lap_only = top_lap[~torch.isin(top_lap, top_l2)]      # rising Laplacian error
    remain = n_top - len(shared)
    l2_mean, lap_mean = float(l2_error.mean()), float(lap_error.mean())
    n_l2 = min(int(remain * l2_mean / (l2_mean + lap_mean)) if l2_mean + lap_mean > 0 else remain, len(l2_only))
    n_lap = remain - n_l2
    chosen = torch.cat([lap_only[-n_lap:], l2_only[-n_l2:], shared])  # [-0:] is the whole list, as the release
    others = l2_order[~torch.isin(l2_order, chosen)]
    return torch.cat([others, chosen])


class EvosNoCfsSampler(EvosSampler):
    """EVOS without the Laplacian loss, crossover kept (the release's evos_wo_cfs); images only."""
    name = "evos_no_cfs"
    params = variant_params("evos_no_cfs")


class EvosNoCrossoverSampler(EvosSampler):
    """EVOS with neither Laplacian loss nor crossover: L2 ranking and mutation only; every modality."""
    name = "evos_no_crossover"
    modalities = None
    params = variant_params("evos_no_crossover")
