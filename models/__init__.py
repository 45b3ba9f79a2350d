"""Model registry: every INR maps coordinates [N, in_features] to values [N, out_features].

Adding a model is one new file in this folder plus one line in MODELS below, and
its defaults (its own parameters and learning rate) in config/model_config/NAME.yaml.
"""
from models.ffn import FFN
from models.finer import Finer
from models.gauss import Gauss
from models.mlp import ReluMLP
from models.pemlp import PEMLP
from models.siren import Siren
from models.wire import Wire

MODELS = {
    "siren": Siren,
    "ffn": FFN,
    "wire": Wire,
    "mlp": ReluMLP,
    "finer": Finer,
    "gauss": Gauss,
    "pemlp": PEMLP,
}


def build_model(model_config: dict, in_features: int, out_features: int):
    """Build the model named by model_config['name'] with the remaining keys as arguments.

    `lr` is a training default stored beside the model's parameters, not a model argument.
    """
    kwargs = {k: v for k, v in model_config.items() if k not in ("name", "lr")}
    return MODELS[model_config["name"]](in_features=in_features, out_features=out_features, **kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
