"""WIRE (Saragadam et al., CVPR 2023): an MLP with complex Gabor wavelet activations.

    y = exp(j * omega * z - |s * z|^2),   omega = 20, s = scale = 20

The defaults are the INT release's (the NINT authors' earlier code): omega 20 in the first
and the hidden layers, scale 20. The EVOS release's runs pass 30 / 30 / 30
(`first_omega: 30, hidden_omega: 30, scale: 30`); its constructor's unused default scale is 10.

The first layer is real (z = W x + b with real W, b: coordinates are real); every
later layer is complex-linear on complex features; the output layer is complex-
linear and only its real part is returned, so the model maps real [N, in] to real
[N, out]. Because a complex weight carries two real numbers, the width is
int(hidden_features / sqrt(2)) (256 -> 181), which keeps the parameter count close
to a real network of width hidden_features.

Every parameter is a real tensor: a complex weight is stored as a (real, imag)
pair and combined in forward(). Gradients, Adam, checkpoints and NINT's
torch.func VJP/JVP therefore all work on real numbers, and the NTK scores are
real. The imaginary part of the output layer's bias is left out: it never reaches
the real output (its gradient would be zero).

Initialization: PyTorch's default for a (complex) nn.Linear, as in the WIRE paper's
code: real and imaginary parts of weights and biases each U(-1/sqrt(fan_in),
1/sqrt(fan_in)).

Parameters for L = hidden_layers, width h = int(hidden_features / sqrt(2)):
(in*h + h) + 2 * (L-1) * (h*h + h) + (2*h*out + out). Example, 3x64 (h = 45), in 2,
out 3: 135 + 8,280 + 273 = 8,688.
"""
import math

import torch
from torch import nn

from utils.errors import UserError
from utils.params import Param


def _uniform(*shape, bound):
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


def gabor(z, omega, scale):
    """exp(j omega z - |scale z|^2) for real or complex z; |.|^2 as re^2 + im^2 (smooth at 0)."""
    if z.is_complex():
        magnitude2 = z.real ** 2 + z.imag ** 2
    else:
        magnitude2 = z ** 2
    return torch.exp(1j * omega * z - scale ** 2 * magnitude2)


class ComplexLinear(nn.Module):
    """z -> W z + b with complex W (and b), stored as real parameters.

    real_bias_only: the bias has no imaginary part (for the output layer, where
    only the real part of the result is used).
    """

    def __init__(self, in_features, out_features, real_bias_only=False):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight_real = _uniform(out_features, in_features, bound=bound)
        self.weight_imag = _uniform(out_features, in_features, bound=bound)
        self.bias_real = _uniform(out_features, bound=bound)
        self.bias_imag = None if real_bias_only else _uniform(out_features, bound=bound)

    def forward(self, z):
        weight = torch.complex(self.weight_real, self.weight_imag)
        bias = self.bias_real if self.bias_imag is None else torch.complex(self.bias_real, self.bias_imag)
        return z @ weight.T + bias


class Wire(nn.Module):
    default_lr = 5e-3
    params = {
        "first_omega": Param(20.0, "omega of the first Gabor layer", "(0, inf)"),
        "hidden_omega": Param(20.0, "omega of the other Gabor layers", "(0, inf)"),
        "scale": Param(20.0, "s in exp(j omega z - |s z|^2), as the INT release (the EVOS release's runs: 30, "
                       "with omegas 30)", "(0, inf)"),
    }

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256,
                 first_omega=20.0, hidden_omega=20.0, scale=20.0):
        super().__init__()
        if not (first_omega > 0 and hidden_omega > 0 and scale > 0):
            raise UserError(f"model_config: WIRE needs first_omega, hidden_omega and scale > 0 "
                            f"(got {first_omega!r}, {hidden_omega!r}, {scale!r})")
        width = max(1, int(hidden_features / math.sqrt(2)))
        self.width = width
        self.first_omega, self.hidden_omega, self.scale = first_omega, hidden_omega, scale
        self.first = nn.Linear(in_features, width)  # real: PyTorch default init, as in WIRE's code
        self.hidden = nn.ModuleList(ComplexLinear(width, width) for _ in range(hidden_layers - 1))
        self.last = ComplexLinear(width, out_features, real_bias_only=True)

    def forward(self, coords):
        """coords: [N, in_features] (real) -> [N, out_features] (real: the output's real part)."""
        z = gabor(self.first(coords), self.first_omega, self.scale)
        for layer in self.hidden:
            z = gabor(layer(z), self.hidden_omega, self.scale)
        return self.last(z).real
