"""SIREN shapes, parameter count and initialisation (docs/methods.md, "Models")."""

import pytest
import torch

from models import build_model, count_parameters
from utils.engine.config import load_config
from utils.errors import UserError


def siren(layers=5, width=256, out=3, inp=2, **extra):
    return build_model({"name": "siren", "hidden_layers": layers, "hidden_features": width, **extra}, inp, out)


def test_paper_size_parameter_count():
    assert count_parameters(siren()) == 264_707


def test_shapes_for_each_input_dimension():
    for inp, out in ((1, 1), (2, 3), (3, 1)):
        assert siren(2, 16, out, inp)(torch.rand(10, inp)).shape == (10, out)


def test_hidden_layers_counts_every_sine_layer():
    m = siren(5, 256)
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(2, 256)] + [(256, 256)] * 4 + [(256, 3)]


# Half-widths of the uniform ranges, written out for 2 -> 256 -> 256 -> 256 -> 64, omega_0 = 30:
FIRST_W = 1 / 2                      # 1/fan_in, fan_in = 2
LATER_W = 0.005103103630798288       # sqrt(6/256)/30
# Biases: 'release' = the layer's weight range; 'pytorch' = nn.Linear's 1/sqrt(fan_in).
BIAS = {"release": (FIRST_W, LATER_W), "pytorch": (0.7071067811865476, 0.0625)}


@pytest.mark.parametrize("bias_init", ["release", "pytorch"])
def test_every_layer_weight_and_bias_range(bias_init):
    torch.manual_seed(0)
    m = siren(3, 256, out=64, bias_init=bias_init)  # a wide output layer, so its range shows too
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert len(linears) == 4
    first_b, later_b = BIAS[bias_init]
    for i, layer in enumerate(linears):
        w_bound, b_bound = (FIRST_W, first_b) if i == 0 else (LATER_W, later_b)
        w, b = layer.weight.abs().max().item(), layer.bias.abs().max().item()
        # within the range and close to its edge (64 to 65,536 uniform draws per tensor)
        assert w_bound * 0.9 < w <= w_bound, (bias_init, i, "weight", w)
        assert b_bound * 0.9 < b <= b_bound, (bias_init, i, "bias", b)


def test_default_is_the_release_rule_and_the_option_is_validated():
    cfg = load_config("image")
    assert cfg["model_config"]["bias_init"] == "release"
    m = build_model(dict(cfg["model_config"], hidden_layers=2, hidden_features=256), 2, 3)
    assert m.net[1].linear.bias.abs().max() <= LATER_W  # not PyTorch's 0.0625
    cfg = load_config("image", overrides=["model_config.bias_init=pytorch"])
    m = build_model(dict(cfg["model_config"], hidden_layers=2, hidden_features=256), 2, 3)
    assert m.net[1].linear.bias.abs().max() > 2 * LATER_W
    with pytest.raises(UserError, match="bias_init"):
        load_config("image", overrides=["model_config.bias_init=sitzmann"])
    with pytest.raises(UserError, match="unknown config key"):  # a SIREN key only
        load_config("image", overrides=["model_config.name=ffn", "model_config.bias_init=release"])
