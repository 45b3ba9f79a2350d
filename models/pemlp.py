"""PEMLP: NeRF's positional encoding (Mildenhall et al., ECCV 2020), then a ReLU MLP.

    gamma(x) = [x, sin(2^0 pi x), cos(2^0 pi x), ..., sin(2^{L-1} pi x), cos(2^{L-1} pi x)]

applied to every coordinate, L = num_frequencies (10, NeRF's choice for positions),
so the encoding has in_features * (1 + 2L) entries. The frequencies are fixed
(not trained). On [-1, 1] the highest one, 2^{L-1} pi, has 2^{L-1} periods across
the domain (512 for L = 10), enough for a 1024-pixel axis.

hidden_layers counts the ReLU layers after the encoding, the first included.
Example, 3x64 with in = 2, L = 10, out = 3: encoding 42 wide, then
(42*64+64) + 2*(64*64+64) + (64*3+3) = 11,267 parameters.
"""
import math

import torch
from torch import nn

from models.mlp import ReluMLP
from utils.errors import UserError
from utils.params import Param


class PositionalEncoding(nn.Module):
    """[N, in_features] -> [N, in_features * (1 + 2 * num_frequencies)]."""

    def __init__(self, num_frequencies):
        super().__init__()
        # A buffer so that it follows the model to its device; not a parameter.
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(num_frequencies, dtype=torch.float32))

    def forward(self, coords):
        angles = coords[..., None] * self.frequencies          # [N, in, L]
        # Per coordinate: sin of every frequency then cos of every frequency.
        waves = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)
        return torch.cat([coords, waves], dim=-1)


class PEMLP(nn.Module):
    default_lr = 1e-3
    params = {"num_frequencies": Param(10, "L; the encoding is in_features * (1 + 2L) wide", "[0, inf)")}

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256, num_frequencies=10):
        super().__init__()
        if not (isinstance(num_frequencies, int) and num_frequencies >= 0):
            raise UserError(f"model_config.num_frequencies={num_frequencies!r}: must be an integer >= 0")
        self.encoding = PositionalEncoding(num_frequencies)
        self.mlp = ReluMLP(in_features * (1 + 2 * num_frequencies), out_features, hidden_layers, hidden_features)

    def forward(self, coords):
        """coords: [N, in_features] -> [N, out_features]."""
        return self.mlp(self.encoding(coords))
