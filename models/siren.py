"""SIREN (Sitzmann et al., NeurIPS 2020): an MLP with sine activations.

hidden_layers counts every sine layer, the first included, so the paper's 5x256
network is 2->256, four 256->256, then a linear 256->out (264,707 parameters for
out=3).
"""
import math

import torch
from torch import nn

from models.activated_mlp import ActivatedMLP


class SineLayer(nn.Module):
    """y = sin(omega_0 * (W x + b)), initialised as in the SIREN paper."""

    def __init__(self, in_features, out_features, omega_0=30.0, is_first=False):
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        with torch.no_grad():
            if is_first:
                # The first layer sees raw coordinates in [-1, 1]: U(-1/fan_in, 1/fan_in)
                # for weights and biases keeps sin(omega_0 z) spanning a few periods.
                bound = 1.0 / in_features
                self.linear.bias.uniform_(-bound, bound)
            else:
                # Later layers: scaled so that omega_0 * W x stays ~U(-sqrt(6), sqrt(6))-distributed.
                bound = math.sqrt(6.0 / in_features) / omega_0
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x):
        return torch.sin(self.omega_0 * self.linear(x))

    def activation(self, z):
        """(sin(omega_0 z), d/dz) for the pre-activation z = W x + b (NINT's fast NTK path)."""
        wz = self.omega_0 * z
        return torch.sin(wz), self.omega_0 * torch.cos(wz)


class Siren(ActivatedMLP):
    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256,
                 first_omega_0=30.0, hidden_omega_0=30.0):
        if hidden_layers < 1 or hidden_features < 1:
            raise ValueError("SIREN needs hidden_layers >= 1 and hidden_features >= 1")
        layers = [SineLayer(in_features, hidden_features, first_omega_0, is_first=True)]
        layers += [SineLayer(hidden_features, hidden_features, hidden_omega_0)
                   for _ in range(hidden_layers - 1)]
        last = nn.Linear(hidden_features, out_features)
        with torch.no_grad():
            bound = math.sqrt(6.0 / hidden_features) / hidden_omega_0
            last.weight.uniform_(-bound, bound)
        super().__init__(layers, last)
