"""Soft Mining (Kheradmand et al., Accelerating Neural Field Training via Soft Mining, CVPR 2024).

B points are carried from step to step as continuous positions u = (row, col) in
[0, 1]^2 (pixel r sits at u = r / (H - 1), i.e. coordinate 2u - 1 on the task's grid)
and moved by Langevin steps toward higher loss:

    u <- u + a * g + b * n,   n ~ N(0, 1),   a = 20, b = 0.02

where g is the normalised coordinate gradient of the EVOS release's image baseline: the
gradient of this step's (importance-weighted) batch loss with respect to the point's
coordinates in [-1, 1] units, divided by c * (c * l) (+ float32 eps), with l the
point's squared error and c its importance weight; that equals grad log l / (B * c).
(The NeRF release divides by c * l only and differentiates with respect to pixel
units; docs/methods.md, Soft Mining, says why we follow EVOS.)

Units: the release computes this in its values stretched per image to [-1, 1],
r = k y + const with k = samplers.evos.release_value_gain (2 / ((hi - lo)(max u - min u))).
There l is k^2 times ours and c is k^-r times ours (r the current exponent below), so its
drift is k^r times the same formula on our values; we multiply by k^r, which makes the
move the release's for any DATASET_CONFIGS.value_range (exactly where the clamp at
correction_min and the eps floors do not bind). For [0, 1] and images/01.png at 128x128
(k = 2.33) that is 1.66x at the final r = 0.6.

After the move, points that left [0, 1]^2 or sit among the lowest `resample_low_loss`
share of (weighted) losses are re-drawn from the releases' Sobel map of the target
(samplers/image_structure.py: soft_mining_sobel_map, zero padding, each column divided
by its maximum, floored at 1e-5), at pixel positions; the last `uniform_share` of the
set is re-drawn uniformly in [0, 1]^2 every step, keeping the chain exploring.

The loss is importance-corrected: c = (1 / L1)^r per point, L1 the mean absolute error
over channels (floored at float16's eps), r = min(t / warmup, alpha) with t = step + 1
(the release counts steps from 1), then c is clamped to [correction_min, mean(c) + std(c)],
and loss = mean(c * squared error).

As in both releases, training uses the nearest pixel of every position (`snap_to_pixels:
1`): its grid coordinate and its exact value. `snap_to_pixels: 0` trains at the
continuous positions with bilinear targets instead. Points may coincide: this sampler's
`indices` (nearest pixels) need not be distinct.
"""
import numpy as np
import torch
import torch.nn.functional as F

from samplers.base import Sampler, Selection
from samplers.evos import release_value_gain
from samplers.image_structure import soft_mining_sobel_map
from utils.params import Param

