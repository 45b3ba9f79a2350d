"""Load a task's YAML defaults, merge a user YAML and KEY=VALUE overrides, validate.

The task's YAML (config/train_<task>.yaml) is the schema: a key that is not in it
is unknown. Model-specific keys and the model's learning rate come from
config/model_config/<name>.yaml. Everything fails at start with a one-line
UserError naming the key and what is allowed.
"""
import copy
import difflib
import os
import re

import yaml

from utils.errors import UserError, require_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "config")

# Keys whose value must be one of a fixed set. Callables are evaluated late so the
# registries stay the single source of truth.
def _samplers():
    from samplers import SAMPLERS
    return tuple(SAMPLERS)


def _models():
    from models import MODELS
    return tuple(MODELS)


def _schedulers():
    from samplers.schedules import BATCH_SIZE_SCHEDULERS
    return BATCH_SIZE_SCHEDULERS


def _intervals():
    from samplers.schedules import SAMPLE_INTERVALS
    return SAMPLE_INTERVALS


CHOICES = {
    "EXP_CONFIGS.strategy_type": _samplers,
    "model_config.name": _models,
    "nint.batch_size_scheduler": _schedulers,
    "nint.sample_interval": _intervals,
    "nint.ntk_decay": lambda: ("release", "paper", "none"),  # none: our ablation (docs/methods.md, NINT)
    "nint.top_k": lambda: (0, 1),
    "model_config.bias_init": lambda: ("release", "pytorch"),  # SIREN's bias range (models/siren.py)
    "TRAIN_CONFIGS.device": lambda: ("auto", "cpu", "cuda"),
    "TRAIN_CONFIGS.lr_scheduler": lambda: ("constant", "cosine", "multistep"),
    "WANDB_CONFIGS.use_wandb": lambda: (0, 1),
    "TRAIN_CONFIGS.lpips": lambda: (0, 1),
    "TRAIN_CONFIGS.progress": lambda: (0, 1),
    "nint.save_selection_maps": lambda: (0, 1),
    "nint.reselect_on_resize": lambda: (0, 1),
    "soft_mining.snap_to_pixels": lambda: (0, 1),
    "soft_mining.sobel_normalise": lambda: ("column", "image"),
    "expansive.threshold_search": lambda: ("release", "bisection"),
    "expansive.fill": lambda: ("release", "batch"),
    "DATASET_CONFIGS.resample": lambda: (0, 1),
    "DATASET_CONFIGS.sign_method": lambda: ("auto", "exact", "normal"),
}

# (low, high, low_inclusive, high_inclusive); None = unbounded.
RANGES = {
    "nint.mt_ratio": (0.0, 1.0, False, True),
    "nint.xi": (0.0, 1.0, True, True),
    "nint.lambda": (0.0, None, True, True),
    "nint.alpha": (1, None, True, True),
    "nint.dense2_period": (1, None, True, True),
    "nint.ntk_chunk": (0, None, True, True),
    "TRAIN_CONFIGS.iterations": (1, None, True, True),
    "TRAIN_CONFIGS.seed": (0, 2**32 - 1, True, True),
    "TRAIN_CONFIGS.eval_interval": (1, None, True, True),
    "TRAIN_CONFIGS.max_train_seconds": (0.0, None, True, True),
    "TRAIN_CONFIGS.num_threads": (0, None, True, True),
    "TRAIN_CONFIGS.lr": (0.0, None, False, True),
    "model_config.hidden_layers": (1, None, True, True),
    "model_config.hidden_features": (1, None, True, True),
    "WANDB_CONFIGS.log_images_every": (1, None, True, True),
    "evos.fitness_interval_start": (1, None, True, True),
    "evos.fitness_interval_end": (1, None, True, True),
    "evos.mutation_ratio": (0.0, 1.0, True, True),
    "evos.cfs_steps": (0, None, True, True),
    "evos.cfs_loss_weight": (0.0, None, True, True),
    "evos.crossover_weight": (0.0, None, True, True),
    "expansive.xi": (0.0, 1.0, True, True),
    "expansive.canny_sigma": (0.0, None, True, True),
    "egra.low_threshold": (0.0, None, True, True),
    "egra.high_threshold": (0.0, None, True, True),
    "egra.canny_sigma": (0.0, None, True, True),
    "egra.p": (0.0, 1.0, True, True),
    "egra.base_rate": (0.0, None, False, True),
    "egra.shift_min": (0, None, True, True),
    "egra.shift_max": (0, None, True, True),
    "soft_mining.a": (0.0, None, True, True),
    "soft_mining.b": (0.0, None, True, True),
    "soft_mining.resample_low_loss": (0.0, 1.0, True, False),
    "soft_mining.uniform_share": (0.0, 1.0, True, True),
    "soft_mining.alpha": (0.0, None, True, True),
    "soft_mining.warmup": (1, None, True, True),
    "soft_mining.correction_min": (0.0, None, True, True),
    "DATASET_CONFIGS.num_secs": (0.0, None, False, True),
    "DATASET_CONFIGS.start_sec": (0.0, None, True, True),
    "DATASET_CONFIGS.sample_rate": (1, None, True, True),
    "DATASET_CONFIGS.num_samples": (2, None, True, True),
    "DATASET_CONFIGS.pool_size": (2, None, True, True),
    "DATASET_CONFIGS.coarse_scale": (0.0, None, False, True),
    "DATASET_CONFIGS.fine_scale": (0.0, None, False, True),
    "DATASET_CONFIGS.render_resolution": (8, None, True, True),
    "DATASET_CONFIGS.chamfer_samples": (1, None, True, True),
}

