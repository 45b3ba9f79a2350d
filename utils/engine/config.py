"""Load a task's defaults, merge a user YAML and KEY=VALUE overrides, validate.

The schema of a task has two sources, each key declared once:
- the task's own keys (DATASET_CONFIGS, TRAIN_CONFIGS, EXP_CONFIGS, model_config.name /
  hidden_layers / hidden_features, WANDB_CONFIGS), commented in config/train_<task>.yaml and
  checked with CHOICES, RANGES and CUSTOM_CHECKS below;
- the sampler sections (nint, evos, expansive, egra, soft_mining) and the chosen model's own
  `model_config` keys and `lr`, built from the declarations in samplers/ and models/
  (`registry_params`): their defaults, allowed values and meanings. A task YAML may set a
  task-specific default for one of them (config/train_sdf.yaml: nint.mt_ratio 0.4).
A key in neither is unknown. Everything fails at start with a one-line UserError naming the
key and what is allowed. `reference_markdown()` writes config/reference.md (`make reference`)
and `commented_yaml()` the output of `train_<task>.py --print-config`.
"""
import copy
import difflib
import os
import re

import yaml

from utils.errors import UserError, require_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "config")

# The task keys whose value must be one of a fixed set (sampler and model keys: their
# declarations, `registry_params`). Callables are evaluated late so the registries stay the
# single source of truth.
def _samplers():
    from samplers import SAMPLERS
    return tuple(SAMPLERS)


def _models():
    from models import MODELS
    return tuple(MODELS)


CHOICES = {
    "EXP_CONFIGS.strategy_type": _samplers,
    "model_config.name": _models,
    "TRAIN_CONFIGS.device": lambda: ("auto", "cpu", "cuda"),
    "TRAIN_CONFIGS.lr_scheduler": lambda: ("constant", "cosine", "multistep"),
    "WANDB_CONFIGS.use_wandb": lambda: (0, 1),
    "TRAIN_CONFIGS.lpips": lambda: (0, 1),
    "TRAIN_CONFIGS.progress": lambda: (0, 1),
    "DATASET_CONFIGS.resample": lambda: (0, 1),
    "DATASET_CONFIGS.sign_method": lambda: ("auto", "exact", "normal"),
}

# Task keys: (low, high, low_inclusive, high_inclusive); None = unbounded.
RANGES = {
    "TRAIN_CONFIGS.iterations": (1, None, True, True),
    "TRAIN_CONFIGS.seed": (0, 2**32 - 1, True, True),
    "TRAIN_CONFIGS.eval_interval": (1, None, True, True),
    "TRAIN_CONFIGS.max_train_seconds": (0.0, None, True, True),
    "TRAIN_CONFIGS.num_threads": (0, None, True, True),
    "TRAIN_CONFIGS.lr": (0.0, None, False, True),
    "model_config.hidden_layers": (1, None, True, True),
    "model_config.hidden_features": (1, None, True, True),
    "WANDB_CONFIGS.log_images_every": (1, None, True, True),
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


def _set(cfg: dict, schema: dict, section: str, key: str, value, origin: str, params: dict = None,
         task: str = None):
    """Set cfg[section][key] = value after checking that the key exists in the schema.

    params: {section: {key: Param}} of the registry sections; their declared default, type
    and nullability are used for those keys.
    """
    params = params or {}
    if section not in schema:
        raise UserError(f"unknown config section '{section}' in {origin}{_suggest(section, schema)}; "
                        f"sections: {', '.join(schema)}{_section_hint(section, task)}")
    if key not in schema[section]:
        full = [f"{section}.{k}" for k in schema[section]]
        hint = _key_hint(section, key, task) or _suggest(f"{section}.{key}", full)
        raise UserError(f"unknown config key '{section}.{key}' in {origin}{hint}")
    param = params.get(section, {}).get(key)
    dotted = f"{section}.{key}"
    default = schema[section][key] if param is None else param.default
    numeric = ((isinstance(default, (int, float)) and not isinstance(default, bool)) or dotted in RANGES
               or (param is not None and param.numeric))
    if numeric and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; take it as the number it means.
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, list):  # the same YAML 1.1 quirk inside lists: [5, 1e9]
        value = [float(v) if isinstance(v, str) and _EXPONENT_NUMBER.match(v) else v for v in value]
    nullable = dotted in NULLABLE or (param is not None and param.may_be_null)
    if value is None and default is not None and not nullable:
        raise UserError(f"{dotted} ({origin}) must not be null; the default is {default!r}")
    if numeric and value is not None and not _is_number(value):
        raise UserError(f"{dotted}={value!r} ({origin}): expected a number")
    if dotted not in CUSTOM_CHECKS and not _type_ok(default, value):  # custom checks know the types
        raise UserError(f"{dotted}={value!r} ({origin}): expected a {type(default).__name__} "
                        f"like the default {default!r}")
    if param is not None and default is None and param.kind is int and isinstance(value, float):
        default = 0  # a nullable int: an integral float becomes the int it means
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
        value = int(value)
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    cfg.setdefault(section, {})[key] = value


