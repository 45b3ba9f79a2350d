"""EGRA (Edge-Guided Ray Allocation, from EGRA-NeRF), as the EVOS and NINT papers apply it to images.

Canny edges of the grayscale target (thresholds 30/40 in 0-255 units) are computed
once. At each selection every edge pixel moves forward by its own random offset of
6 to 9 flat (row-major) indices, wrapping around the image, and B points are drawn
without replacement with probability proportional to

    shifted_edge * p + (1 - p) * base_rate,   p = 0.0025, base_rate = 4096 / 640000

(base_rate is EGRA-NeRF's rays per batch over pixels per NeRF-synthetic view). An
edge pixel is thus (p + q) / q ~ 1.39 times as likely as another pixel, q = (1-p) * base_rate.
"""
import numpy as np
import torch

from samplers.base import Sampler, Selection
from samplers.image_structure import canny_edges, grayscale
from utils.errors import UserError
from utils.params import Param

# The constants of the `egra:` config section.
PARAMS = {
    "low_threshold": Param(30.0, "lower Canny hysteresis threshold, 0-255 units", "[0, inf)"),
    "high_threshold": Param(40.0, "upper Canny hysteresis threshold, 0-255 units", "[0, inf)"),
    "canny_sigma": Param(0.0, "Gaussian smoothing before Canny, pixels (0 = none, as OpenCV)", "[0, inf)"),
    "p": Param(0.0025, "weight of an edge pixel", "[0, 1]"),
    "base_rate": Param(0.0064, "4096/640000: weight of every pixel (times 1 - p)", "(0, inf)"),
    "shift_min": Param(6, "each edge pixel moves by a random shift_min..shift_max flat indices per selection",
                       "[0, inf)"),
    "shift_max": Param(9, "upper end of that shift", "[0, inf)"),
}


class EgraSampler(Sampler):
    name = "egra"
    modalities = ("image",)
    section = "egra"
    params = PARAMS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = self.constants
        self.p, self.base_rate = float(p["p"]), float(p["base_rate"])
        self.shift_min, self.shift_max = int(p["shift_min"]), int(p["shift_max"])
        if self.shift_min > self.shift_max:
            raise UserError(f"egra.shift_min={self.shift_min} is above egra.shift_max={self.shift_max}")
        edges = canny_edges(grayscale(self.signal["image"]), p["low_threshold"], p["high_threshold"],
                            float(p["canny_sigma"]))
        self.edge_indices = torch.from_numpy(np.flatnonzero(edges.reshape(-1))).to(self.device)

    def shifted_edges(self) -> torch.Tensor:
        """Float [N] map, 1 at every edge pixel moved by its own random offset (wrapping)."""
        offsets = torch.randint(self.shift_min, self.shift_max + 1, self.edge_indices.shape, generator=self.generator,
                                device=self.device)
        # index_fill_, not edge_map[...] = 1.0: no host-to-device copy of the value on a GPU
        return torch.zeros(self.n_points, device=self.device).index_fill_(
            0, (self.edge_indices + offsets) % self.n_points, 1.0)

    def probabilities(self, edge_map: torch.Tensor) -> torch.Tensor:
        """Sampling distribution [N] (sums to 1) for an edge map."""
        weights = edge_map * self.p + (1.0 - self.p) * self.base_rate
        return weights / weights.sum()

    def choose(self, ctx, batch_size):
        probs = self.probabilities(self.shifted_edges())
        return Selection(torch.multinomial(probs, batch_size, replacement=False, generator=self.generator)
                         .to(ctx.coords.device))