# Keys whose non-null default may still be set to null (null has a documented meaning).
NULLABLE = {"DATASET_CONFIGS.num_secs"}

# Extra checks that need more than a set or a range; each returns an error string or None.
CUSTOM_CHECKS = {}


def register_check(key: str):
    def wrap(fn):
        CUSTOM_CHECKS[key] = fn
        return fn
    return wrap


def _size_check(value):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return None
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return None
    return "must be null, a positive integer, or [H, W] with positive integers"


register_check("DATASET_CONFIGS.img_size")(_size_check)
register_check("DATASET_CONFIGS.eval_size")(_size_check)


@register_check("DATASET_CONFIGS.value_range")
def _value_range_check(value):
    if (isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
            and [float(v) for v in value] in ([0.0, 1.0], [-1.0, 1.0])):
        return None
    return "must be [0, 1] or [-1, 1]"


def _chunk_check(value):
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    return "must be auto, 0 (one piece) or a number of points"


register_check("TRAIN_CONFIGS.forward_chunk")(_chunk_check)
register_check("TRAIN_CONFIGS.step_chunk")(_chunk_check)


@register_check("TRAIN_CONFIGS.out_dir")
def _out_dir_check(value):
    if value is None or (isinstance(value, str) and value.strip() and value not in (".", "..")):
        return None
    return "must be null or a folder name"


@register_check("nint.selection_map_steps")
def _steps_check(value):
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return "must be a list of step numbers >= 0, e.g. [0, 10, 100]"


@register_check("TRAIN_CONFIGS.snapshot_seconds")
def _seconds_check(value):
    if isinstance(value, list) and all(_is_number(v) and v >= 0 and v == v for v in value):
        return None
    return "must be a list of training seconds >= 0, e.g. [5, 30]"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@register_check("DATASET_CONFIGS.time_range")
def _time_range_check(value):
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and value[0] < value[1]):
        return None
    return "must be [t0, t1] with numbers t0 < t1"


def read_yaml(path: str) -> dict:
    """Parse a YAML file; syntax errors become a one-line UserError with file and line."""
    require_file(path, "config file")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"YAML syntax error in {where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return data


def _suggest(word, options):
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _type_ok(default, value) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    return True


def _set(cfg: dict, schema: dict, section: str, key: str, value, origin: str):
    """Set cfg[section][key] = value after checking that the key exists in the schema."""
    if section not in schema:
        raise UserError(f"unknown config section '{section}' in {origin}{_suggest(section, schema)}; "
                        f"sections: {', '.join(schema)}")
    if key not in schema[section]:
        full = [f"{section}.{k}" for k in schema[section]]
        raise UserError(f"unknown config key '{section}.{key}' in {origin}{_suggest(f'{section}.{key}', full)}")
    default = schema[section][key]
    numeric = (isinstance(default, (int, float)) and not isinstance(default, bool)) or f"{section}.{key}" in RANGES
    if numeric and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; take it as the number it means.
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, list):  # the same YAML 1.1 quirk inside lists: [5, 1e9]
        value = [float(v) if isinstance(v, str) and _EXPONENT_NUMBER.match(v) else v for v in value]
    if value is None and default is not None and f"{section}.{key}" not in NULLABLE:
        raise UserError(f"{section}.{key} ({origin}) must not be null; the default is {default!r}")
    if numeric and value is not None and not _is_number(value):
        raise UserError(f"{section}.{key}={value!r} ({origin}): expected a number")
    if f"{section}.{key}" not in CUSTOM_CHECKS and not _type_ok(default, value):  # custom checks know the types
        raise UserError(f"{section}.{key}={value!r} ({origin}): expected a {type(default).__name__} "
                        f"like the default {default!r}")
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
        value = int(value)
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    cfg.setdefault(section, {})[key] = value