def _section_hint(section: str, task: str) -> str:
    """Why a sampler section is missing on this task: its samplers are not defined there."""
    from samplers import config_sections, section_samplers
    if task is None or section not in config_sections(None):
        return ""
    return f" ('{section}' holds the constants of {', '.join(section_samplers(section))}, not defined for {task})"


def _key_hint(section: str, key: str, task: str) -> str:
    """Why a declared sampler constant is missing on this task: only samplers not defined there take it."""
    from samplers import SAMPLERS
    if task is None:
        return ""
    owners = [name for name, cls in SAMPLERS.items() if cls.section == section and key in cls.params]
    return f" (a constant of {', '.join(owners)} only, not defined for {task})" if owners else ""


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


def registry_params(task: str = None, model: str = None) -> dict:
    """{section: {key: Param}}: the sampler sections of the samplers defined on `task` (None =
    every sampler) and, when `model` is given, `model_config` with that model's own keys and lr."""
    from samplers import config_sections
    sections = config_sections(task)
    if model is not None:
        from models import model_params
        sections["model_config"] = model_params(model)
    return sections


def model_defaults(name: str) -> dict:
    """{key: default} of model `name`'s own keys and its lr (models/<name>.py declares them)."""
    return {k: copy.deepcopy(p.default) for k, p in registry_params(model=name)["model_config"].items()}


def _model_name(task_yaml: dict, user: dict, parsed: list) -> str:
    name = next((v for s, k, v, _ in reversed(parsed) if (s, k) == ("model_config", "name")), None)
    name = name or (user.get("model_config") or {}).get("name") or task_yaml["model_config"]["name"]
    if name not in _models():
        raise UserError(f"model_config.name={name!r}: unknown model; valid: {', '.join(_models())}")
    return name


def task_defaults(task: str, model: str = None):
    """(defaults {section: {key: value}}, params {section: {key: Param}}) of `task` before any user setting.

    The task YAML's sections in their order, the sampler sections after model_config; a
    registry key the task YAML sets takes that value as the task's default (validated).
    """
    path = os.path.join(CONFIG_DIR, f"train_{task}.yaml")
    task_yaml = read_yaml(path)
    model = model or _model_name(task_yaml, {}, [])
    params = registry_params(task, model)
    sampler_sections = {name: {k: copy.deepcopy(p.default) for k, p in declared.items()}
                        for name, declared in params.items() if name != "model_config"}
    defaults = {}
    for section, entries in task_yaml.items():
        if not isinstance(entries, dict):
            raise UserError(f"{path}: section '{section}' must be a mapping of keys")
        if section in sampler_sections:
            continue  # the registry's defaults, then the YAML's task-specific values (below)
        defaults[section] = dict(entries)
        if section == "model_config":
            clash = [k for k in entries if k in params[section]]
            if clash:
                raise UserError(f"{path}: model_config.{clash[0]} is a constant of the model (models/); "
                                f"set it in a --config file or as an override")
            defaults[section].update({k: copy.deepcopy(p.default) for k, p in params[section].items()})
            defaults.update(sampler_sections)
    for section in sampler_sections:
        defaults.setdefault(section, sampler_sections[section])
    for section, entries in task_yaml.items():
        if section in sampler_sections:
            for key, value in entries.items():
                _set(defaults, defaults, section, key, value, path, params, task)
    return defaults, params


