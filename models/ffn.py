"""FFN (Tancik et al., NeurIPS 2020): random Gaussian Fourier features, then a ReLU MLP.

    gamma(x) = [cos(2 pi B x), sin(2 pi B x)],   B in R^{m x in}, B_ij ~ N(0, std^2)

B is drawn once at construction (from the global torch generator, which the
trainer seeds with the run's seed) and stored as a buffer: it is saved in
checkpoints but is not trained, not counted in the parameter count, and not part
of the NTK. std = 10 is the paper's image setting (coordinates in [-1, 1] here,
so frequencies run up to roughly 2 * 3 * std cycles across the image).

hidden_layers counts the ReLU layers after the encoding, the first included; with
m = num_frequencies the first layer maps 2m -> hidden_features. Example, 3x64 with
m = 128, out = 3: (256*64+64) + 2*(64*64+64) + (64*3+3) = 24,963 parameters.
"""
import math

import torch
from torch import nn

from models.mlp import ReluMLP
from utils.errors import UserError
from utils.params import Param


class GaussianFourierFeatures(nn.Module):
    """[N, in_features] -> [N, 2 * num_frequencies]: cos then sin of 2 pi B x."""

    def __init__(self, in_features, num_frequencies, std):
        super().__init__()
        self.register_buffer("B", torch.randn(num_frequencies, in_features) * std)

    def forward(self, coords):
        projected = 2.0 * math.pi * coords @ self.B.T
        return torch.cat([torch.cos(projected), torch.sin(projected)], dim=-1)


class FFN(nn.Module):
    default_lr = 1e-3
    params = {
        "num_frequencies": Param(128, "rows m of the Gaussian matrix B; the encoding is 2m wide", "[1, inf)"),
        "fourier_std": Param(10.0, "standard deviation of B's entries (the FFN paper's image setting)", "(0, inf)"),
    }

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256,
                 num_frequencies=128, fourier_std=10.0):
        super().__init__()
        if not (isinstance(num_frequencies, int) and num_frequencies >= 1):
            raise UserError(f"model_config.num_frequencies={num_frequencies!r}: must be an integer >= 1")
        if not fourier_std > 0:
            raise UserError(f"model_config.fourier_std={fourier_std!r}: must be > 0")
        self.encoding = GaussianFourierFeatures(in_features, num_frequencies, fourier_std)
        self.mlp = ReluMLP(2 * num_frequencies, out_features, hidden_layers, hidden_features)

    def forward(self, coords):
        """coords: [N, in_features] -> [N, out_features]."""
        return self.mlp(self.encoding(coords))
