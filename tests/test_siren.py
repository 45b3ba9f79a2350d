"""SIREN shapes, parameter count and initialisation (SPEC.md 1)."""
import math

import torch

from models import build_model, count_parameters


def siren(layers=5, width=256, out=3, inp=2):
    return build_model({"name": "siren", "hidden_layers": layers, "hidden_features": width}, inp, out)


def test_paper_size_parameter_count():
    assert count_parameters(siren()) == 264_707


def test_shapes_for_each_input_dimension():
    for inp, out in ((1, 1), (2, 3), (3, 1)):
        assert siren(2, 16, out, inp)(torch.rand(10, inp)).shape == (10, out)


def test_hidden_layers_counts_every_sine_layer():
    m = siren(5, 256)
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(2, 256)] + [(256, 256)] * 4 + [(256, 3)]


def test_initialisation_bounds():
    m = siren(3, 128)
    first, hidden = m.net[0].linear, m.net[1].linear
    assert first.weight.abs().max() <= 1 / 2 and first.bias.abs().max() <= 1 / 2
    assert hidden.weight.abs().max() <= math.sqrt(6 / 128) / 30 + 1e-7