def parse_override(text: str):
    """'SECTION.key=value' -> (section, key, value parsed as YAML)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise UserError(f"cannot read override '{text}': expected SECTION.key=value, "
                        f"e.g. TRAIN_CONFIGS.iterations=1000")
    lhs, rhs = text.split("=", 1)
    section, key = lhs.strip().split(".", 1)
    try:
        value = yaml.safe_load(rhs) if rhs.strip() != "" else None
    except yaml.YAMLError:
        raise UserError(f"cannot parse the value of override '{text}' as YAML") from None
    return section, key, value


def model_defaults(name: str) -> dict:
    path = os.path.join(CONFIG_DIR, "model_config", f"{name}.yaml")
    return read_yaml(path) if os.path.isfile(path) else {}


def load_config(task: str, config_path: str = None, overrides=(), notify=print) -> dict:
    """The validated run configuration for `task` ('image', 'audio', 'sdf').

    A config_path that holds no settings (empty, or comments only) is said once through
    `notify`: the run then has the defaults (and the overrides), which is rarely what was meant.
    """
    schema = read_yaml(os.path.join(CONFIG_DIR, f"train_{task}.yaml"))
    cfg = copy.deepcopy(schema)
    parsed = [(s, k, v, f"override '{o}'") for o in overrides for (s, k, v) in [parse_override(o)]]

    # The model's own keys join the schema once we know which model is asked for.
    user = read_yaml(config_path) if config_path else {}
    if config_path and not user:
        notify(f"note: {config_path} holds no settings; running with the defaults of config/train_{task}.yaml"
               + (" and the overrides" if parsed else ""))
    for section, entries in user.items():
        if not isinstance(entries, dict):
            raise UserError(f"{config_path}: section '{section}' must be a mapping of keys")
    name = next((v for s, k, v, _ in reversed(parsed) if (s, k) == ("model_config", "name")), None)
    name = name or (user.get("model_config") or {}).get("name") or schema["model_config"]["name"]
    if name not in _models():
        raise UserError(f"model_config.name={name!r}: unknown model; valid: {', '.join(_models())}")
    extra = model_defaults(name)
    for k, v in extra.items():
        schema["model_config"].setdefault(k, v)
        cfg["model_config"].setdefault(k, v)

    for section, entries in user.items():
        for key, value in entries.items():
            _set(cfg, schema, section, key, value, config_path)
    for section, key, value, origin in parsed:
        _set(cfg, schema, section, key, value, origin)
    validate(cfg)
    return cfg


def validate(cfg: dict):
    for dotted, choices in CHOICES.items():
        section, key = dotted.split(".", 1)
        if section in cfg and key in cfg[section]:
            allowed = choices()
            if cfg[section][key] not in allowed:
                raise UserError(f"{dotted}={cfg[section][key]!r} is not valid; valid: "
                                f"{', '.join(str(a) for a in allowed)}")
    for dotted, (lo, hi, lo_inc, hi_inc) in RANGES.items():
        section, key = dotted.split(".", 1)
        value = cfg.get(section, {}).get(key)
        if value is None:
            continue
        bad = value != value or (lo is not None and (value < lo or (value == lo and not lo_inc))) or (
            hi is not None and (value > hi or (value == hi and not hi_inc)))
        if bad:
            interval = f"{'[' if lo_inc else '('}{lo}, {hi if hi is not None else 'inf'}{']' if hi_inc else ')'}"
            raise UserError(f"{dotted}={value!r} is out of range; allowed: {interval}")
    for dotted, check in CUSTOM_CHECKS.items():
        section, key = dotted.split(".", 1)
        if section in cfg and key in cfg[section]:
            problem = check(cfg[section][key])
            if problem:
                raise UserError(f"{dotted}={cfg[section][key]!r}: {problem}")


def dump_config(cfg: dict, path: str):
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
