"""Expansive Supervision (ICME 2025): a fixed set of edge "anchors" plus a uniform fill.

Anchors are computed once from the target image (Task.signal), before training:
1. Canny on the grayscale target with thresholds (0.5, 1.0) x Otsu's value (0-255
   units, converted for scikit-image in samplers/image_structure.py);
2. the upper threshold is scaled by (1 + mu * (area - target)) until the edge area
   (share of the image's pixels) lies within +-20% of target = xi * B0 / N (at most
   100 rounds), with B0 the batch at step 0;
3. dilated by a 2x2 square, then trimmed at random (run generator) to at most
   int(xi * B0) pixels.
Each selection then trains on every anchor plus B - (number of anchors) points drawn
uniformly among the non-anchors, so the batch is exactly B at every step (if the
scheduler ever makes B smaller than the anchor set, B anchors are drawn at random).
"""
import numpy as np
import torch

from samplers.base import Sampler, Selection
from samplers.image_structure import canny_edges, dilate_2x2, grayscale, otsu_255

# Defaults of the `expansive:` config section (config/train_image.yaml mirrors them).
DEFAULTS = {
    "xi": 0.5,           # anchor share of the batch, in [0, 1]; the paper also reports 0.7
    "canny_sigma": 0.0,  # Gaussian smoothing before Canny, in pixels (0 = none, as OpenCV)
}
AREA_TOLERANCE = 0.2   # the edge area is accepted within +-20% of its target (the release's band)
THRESHOLD_GAIN = 15.0  # mu: how strongly the upper threshold reacts to the area error
MAX_ROUNDS = 100


def adjusted_canny(gray: np.ndarray, target_area: float, sigma: float = 0.0) -> np.ndarray:
    """Canny edges whose area (share of pixels) is about `target_area`, thresholds from Otsu."""
    otsu = otsu_255(gray)
    low_factor, high_factor = 0.5, 1.0
    edges = canny_edges(gray, otsu * low_factor, otsu * high_factor, sigma)
    for _ in range(MAX_ROUNDS):
        area = edges.mean()
        if abs(area - target_area) <= AREA_TOLERANCE * target_area:
            break
        high_factor *= 1.0 + (area - target_area) * THRESHOLD_GAIN  # too many edges: raise it
        edges = canny_edges(gray, otsu * low_factor, otsu * high_factor, sigma)
    return edges


class ExpansiveSampler(Sampler):
    name = "expansive"
    modalities = ("image",)
    state_keys = ("anchors", "non_anchors")

    def __init__(self, cfg, n_points, total_steps, generator, signal=None):
        super().__init__(cfg, n_points, total_steps, generator, signal=signal)
        p = {**DEFAULTS, **cfg.get("expansive", {})}
        self.xi = float(p["xi"])
        anchor_budget = int(self.xi * self.batch_size(0))
        gray = grayscale(self.signal["image"])
        edges = dilate_2x2(adjusted_canny(gray, anchor_budget / n_points, float(p["canny_sigma"])))
        anchors = torch.from_numpy(np.flatnonzero(edges.reshape(-1)))
        if len(anchors) > anchor_budget:  # trim at random to the budget
            keep = torch.randperm(len(anchors), generator=self.generator)[:anchor_budget]
            anchors = anchors[keep.sort().values]
        is_anchor = torch.zeros(n_points, dtype=torch.bool)
        is_anchor[anchors] = True
        self.anchors = anchors
        self.non_anchors = torch.nonzero(~is_anchor).reshape(-1)

    def choose(self, ctx, batch_size):
        device = ctx.coords.device
        if batch_size <= len(self.anchors):
            pick = torch.randperm(len(self.anchors), generator=self.generator)[:batch_size]
            return Selection(self.anchors[pick].to(device))
        fill = torch.randperm(len(self.non_anchors), generator=self.generator)[: batch_size - len(self.anchors)]
        return Selection(torch.cat([self.anchors, self.non_anchors[fill]]).to(device))
