"""Expansive Supervision (ICME 2025): a fixed set of edge "anchors" plus a uniform fill.

With r0 the starting batch ratio (nint.mt_ratio) and a = xi * r0 the anchor ratio (the
EVOS release's image baseline: a = 0.5 * r0), anchors are computed once from the target
image (Task.signal), before training:
1. Canny on the grayscale target, thresholds (0.5, 1.0) x Otsu's value (0-255 units,
   converted for scikit-image in samplers/image_structure.py);
2. the threshold search (`threshold_search`): as the release (default), up to 100 rounds
   that multiply only the upper factor by (1 + 15 (area - a)) until the edge area (share
   of the pixels, before dilation) lies in [0.8 a, 1.2 a]; the last map is kept whether
   or not it got there. `bisection` scales both thresholds together instead (converges);
3. dilated by a 2x2 square (as OpenCV's), then, when the dilated area exceeds a, trimmed
   at random (run generator) to int(a * W * H) pixels.
Each selection trains on every anchor plus a uniform fill among the non-anchors (`fill`):
as the release (default), int((r - a) * N) points with r the current batch ratio, so the
batch is anchors + fill, which can be a point or two below B = int(r N), and lower still
when the anchors fall short of their budget; `batch` fills to exactly B instead (B random
anchors if the scheduler ever makes B smaller than the anchor set). counts() records the
anchors, the fill and how far the batches fell short of B. docs/methods.md, Expansive
Supervision, has the measured numbers on the shipped images.
"""
import math

import numpy as np
import torch

from samplers.base import Sampler, Selection
from samplers.image_structure import canny_edges, dilate_2x2, grayscale, otsu_255
from samplers.schedules import batch_ratio
from utils.params import Param

# The constants of the `expansive:` config section.
PARAMS = {
    "xi": Param(0.5, "anchor (edge) share of the starting batch: anchor ratio a = xi * mt_ratio; "
                "the paper also reports 0.7", "[0, 1]"),
    "canny_sigma": Param(0.0, "Gaussian smoothing before Canny, pixels (0 = none, as OpenCV)", "[0, inf)"),
    "threshold_search": Param("release", "release = only the upper Canny threshold, x (1 + 15 (area - a)) per "
                              "round, up to 100; bisection = both thresholds, converging",
                              choices=("release", "bisection")),
    "fill": Param("release", "release = int((r - a) N) uniform points besides the anchors (the batch can fall "
                  "short of B); batch = fill to exactly B", choices=("release", "batch")),
}
AREA_TOLERANCE = 0.2   # the edge area is accepted within +-20% of its target (the release's band)
MAX_ROUNDS = 100       # threshold adjustments at most (the release's max_step)
RELEASE_GAIN = 15.0    # the release's mu in the upper-threshold factor (1 + mu (area - target))


def upper_threshold_factor(area: float, target_area: float) -> float:
    """The release's per-round factor on the upper Canny threshold: 1 + 15 (area - target)."""
    return 1.0 + RELEASE_GAIN * (area - target_area)


def release_canny(gray: np.ndarray, target_area: float, sigma: float = 0.0, canny=canny_edges):
    """The release's threshold search: (edges, rounds, reached the band).

    Thresholds start at (0.5, 1.0) x Otsu; while the area is outside [0.8, 1.2] x target
    (at most 100 rounds) only the upper factor is multiplied by upper_threshold_factor.
    The factor can turn negative (area below target by more than 1/15) or grow large, and
    with the lower threshold fixed the area may never reach the band: the last map is
    returned then, as in the release. `canny(gray, low_255, high_255, sigma)` is
    injectable for tests.
    """
    otsu = otsu_255(gray)
    low, high = 0.5, 1.0
    edges = canny(gray, otsu * low, otsu * high, sigma)
    rounds = 0
    while True:
        area = float(np.mean(edges))
        if abs(area - target_area) <= AREA_TOLERANCE * target_area:
            return edges, rounds, True
        if rounds >= MAX_ROUNDS:
            return edges, rounds, False
        high *= upper_threshold_factor(area, target_area)
        edges = canny(gray, otsu * low, otsu * high, sigma)
        rounds += 1


