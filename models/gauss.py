"""GAUSS (Ramasinghe & Lucey, ECCV 2022): an MLP with Gaussian activations.

    y = exp(-(s * (W x + b))^2),   s = scale (30 by default: the bump is about
                                             1/30 wide in pre-activation units)

The scale s plays the role of SIREN's omega_0: larger s, narrower bumps, higher
frequencies. hidden_layers counts the Gaussian layers, the first included; a
linear layer maps to the output, so the parameter count equals the ReLU MLP's of
the same size (8,707 for 3x64, in 2, out 3). Initialization: PyTorch's default for
nn.Linear, as in the reference code of the Gaussian-activation papers.
"""
import torch
from torch import nn

from models.activated_mlp import ActivatedMLP

from utils.errors import UserError
from utils.params import Param


class GaussianLayer(nn.Module):
    """y = exp(-(scale * (W x + b))^2), values in (0, 1]."""

    def __init__(self, in_features, out_features, scale):
        super().__init__()
        self.scale = scale
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.exp(-(self.scale * self.linear(x)) ** 2)

    def activation(self, z):
        """(exp(-(s z)^2), d/dz = -2 s^2 z exp(-(s z)^2)) for the pre-activation z (NINT's fast path)."""
        y = torch.exp(-(self.scale * z) ** 2)
        return y, -2.0 * self.scale ** 2 * z * y


class Gauss(ActivatedMLP):
    default_lr = 5e-3
    params = {"scale": Param(30.0, "s in exp(-(s z)^2): larger, narrower bumps", "(0, inf)")}

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256, scale=30.0):
        if not scale > 0:
            raise UserError(f"model_config.scale={scale!r}: must be > 0")
        widths = [in_features] + [hidden_features] * hidden_layers
        layers = [GaussianLayer(fan_in, fan_out, scale) for fan_in, fan_out in zip(widths[:-1], widths[1:])]
        super().__init__(layers, nn.Linear(hidden_features, out_features))
