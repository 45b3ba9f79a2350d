"""SIREN (Sitzmann et al., NeurIPS 2020): an MLP with sine activations.

hidden_layers counts every sine layer, the first included, so the paper's 5x256
network is 2->256, four 256->256, then a linear 256->out (264,707 parameters for
out=3).

Initialisation (docs/methods.md, "Models"). Weights: first layer U(-1/fan_in, 1/fan_in),
every later layer, the linear output layer included, U(-sqrt(6/fan_in)/omega_0, +...).
Biases, `bias_init`:
  release  (default) the same uniform range as the layer's weights, in every layer: what
           the NINT release does, and so what the paper's numbers were measured with;
  pytorch  nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in every layer, as in
           Sitzmann et al.'s original code (inside sin(30 z) a hidden layer's phase then
           spreads about 12x wider than with `release` at width 256).
"""
import math

import torch
from torch import nn

from models.activated_mlp import ActivatedMLP
from utils.errors import UserError
from utils.params import Param

BIAS_INITS = ("release", "pytorch")


def siren_bound(fan_in: int, omega_0: float, is_first: bool) -> float:
    """Half-width of SIREN's uniform weight range for a layer with `fan_in` inputs."""
    return 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / omega_0


def init_siren_linear(linear: nn.Linear, omega_0: float, is_first: bool, bias_init: str):
    """Re-initialise `linear` in place: weights by SIREN's rule, biases by `bias_init`.

    The weights are drawn before the biases, so that a given torch seed gives the same
    numbers as the NINT release's layers."""
    bound = siren_bound(linear.in_features, omega_0, is_first)
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)
        if bias_init == "release":
            linear.bias.uniform_(-bound, bound)
        # "pytorch": keep nn.Linear's own bias, U(-1/sqrt(fan_in), 1/sqrt(fan_in))


class SineLayer(nn.Module):
    """y = sin(omega_0 * (W x + b)), initialised as in the SIREN paper (biases: see the module doc)."""

    def __init__(self, in_features, out_features, omega_0=30.0, is_first=False, bias_init="release"):
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        init_siren_linear(self.linear, omega_0, is_first, bias_init)

    def forward(self, x):
        return torch.sin(self.omega_0 * self.linear(x))

    def activation(self, z):
        """(sin(omega_0 z), d/dz) for the pre-activation z = W x + b (NINT's fast NTK path)."""
        wz = self.omega_0 * z
        return torch.sin(wz), self.omega_0 * torch.cos(wz)


class Siren(ActivatedMLP):
    default_lr = 1e-4
    params = {
        "first_omega_0": Param(30.0, "omega_0 of the first sine layer", "(0, inf)"),
        "hidden_omega_0": Param(30.0, "omega_0 of the other sine layers (and the output layer's init)", "(0, inf)"),
        "bias_init": Param("release", "release = every bias in its layer's weight range, as the NINT release; "
                           "pytorch = nn.Linear's U(+-1/sqrt(fan_in)), Sitzmann's original", choices=BIAS_INITS),
    }

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256,
                 first_omega_0=30.0, hidden_omega_0=30.0, bias_init="release"):
        if hidden_layers < 1 or hidden_features < 1:
            raise ValueError("SIREN needs hidden_layers >= 1 and hidden_features >= 1")
        if bias_init not in BIAS_INITS:
            raise UserError(f"model_config.bias_init={bias_init!r} is not valid; valid: {', '.join(BIAS_INITS)}")
        layers = [SineLayer(in_features, hidden_features, first_omega_0, True, bias_init)]
        layers += [SineLayer(hidden_features, hidden_features, hidden_omega_0, False, bias_init)
                   for _ in range(hidden_layers - 1)]
        last = nn.Linear(hidden_features, out_features)
        init_siren_linear(last, hidden_omega_0, False, bias_init)
        super().__init__(layers, last)