def adjusted_canny(gray: np.ndarray, target_area: float, sigma: float = 0.0) -> np.ndarray:
    """Canny edges whose area (share of pixels) lies within +-20% of `target_area` (option `bisection`).

    The thresholds start at (0.5, 1.0) x Otsu's value and are scaled together, the
    scale found by bisection (in log scale): the edge area never grows when both
    thresholds rise, so the search converges, where the release's rule (release_canny)
    can oscillate or diverge. If no scale hits the band (tiny images: the area moves in
    jumps), the closest map is returned.
    """
    otsu = otsu_255(gray)
    scale, too_many, too_few = 1.0, None, None  # scales known to give too many / too few edges
    best = None
    for _ in range(MAX_ROUNDS):
        edges = canny_edges(gray, 0.5 * otsu * scale, otsu * scale, sigma)
        area = edges.mean()
        if best is None or abs(area - target_area) < abs(best.mean() - target_area):
            best = edges
        if abs(area - target_area) <= AREA_TOLERANCE * target_area:
            return edges
        if area > target_area:
            too_many = scale
        else:
            too_few = scale
        if too_many is not None and too_few is not None:
            scale = math.sqrt(too_many * too_few)
        else:
            scale = scale * 2.0 if too_few is None else scale / 2.0
    return best


class ExpansiveSampler(Sampler):
    name = "expansive"
    modalities = ("image",)
    state_keys = ("anchors", "non_anchors", "fill_points", "batch_deficit")
    section = "expansive"
    params = PARAMS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p, n_points = self.constants, self.n_points
        self.xi = float(p["xi"])
        self.fill_rule = str(p["fill"])
        self.anchor_ratio = self.xi * self.start_ratio  # a; the release passes 0.5 * use_ratio
        self.height, self.width = height, width = self.signal["shape"]
        gray = grayscale(self.signal["image"])
        sigma = float(p["canny_sigma"])
        if p["threshold_search"] == "release":
            edges, self.canny_rounds, self.band_reached = release_canny(gray, self.anchor_ratio, sigma)
        else:
            edges = adjusted_canny(gray, self.anchor_ratio, sigma)
            self.canny_rounds, self.band_reached = None, bool(
                abs(edges.mean() - self.anchor_ratio) <= AREA_TOLERANCE * self.anchor_ratio)
        self.edge_area = float(np.mean(edges))
        dilated = dilate_2x2(edges)
        anchors = torch.from_numpy(np.flatnonzero(dilated.reshape(-1))).to(self.device)
        if len(anchors) / n_points > self.anchor_ratio:  # trim at random to the budget
            budget = int(self.anchor_ratio * width * height)
            anchors = anchors[self.randperm(len(anchors))[:budget].sort().values]
        is_anchor = torch.zeros(n_points, dtype=torch.bool, device=self.device).index_fill_(0, anchors, True)
        self.anchors = anchors
        self.non_anchors = torch.nonzero(~is_anchor).reshape(-1)
        self.fill_points = 0    # fill points drawn, all selections together
        self.batch_deficit = 0  # sum over selections of B - (points trained on); > 0 when batches fell short

    def fill_count(self, step: int, batch_size: int) -> int:
        """Fill points at this selection: int((r - a) N) as the release (floored at 0), or B - anchors."""
        if self.fill_rule == "batch":
            return max(0, batch_size - len(self.anchors))
        ratio = batch_ratio(self.scheduler, step, self.total_steps, self.start_ratio)
        return max(0, int((ratio - self.anchor_ratio) * self.height * self.width))

    def counts(self):
        """Adds the anchor set's size, the fill drawn and the batches' shortfall against B."""
        return {**super().counts(), "anchors": len(self.anchors), "fill_points": self.fill_points,
                "batch_deficit": self.batch_deficit, "edge_area": round(self.edge_area, 6),
                "canny_rounds": self.canny_rounds, "band_reached": int(self.band_reached)}

    def choose(self, ctx, batch_size):
        device = ctx.coords.device
        if self.fill_rule == "batch" and batch_size <= len(self.anchors):
            pick = self.randperm(len(self.anchors))[:batch_size]
            indices, n_fill = self.anchors[pick], 0
        else:
            n_fill = self.fill_count(ctx.step, batch_size)
            fill = self.randperm(len(self.non_anchors))[:n_fill]
            indices, n_fill = torch.cat([self.anchors, self.non_anchors[fill]]), len(fill)
        self.fill_points += n_fill
        self.batch_deficit += batch_size - len(indices)
        return Selection(indices.to(device))
