"""Load a task's defaults, merge a user YAML and KEY=VALUE overrides, validate.

Every key is declared once, as a utils/params.py `Param` (default, meaning, what is allowed):
- the task keys (DATASET_CONFIGS, TRAIN_CONFIGS, EXP_CONFIGS, model_config.name /
  hidden_layers / hidden_features, WANDB_CONFIGS) in utils/engine/task_keys.py;
- the sampler sections (nint, evos, expansive, egra, soft_mining) beside the samplers
  (samplers/), the chosen model's own `model_config` keys and `lr` beside the models (models/).
`schema(task, model)` gathers them. config/train_<task>.yaml holds only what differs for that
task from the declared defaults (config/train_sdf.yaml: 10,000 iterations, nint.mt_ratio 0.4).
A key in no declaration is unknown. Every value, wherever it is set, goes through the one
check of its Param: a bad one fails at start with a one-line UserError naming the key and what
is allowed. The documentation built from the same declarations (config/reference.md,
--print-config) is utils/engine/reference.py.
"""
import copy
import difflib
import os
import re

import yaml

from utils.engine.task_keys import MODEL_PARAMS, task_params
from utils.errors import UserError, require_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "config")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (YAML would keep the last in silence)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _DuplicateKey(key, seen[key], key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, again: int):
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _decode(path: str, raw: bytes) -> str:
    """A config file's text: UTF-8, or UTF-16/32 with a byte-order mark (what some Windows editors and
    PowerShell's `>` write); anything else is a one-line UserError naming the encoding problem."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                break
    if b"\x00" in raw:  # valid UTF-8 text holds no NUL: UTF-16/32 saved without a byte-order mark
        raise UserError(f"{path} holds NUL bytes: UTF-16 or UTF-32 text without a byte-order mark, or not "
                        f"text at all; save it as UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); save it as "
                        f"UTF-8") from None


def read_yaml(path: str) -> dict:
    """Parse a YAML file (UTF-8, or UTF-16/32 with a byte-order mark); syntax errors, a key given
    twice and a text that is not Unicode become a one-line UserError with file and line."""
    require_file(path, "config file")
    try:
        with open(path, "rb") as f:
            text = _decode(path, f.read())
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror or type(e).__name__}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as e:
        raise UserError(f"{path}, line {e.again}: key '{e.key}' is given twice (first on line {e.first}); "
                        f"keep one") from None
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


def check_sections(path: str, data: dict):
    """UserError unless every top-level entry of a config file is a section holding a mapping; an entry
    written as a command-line override (`TRAIN_CONFIGS.iterations: 5`) is named as such."""
    for section, entries in data.items():
        if isinstance(section, str) and "." in section and not isinstance(entries, dict):
            head, key = section.split(".", 1)
            raise UserError(f"{path}: '{section}: {entries}' is override syntax (for the command line: "
                            f"{section}={entries}); in a config file write the section and the key under it, "
                            f"'{head}:' and then '  {key}: {entries}' on the next line")
        if not isinstance(entries, dict):
            raise UserError(f"{path}: section '{section}' must be a mapping of keys")


def _suggest(word, options):
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _set(cfg: dict, params: dict, section: str, key: str, value, origin: str, task: str = None):
    """Set cfg[section][key] = value after checking it against its declaration.

    params: {section: {key: Param}}, the schema of the run (`schema`); origin: where the
    value comes from, for the error message.
    """
    if section not in params:
        raise UserError(f"unknown config section '{section}' in {origin}{_suggest(section, params)}; "
                        f"sections: {', '.join(params)}{_section_hint(section, task)}")
    if key not in params[section]:
        full = [f"{section}.{k}" for k in params[section]]
        hint = _key_hint(section, key, task) or _suggest(f"{section}.{key}", full)
        raise UserError(f"unknown config key '{section}.{key}' in {origin}{hint}")
    param = params[section][key]
    if param.numeric and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; take it as the number it means.
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, list):  # the same YAML 1.1 quirk inside lists: [5, 1e9]
        value = [float(v) if isinstance(v, str) and _EXPONENT_NUMBER.match(v) else v for v in value]
    value = param.coerce(value)  # an int given as 100.0 -> 100, 2 -> 2.0 for a float
    problem = param.problem(value)
    if problem:
        raise UserError(f"{section}.{key}={value!r} {problem} ({origin})")
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


def schema(task: str, model: str) -> dict:
    """{section: {key: Param}} of every key a run of `task` with model `model` takes, in the
    order of its config.yaml: the task's sections, with the model's own keys after
    model_config's and the sampler sections after model_config."""
    registry = registry_params(task, model)
    out = {}
    for section, declared in task_params(task).items():
        out[section] = dict(declared)
        if section == "model_config":
            out[section].update(registry.pop("model_config"))
            out.update(registry)
    return out


def model_defaults(name: str) -> dict:
    """{key: default} of model `name`'s own keys and its lr (models/<name>.py declares them)."""
    return {k: copy.deepcopy(p.default) for k, p in registry_params(model=name)["model_config"].items()}


def _task_yaml(task: str):
    """(path, {section: {key: value}}) of config/train_<task>.yaml: what differs for `task`."""
    path = os.path.join(CONFIG_DIR, f"train_{task}.yaml")
    task_yaml = read_yaml(path)
    check_sections(path, task_yaml)
    return path, task_yaml


def _model_name(task_yaml: dict, user: dict, parsed: list) -> str:
    name = next((v for s, k, v, _ in reversed(parsed) if (s, k) == ("model_config", "name")), None)
    name = (name or (user.get("model_config") or {}).get("name") or (task_yaml.get("model_config") or {}).get("name")
            or MODEL_PARAMS["name"].default)
    from models import MODELS
    if name not in MODELS:
        raise UserError(f"model_config.name={name!r}: unknown model; valid: {', '.join(MODELS)}")
    return name


def task_defaults(task: str, model: str = None):
    """(defaults {section: {key: value}}, params {section: {key: Param}}) of `task` before any
    user setting: the declared defaults, then what config/train_<task>.yaml sets for the task."""
    path, task_yaml = _task_yaml(task)
    model = model or _model_name(task_yaml, {}, [])
    params = schema(task, model)
    defaults = {section: {k: copy.deepcopy(p.default) for k, p in declared.items()}
                for section, declared in params.items()}
    own = registry_params(model=model)["model_config"]
    for section, entries in task_yaml.items():
        for key, value in entries.items():
            if section == "model_config" and key in own:
                raise UserError(f"{path}: model_config.{key} is a constant of the model (models/); "
                                f"set it in a --config file or as an override")
            _set(defaults, params, section, key, value, path, task)
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
    check_sections(config_path, user)
    # The model's own keys join the schema once we know which model is asked for.
    name = _model_name(_task_yaml(task)[1], user, parsed)
    cfg, params = task_defaults(task, name)
    for section, entries in user.items():
        for key, value in entries.items():
            _set(cfg, params, section, key, value, config_path, task)
    for section, key, value, origin in parsed:
        _set(cfg, params, section, key, value, origin, task)
    return cfg


def dump_config(cfg: dict, path: str):
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