def load_config(task: str, config_path: str = None, overrides=(), notify=print) -> dict:
    """The validated run configuration for `task` ('image', 'audio', 'sdf').

    A config_path that holds no settings (empty, or comments only) is said once through
    `notify`: the run then has the defaults (and the overrides), which is rarely what was meant.
    """
    parsed = [(s, k, v, f"override '{o}'") for o in overrides for (s, k, v) in [parse_override(o)]]
    user = read_yaml(config_path) if config_path else {}
    if config_path and not user:
        notify(f"note: {config_path} holds no settings; running with the defaults of config/train_{task}.yaml"
               + (" and the overrides" if parsed else ""))
    for section, entries in user.items():
        if not isinstance(entries, dict):
            raise UserError(f"{config_path}: section '{section}' must be a mapping of keys")
    # The model's own keys join the schema once we know which model is asked for.
    name = _model_name(read_yaml(os.path.join(CONFIG_DIR, f"train_{task}.yaml")), user, parsed)
    schema, params = task_defaults(task, name)
    cfg = copy.deepcopy(schema)
    for section, entries in user.items():
        for key, value in entries.items():
            _set(cfg, schema, section, key, value, config_path, params, task)
    for section, key, value, origin in parsed:
        _set(cfg, schema, section, key, value, origin, params, task)
    validate(cfg, params)
    return cfg


