"""The shape SIREN, FINER and GAUSS share: activated layers, then a linear output layer.

Each hidden layer is a module with `.linear` (its nn.Linear) and
`.activation(z) -> (h, dh/dz)`. That is all NINT's exact hand-written NTK path
(samplers/ntk.py) needs, through `pointwise_mlp()`.
"""
from torch import nn


class ActivatedMLP(nn.Module):
    def __init__(self, hidden: list, output: nn.Linear):
        super().__init__()
        self.net = nn.Sequential(*hidden, output)

    def forward(self, coords):
        """coords: [N, in_features] in the task's coordinate range -> [N, out_features]."""
        return self.net(coords)

    def pointwise_mlp(self):
        """The network as [(linear, activation or None)], for NINT's exact hand-written NTK passes."""
        return [(layer.linear, layer.activation) for layer in self.net[:-1]] + [(self.net[-1], None)]
