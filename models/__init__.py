"""Model registry: every INR maps coordinates [N, in_features] to values [N, out_features].

Adding a model is one new file in this folder plus one line in MODELS below. Its class
declares its own constants once, as `params = {"key": Param(default, "meaning", ...)}`
(utils/params.py), and its default learning rate as `default_lr`; the `model_config`
section of every task, its validation and config/reference.md are built from them
(`model_params`). The keys every model shares (name, hidden_layers, hidden_features) are
task keys, declared in utils/engine/task_keys.py.
"""
from models.ffn import FFN
from models.finer import Finer
from models.gauss import Gauss
from models.mlp import ReluMLP
from models.pemlp import PEMLP
from models.siren import Siren
from models.wire import Wire
from utils.params import Param

MODELS = {
    "siren": Siren,
    "ffn": FFN,
    "wire": Wire,
    "mlp": ReluMLP,
    "finer": Finer,
    "gauss": Gauss,
    "pemlp": PEMLP,
}


LR_MEANING = "the model's default learning rate, used when TRAIN_CONFIGS.lr is null"


def model_params(name: str) -> dict:
    """{key: Param}: the constants of model `name` (its `params`), then `lr` (its `default_lr`)."""
    cls = MODELS[name]
    return {**cls.params, "lr": Param(cls.default_lr, LR_MEANING, "(0, inf)")}


def build_model(model_config: dict, in_features: int, out_features: int):
    """Build the model named by model_config['name'] with the remaining keys as arguments.

    `lr` is a training default stored beside the model's parameters, not a model argument.
    """
    kwargs = {k: v for k, v in model_config.items() if k not in ("name", "lr")}
    return MODELS[model_config["name"]](in_features=in_features, out_features=out_features, **kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