def validate(cfg: dict, params: dict = None):
    """Check every value against CHOICES, RANGES, CUSTOM_CHECKS and the declared constants
    (params: {section: {key: Param}}; None = every sampler's and the cfg's model's)."""
    if params is None:
        params = registry_params(None, (cfg.get("model_config") or {}).get("name"))
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
        bad = value != value or value in (float("inf"), float("-inf")) or (  # NaN and inf never pass
            lo is not None and (value < lo or (value == lo and not lo_inc))) or (
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
    for section, declared in params.items():
        for key, param in declared.items():
            if key in cfg.get(section, {}):
                problem = param.problem(cfg[section][key])
                if problem:
                    raise UserError(f"{section}.{key}={cfg[section][key]!r} {problem}")


def dump_config(cfg: dict, path: str):
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


# ----------------------------------------------------------------------------- documentation

TASK_NAMES = ("image", "audio", "sdf")
REFERENCE_PATH = os.path.join(CONFIG_DIR, "reference.md")


def _inline(value) -> str:
    """A value as it is written in YAML on one line: 0.2, release, null, [0, 10]."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]


def _yaml_comments(task: str) -> dict:
    """{(section, key): comment} of the task YAML's lines `  key: value  # comment`."""
    comments, section = {}, None
    with open(os.path.join(CONFIG_DIR, f"train_{task}.yaml")) as f:
        for line in f:
            top = re.match(r"^([A-Za-z_]\w*):", line)
            if top:
                section = top.group(1)
                continue
            entry = re.match(r"^\s+(\w+):.*?\s#\s*(.*)$", line)
            if section and entry:
                comments[(section, entry.group(1))] = entry.group(2).strip()
    return comments


def _describe(param) -> str:
    allowed = param.allowed()
    return f"{param.meaning}; allowed: {allowed}" if allowed else param.meaning


def commented_yaml(task: str, cfg: dict) -> str:
    """cfg as YAML, each key with its meaning (declared ones) or the task YAML's comment:
    what `train_<task>.py --print-config` prints."""
    params = registry_params(task, cfg["model_config"]["name"])
    comments = _yaml_comments(task)
    lines = [f"# The resolved configuration of train_{task}.py (defaults, --config, overrides). "
             "[...] = what is allowed."]
    for section, entries in cfg.items():
        lines.append(f"{section}:")
        for key, value in entries.items():
            param = params.get(section, {}).get(key)
            comment = _describe(param) if param is not None else comments.get((section, key), "")
            text = f"  {key}: {_inline(value)}"
            lines.append(f"{text:<36} # {comment}" if comment else text)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def reference_markdown() -> str:
    """config/reference.md: every sampler and model constant with its default, what is
    allowed and its meaning, for every task; built from the declarations (`make reference`)."""
    from models import MODELS
    from samplers import config_sections, runs_on, section_samplers
    per_task = {t: task_defaults(t, "siren")[0] for t in TASK_NAMES}
    out = ["# Sampler and model constants", "",
           "Generated by `make reference` from the declarations beside the code (`params` of each class in",
           "samplers/ and models/, written with utils/params.py `Param`); do not edit: tests/test_config.py fails",
           "when this file and the declarations differ. Set any key like every other: in a `--config` file or",
           "as `SECTION.key=value`. The task keys (DATASET_CONFIGS, TRAIN_CONFIGS, EXP_CONFIGS,",
           "`model_config.name` / `hidden_layers` / `hidden_features`, WANDB_CONFIGS) are commented in",
           "config/train_<task>.yaml; `python train_<task>.py --print-config` prints a task's whole",
           "configuration with these meanings. In Python, `samplers.make_sampler(name, ..., key=value)` takes",
           "the same constants (README, \"Use a sampler in your own loop\").", ""]
    from samplers import SAMPLERS
    for section, declared in config_sections(None).items():
        if section == "nint":
            title = ("## `nint:` the batch constants of every sampler (samplers/base.py), then NINT's own "
                     "(nint, nint_no_ntk: samplers/nint.py)")
        else:
            readers = section_samplers(section)
            files = sorted({SAMPLERS[r].__module__.replace(".", "/") + ".py" for r in readers})
            title = f"## `{section}:` {', '.join(readers)} ({', '.join(files)})"
        out += [title, ""]
        if section != "nint":
            elsewhere = {}
            for t in TASK_NAMES:
                running = tuple(r for r in readers if runs_on(SAMPLERS[r], t))
                if running != tuple(readers):
                    elsewhere.setdefault(running, []).append(t)
            for running, tasks in elsewhere.items():
                where = " and ".join(tasks)
                out += [(f"On {where} only {', '.join(running)} runs; the section there holds its keys "
                         f"(the tasks column)." if running else f"Not defined on {where}: images only."), ""]
        out += ["| key | default | allowed | tasks | meaning |", "|---|---|---|---|---|"]
        for key, param in declared.items():
            tasks = [t for t in TASK_NAMES if key in per_task[t].get(section, {})]
            values = {t: per_task[t][section][key] for t in tasks}
            first = _inline(values[tasks[0]])
            others = [f"{t}: {_inline(v)}" for t, v in values.items() if _inline(v) != first]
            default = f"`{first}`" + (f" ({', '.join(others)})" if others else "")
            where = "every task" if len(tasks) == len(TASK_NAMES) else ", ".join(tasks)
            out.append(f"| `{section}.{key}` | {default} | {_cell(param.allowed())} | {where} | "
                       f"{_cell(param.meaning)} |")
        out.append("")
    out += ["## `model_config:` each model's own constants and default learning rate", "",
            "Every task; the keys of the model that `model_config.name` picks.", ""]
    for name in MODELS:
        out += [f"### {name} ({MODELS[name].__module__.replace('.', '/')}.py)", "", "| key | default | allowed | meaning |", "|---|---|---|---|"]
        for key, param in registry_params(model=name)["model_config"].items():
            out.append(f"| `model_config.{key}` | `{_inline(param.default)}` | {_cell(param.allowed())} | "
                       f"{_cell(param.meaning)} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # `make reference`
    with open(REFERENCE_PATH, "w") as f:
        f.write(reference_markdown())
    print(f"wrote {os.path.relpath(REFERENCE_PATH, ROOT)}")
