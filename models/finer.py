"""FINER (Liu et al., CVPR 2024): SIREN with a variable-periodic sine.

    z = W x + b,   y = sin(omega * alpha(z) * z),   alpha(z) = |z| + 1

alpha is computed without gradient (as in the FINER paper's implementation), so
the derivative is omega * alpha(z) * cos(omega * alpha(z) * z); training and
NINT's NTK scores both see this same derivative. Larger |z| means a higher local
frequency, which is how FINER widens the spectrum a layer can express.

Initialization, as in the FINER paper (SIREN's uniform scheme for the weights):
first layer W ~ U(-1/fan_in, 1/fan_in); later layers, output layer included,
W ~ U(-sqrt(6/fan_in)/omega, +sqrt(6/fan_in)/omega). Biases: PyTorch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), except the first layer's when
first_bias_scale k is set: U(-k, k) (FINER's larger-bias option; a larger k
starts the first layer on higher frequencies).

hidden_layers counts the FINER layers, the first included; a linear layer maps
to the output, so the parameter count equals SIREN's (264,707 for 5x256, 2 -> 3).
"""
import math

import torch
from torch import nn

from models.activated_mlp import ActivatedMLP

from utils.errors import UserError
from utils.params import Param


class FinerLayer(nn.Module):
    """y = sin(omega * (|z| + 1) * z) with z = W x + b and (|z| + 1) held constant in backprop."""

    def __init__(self, in_features, out_features, omega, is_first=False, first_bias_scale=None):
        super().__init__()
        self.omega = omega
        self.linear = nn.Linear(in_features, out_features)
        with torch.no_grad():
            bound = 1.0 / in_features if is_first else math.sqrt(6.0 / in_features) / omega
            self.linear.weight.uniform_(-bound, bound)
            if is_first and first_bias_scale is not None:
                self.linear.bias.uniform_(-first_bias_scale, first_bias_scale)

    def forward(self, x):
        z = self.linear(x)
        alpha = z.detach().abs() + 1.0
        return torch.sin(self.omega * alpha * z)

    def activation(self, z):
        """(sin(omega a z), d/dz = omega a cos(omega a z)), a = |z| + 1 held constant as in
        forward(): the derivative training uses (NINT's fast NTK path)."""
        frequency = self.omega * (z.abs() + 1.0)
        return torch.sin(frequency * z), frequency * torch.cos(frequency * z)


class Finer(ActivatedMLP):
    default_lr = 5e-4
    params = {
        "first_omega": Param(30.0, "omega of the first FINER layer", "(0, inf)"),
        "hidden_omega": Param(30.0, "omega of the other FINER layers", "(0, inf)"),
        "first_bias_scale": Param(None, "null = PyTorch's default first-layer bias; k > 0 = U(-k, k) "
                                  "(FINER's option)", "(0, inf)", kind=float),
    }

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256,
                 first_omega=30.0, hidden_omega=30.0, first_bias_scale=None):
        if not (first_omega > 0 and hidden_omega > 0):
            raise UserError(f"model_config.first_omega={first_omega!r}, hidden_omega={hidden_omega!r}: must be > 0")
        if first_bias_scale is not None and (isinstance(first_bias_scale, bool)
                                             or not isinstance(first_bias_scale, (int, float))
                                             or not first_bias_scale > 0):
            raise UserError(f"model_config.first_bias_scale={first_bias_scale!r}: must be null or > 0")
        layers = [FinerLayer(in_features, hidden_features, first_omega, is_first=True,
                             first_bias_scale=first_bias_scale)]
        layers += [FinerLayer(hidden_features, hidden_features, hidden_omega) for _ in range(hidden_layers - 1)]
        last = nn.Linear(hidden_features, out_features)
        with torch.no_grad():
            bound = math.sqrt(6.0 / hidden_features) / hidden_omega
            last.weight.uniform_(-bound, bound)
        super().__init__(layers, last)
