"""MLP: a plain ReLU network on raw coordinates (the spectral-bias baseline).

hidden_layers counts the ReLU layers, the first included: 3x64 with in=2, out=3 is
2->64, 64->64, 64->64 (each followed by ReLU), then a linear 64->3, which is
(2*64+64) + 2*(64*64+64) + (64*3+3) = 8,707 parameters.
Initialization: PyTorch's default for nn.Linear (weights and biases
U(-1/sqrt(fan_in), 1/sqrt(fan_in))), as in the releases that compare against it.
"""
import torch
from torch import nn


def relu_with_derivative(z):
    """(max(z, 0), d/dz) for a pre-activation z (NINT's fast NTK path, samplers/ntk.py)."""
    return torch.relu(z), (z > 0).to(z.dtype)


class ReluMLP(nn.Module):
    """[N, in_features] -> [N, out_features] through `hidden_layers` Linear+ReLU layers.

    Also the body of FFN and PEMLP, which feed it an encoding of the coordinates.
    """
    default_lr = 1e-3  # the learning rate the releases used for ReLU MLPs
    params = {}  # no constants of its own

    def __init__(self, in_features=2, out_features=3, hidden_layers=5, hidden_features=256):
        super().__init__()
        widths = [in_features] + [hidden_features] * hidden_layers
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(hidden_features, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, coords):
        """coords: [N, in_features] in the task's coordinate range -> [N, out_features]."""
        return self.net(coords)

    def pointwise_mlp(self):
        """The network as [(linear, activation or None)], for NINT's exact hand-written NTK passes."""
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return [(lin, relu_with_derivative) for lin in linears[:-1]] + [(linears[-1], None)]