# The constants of the `soft_mining:` config section.
PARAMS = {
    "a": Param(20.0, "Langevin drift step", "[0, inf)"),
    "b": Param(0.02, "Langevin noise, [0, 1] position units", "[0, inf)"),
    "resample_low_loss": Param(0.1, "lowest-loss share of the points re-drawn (from Sobel edges) each step",
                               "[0, 1)"),
    "uniform_share": Param(0.1, "share of the points (the last ones) re-drawn uniformly each step", "[0, 1]"),
    "alpha": Param(0.6, "final exponent of the importance correction (1/L1)^r", "[0, inf)"),
    "warmup": Param(1000, "r = min(step / warmup, alpha)", "[1, inf)"),
    "correction_min": Param(0.2, "lower clamp of the importance weights", "[0, inf)"),
    "snap_to_pixels": Param(1, "1 = train at the nearest pixel with its exact value (both releases); "
                            "0 = continuous positions, bilinear targets", choices=(0, 1)),
    "sobel_normalise": Param("column", "Sobel map for re-draws: column = each column / its max (the releases' "
                             "code); image = / the global max", choices=("column", "image")),
}
FLOAT16_EPS = float(torch.finfo(torch.float16).eps)  # the releases' floor on the L1 error
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class SoftMiningSampler(Sampler):
    name = "soft_mining"
    modalities = ("image",)
    needs_coord_grads = True
    pointwise_loss = False  # the importance weights come from this step's predictions
    needs_training_loss = needs_observe = True  # the weights are made there, the points moved here
    uses_value_range = True  # the drift is scaled by the release's gain, in value_range units
    state_keys = ("positions", "drift", "ranking_loss", "langevin_steps", "redrawn_sobel", "redrawn_uniform")
    section = "soft_mining"
    params = PARAMS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = self.constants
        self.a, self.b = float(p["a"]), float(p["b"])
        self.resample_low_loss, self.uniform_share = float(p["resample_low_loss"]), float(p["uniform_share"])
        self.alpha, self.warmup = float(p["alpha"]), int(p["warmup"])
        self.correction_min = float(p["correction_min"])
        self.snap = bool(p["snap_to_pixels"])
        self.height, self.width = self.signal["shape"]
        # The map is floored at 1e-5, so every pixel can be drawn (a flat image gives uniform draws).
        edges = torch.from_numpy(soft_mining_sobel_map(self.signal["image"], str(p["sobel_normalise"])).reshape(-1))
        self.edge_probs = (edges / edges.sum()).float().to(self.device)
        # k: the release's values are k y + const (see above); its drift is k^r times the formula on ours
        self.release_gain = release_value_gain(self.signal["image"], self.signal.get("value_range", (0.0, 1.0)))
        self.langevin_steps = 0   # Langevin moves made
        # Counts kept as device tensors once moves begin: reading them would make a GPU step wait
        self.redrawn_sobel = 0    # points re-drawn from the Sobel map (out of bounds or low loss), all moves
        self.redrawn_uniform = 0  # points re-drawn uniformly (the last uniform_share, unless re-drawn from Sobel)
        self.positions = None     # [B, 2] (row, col) in [0, 1]
        self.drift = None         # [B, 2] normalised coordinate gradients from the last step (observe)
        self.ranking_loss = None  # [B] importance-weighted losses from the last step
        self._step, self._correction, self._exponent = 0, None, 0.0

    # -- positions ----------------------------------------------------------------------
    def pixel_positions(self, pixel_indices: torch.Tensor) -> torch.Tensor:
        """[K] flat pixel indices -> [K, 2] positions in [0, 1]^2 at those pixels."""
        rows = torch.div(pixel_indices, self.width, rounding_mode="floor").float() / (self.height - 1)
        cols = (pixel_indices % self.width).float() / (self.width - 1)
        return torch.stack([rows, cols], dim=1)

    def nearest_pixels(self, positions: torch.Tensor) -> torch.Tensor:
        rows = (positions[:, 0] * (self.height - 1)).round().long()
        cols = (positions[:, 1] * (self.width - 1)).round().long()
        return rows * self.width + cols

    def _langevin_step(self):
        """Move the points along the last step's feedback, then re-draw the poor ones."""
        u, n = self.positions, len(self.positions)
        noise = torch.randn(n, 2, generator=self.generator, device=self.device)
        u = u + self.a * self.drift + self.b * noise
        n_low = min(int(self.resample_low_loss * n), n - 1)
        low_cut = torch.sort(self.ranking_loss).values[n_low]
        redraw = (u < 0).any(dim=1) | (u > 1).any(dim=1) | (self.ranking_loss <= low_cut)
        n_uniform = int(self.uniform_share * n)
        if n_uniform > 0:
            u[n - n_uniform:] = torch.rand(n_uniform, 2, generator=self.generator, device=self.device)
        # One Sobel draw per point, kept where the point is re-drawn (the same distribution as
        # drawing only for those, without the host learning how many there are). The Sobel
        # draws overwrite uniform ones where both apply, as in the releases.
        drawn = torch.multinomial(self.edge_probs, n, replacement=True, generator=self.generator)
        u = torch.where(redraw.unsqueeze(1), self.pixel_positions(drawn), u)
        self.positions = u.clamp(0.0, 1.0)
        self.drift = self.ranking_loss = None  # feedback used up
        self.langevin_steps += 1
        self.redrawn_sobel = self.redrawn_sobel + redraw.sum()
        if n_uniform > 0:  # the uniform draws that a Sobel draw did not overwrite
            self.redrawn_uniform = self.redrawn_uniform + (n_uniform - redraw[n - n_uniform:].sum())

    def _resize(self, batch_size):
        """Keep the first B points, or add uniformly drawn pixels (the scheduler changed B)."""
        n = len(self.positions)
        if batch_size < n:
            self.positions = self.positions[:batch_size]
        elif batch_size > n:
            extra = torch.randint(0, self.n_points, (batch_size - n,), generator=self.generator, device=self.device)
            self.positions = torch.cat([self.positions, self.pixel_positions(extra)])

    def counts(self):
        """Adds the Langevin moves and the points re-drawn (Sobel map / uniform), all moves together."""
        sobel, uniform = int(self.redrawn_sobel), int(self.redrawn_uniform)
        return {**super().counts(), "langevin_steps": self.langevin_steps, "redrawn_points": sobel + uniform,
                "redrawn_sobel": sobel, "redrawn_uniform": uniform}

    def next_selection(self, ctx):
        self._step = ctx.step
        return super().next_selection(ctx)

    def choose(self, ctx, batch_size):
        if self.positions is None:  # start at uniformly drawn pixels
            self.positions = self.pixel_positions(torch.randint(0, self.n_points, (batch_size,),
                                                                generator=self.generator, device=self.device))
        elif self.drift is not None:
            self._langevin_step()
        self._resize(batch_size)
        device = ctx.coords.device
        indices = self.nearest_pixels(self.positions).to(device)
        if self.snap:
            return Selection(indices)
        coords = (2.0 * self.positions - 1.0).to(device)
        return Selection(indices, coords=coords, targets=self.interpolate(ctx.targets, coords))

    def interpolate(self, targets: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Bilinear values [B, C] of the image held by targets [N, C] at coords [B, 2] (row, col) in [-1, 1]."""
        image = targets.T.reshape(1, -1, self.height, self.width)
        grid = coords.flip(1).reshape(1, 1, -1, 2)  # grid_sample wants (x, y) = (col, row)
        return F.grid_sample(image, grid, mode="bilinear", align_corners=True).reshape(targets.shape[1], -1).T

    # -- loss and feedback --------------------------------------------------------------
    def importance_weights(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """c = (1 / L1)^r clamped to [correction_min, mean + std], [B], no gradient."""
        l1 = (predictions.detach() - targets).abs().mean(dim=1).clamp(min=FLOAT16_EPS)
        r = min((self._step + 1) / self.warmup, self.alpha)  # the release's steps count from 1
        self._exponent = r
        c = l1.reciprocal().pow(r)
        # mean + std summed in float64 and rounded once, as a Python-float bound would be, but
        # without reading it on the host
        spread = c.std().double() if len(c) > 1 else 0.0
        upper = (c.mean().double() + spread).float()
        return torch.minimum(c.clamp(min=self.correction_min), upper)

    def training_loss(self, selection, predictions, targets):
        self.check_loss_inputs(selection, predictions, targets)
        point_losses = (predictions - targets).pow(2).mean(dim=1)
        self._correction = self.importance_weights(predictions, targets)
        return (self._correction * point_losses).mean(), point_losses

    def observe(self, selection, point_losses, coord_grads):
        self.check_feedback(selection, point_losses, coord_grads)
        weighted = self._correction * point_losses
        self.ranking_loss = weighted
        # times k^r: the drift the release's formula gives in its [-1, 1]-stretched values
        scale = self.release_gain ** self._exponent
        self.drift = scale * coord_grads / (self._correction * weighted + FLOAT32_EPS).unsqueeze(1)
