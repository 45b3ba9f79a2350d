"""A sweep file (config/paper/<table>.yaml) -> the list of runs it asks for.

A sweep file holds (see config/paper/README.md for the full format):

    task: image                      # image | audio | sdf -> train_<task>.py
    title: ...                       # one line, printed as the table's heading
    description: ...                 # the protocol, printed under it
    presets:                         # common overrides, one set per preset
      paper: {overrides: {TRAIN_CONFIGS.iterations: 5000}, images: images}
      cpu:   {overrides: {...}, columns: {psnr_1000: {at_step: 500}}}
    runs:                            # one entry per row of the table
      - {name: nint, label: NINT, overrides: {EXP_CONFIGS.strategy_type: nint}}
      - product: [[...strategies...], [...network sizes...]]   # every combination
    columns: [{id: psnr_1000, metric: psnr, at_step: 1000}, {time_to: psnr_30}, ...]
    paper: {nint: {psnr_1000: 32.64}}   # the paper's value per run name and column id
    figures: [curves, reconstructions]

Each run is one `python train_<task>.py` process whose folder name is built from
the run's own overrides (preset overrides are common to every run and live in the
folder above), under <results>/runs/<table>/<preset>/.
"""
import copy
import functools
import hashlib
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction

import yaml

from utils.engine.config import ROOT, read_yaml, task_defaults
from utils.errors import UserError
from utils.reproduce.columns import check_columns, resolve_columns
from utils.tasks import TASKS, task_class

SWEEP_DIR = os.path.join(ROOT, "config", "paper")
SWEEP_KEYS = ("task", "title", "description", "presets", "runs", "columns", "paper", "figures")
PRESET_KEYS = ("overrides", "images", "columns", "note", "repeats")
RUN_KEYS = ("name", "label", "overrides", "tags")
FIGURES = ("curves", "reconstructions", "network_size", "selection_maps")
# Which files count as a signal of each task when a run is repeated over a folder (--images).
SIGNAL_EXTENSIONS = {
    "image": (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"),
    "audio": (".wav", ".flac", ".ogg"),
    "sdf": (".obj", ".ply", ".stl", ".off", ".xyz"),
}
MAX_FOLDER_NAME = 100  # characters; longer names are cut and end with a hash of the full name
# Sampler constants counted in steps or selections. A run shorter or longer than the paper's
# (its preset's or its own TRAIN_CONFIGS.iterations against the paper preset's, or against the
# task's default, the paper's length, in a sweep without a paper preset) scales these by the
# same factor, so that it follows the same schedule relative to its length
# (scale_step_constants). Not scaled: nint.dense2_period (a re-selection pattern, not a share of
# the run) and nint.selection_map_steps (the steps a figure shows).
STEP_COUNTED_KEYS = ("evos.cfs_steps", "evos.fitness_interval_start", "evos.fitness_interval_end",
                     "nint.alpha", "soft_mining.warmup")


@dataclass
class Run:
    """One process of a sweep: train_<task>.py with `argv`, writing into `folder`."""
    name: str                 # the sweep's name for this row (key of `paper:`)
    label: str                # what the table prints
    overrides: dict           # this run's own overrides, SECTION.key -> value
    tags: dict                # free labels (strategy, size, ...) used by the figures
    folder: str               # absolute path of the run folder
    argv: list                # overrides handed to train_<task>.py (preset + run + signal + output)
    signal: str = None        # the file this run fits when the sweep runs over a folder
    repeat: int = 1           # which of the sweep's repeats (--repeats) this process is
    scaled: dict = field(default_factory=dict)  # SECTION.key -> (value before, after) of scale_step_constants
    step_scale: Fraction = None  # this run's f of scale_step_constants (None: its length is the paper's)
    seed: int = None          # its TRAIN_CONFIGS.seed when the sweep repeats (repeat k: base seed + k - 1)


@dataclass
class Sweep:
    table: str                # e.g. "table2"
    task: str
    title: str
    description: str
    preset: str
    preset_overrides: dict
    preset_note: str
    columns: list             # column specs (dicts), preset adjustments applied
    paper: dict               # run name -> {column id: value}
    figures: list
    runs: list = field(default_factory=list)
    runs_dir: str = ""        # <results>/runs/<table>/<preset>[/<images tag>]
    results_dir: str = ""
    stem: str = ""            # file stem of the table and figures under results_dir
    signals: list = None      # the files the runs were repeated over (None: the config's default)
    per_signal_folders: bool = False  # one subfolder per signal (--images, or several files)
    source: str = ""          # the sweep file
    repeats: int = 1          # every run this many times, one after another, each repeat its own seed
    step_scale: Fraction = None  # the preset's f of scale_step_constants (None: the preset's length is the
                                 # paper's; a run that sets its own iterations has its own, Run.step_scale)
    paper_iterations: int = None  # the run length the step-counted constants are given for
    time_stopped: bool = False   # the preset stops its runs on training seconds (not scaled)

    @property
    def script(self) -> str:
        return f"train_{self.task}.py"


class PaperNumber(float):
    """A number of the paper's `paper:` section that remembers how the paper printed it
    (`text`: '39.020', not 39.02), so that a table shows it at the paper's precision."""
    text: str

    def __new__(cls, value: float, text: str):
        number = super().__new__(cls, value)
        number.text = text
        return number


class _PaperLoader(yaml.SafeLoader):
    """YAML's safe loader whose floats keep their text (PaperNumber)."""


def _paper_float(loader, node):
    return PaperNumber(yaml.SafeLoader.construct_yaml_float(loader, node), node.value)


_PaperLoader.add_constructor("tag:yaml.org,2002:float", _paper_float)


def paper_text(value, fmt: str = None) -> str:
    """A paper number as the paper prints it: its text in the sweep file for a float ('27.897'),
    the number itself for an integer, a word such as 'N/A' as it is; '' for None. `fmt` formats
    only a number that has no text of its own (e.g. one computed in a test)."""
    if value is None:
        return ""
    if isinstance(value, PaperNumber):
        return value.text
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return format(value, fmt) if fmt else repr(value)


def _read_paper_numbers(path: str) -> dict:
    """The `paper:` section again, its floats as PaperNumber (read_yaml gives plain floats)."""
    try:
        with open(path) as f:
            data = yaml.load(f, Loader=_PaperLoader) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data.get("paper") or {} if isinstance(data, dict) else {}


def sweep_path(name: str) -> str:
    """'table2' -> config/paper/table2.yaml; a path to a YAML file is taken as it is."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        return name
    return os.path.join(SWEEP_DIR, f"{name}.yaml")


def available_sweeps() -> list:
    if not os.path.isdir(SWEEP_DIR):
        return []
    names = [f[:-5] for f in os.listdir(SWEEP_DIR) if f.endswith(".yaml")]
    return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def override_text(key: str, value) -> str:
    """SECTION.key=value with the value written as YAML, the way train_<task>.py parses it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    if text.endswith("\n..."):
        text = text[:-4].strip()
    elif text == "...":
        text = ""
    return f"{key}={text}"


def _sanitise(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"


def _value_for_name(value) -> str:
    if isinstance(value, str) and ("/" in value or os.sep in value):
        value = os.path.splitext(os.path.basename(value))[0]  # a path: its file's stem
    elif isinstance(value, (list, tuple)):
        value = "x".join(str(v) for v in value)
    return _sanitise(str(value))


def folder_name(overrides: dict, full_keys: bool = False) -> str:
    """The run folder's name from its overrides, e.g. 'strategy_type-nint__xi-0.5'.

    Keys are shortened to their last part (`nint.xi` -> `xi`) unless full_keys;
    an empty override set is 'default'. Over MAX_FOLDER_NAME characters, the name is
    cut and ends with a short hash of the full name, so that it stays unique.
    """
    if not overrides:
        return "default"
    parts = []
    for key, value in overrides.items():
        short = key if full_keys else key.split(".")[-1]
        parts.append(f"{_sanitise(short)}-{_value_for_name(value)}")
    name = "__".join(parts)
    if len(name) > MAX_FOLDER_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:MAX_FOLDER_NAME - 9]}_{digest}"
    return name


def _check_overrides(overrides, where: str) -> dict:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise UserError(f"{where}: 'overrides' must be a mapping of SECTION.key: value")
    for key in overrides:
        if not isinstance(key, str) or "." not in key:
            raise UserError(f"{where}: override key {key!r} must look like SECTION.key "
                            f"(e.g. EXP_CONFIGS.strategy_type)")
    return dict(overrides)


def _check_keys(mapping: dict, allowed, where: str):
    for key in mapping:
        if key not in allowed:
            raise UserError(f"{where}: unknown key '{key}'; allowed: {', '.join(allowed)}")


def _one_run(entry, where: str) -> dict:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: each run must be a mapping with name, overrides (and label, tags)")
    _check_keys(entry, RUN_KEYS, where)
    if "name" not in entry:
        raise UserError(f"{where}: a run needs a 'name'")
    name = str(entry["name"])
    tags = entry.get("tags") or {}
    if not isinstance(tags, dict):
        raise UserError(f"{where}: 'tags' must be a mapping")
    return {"name": name, "label": str(entry.get("label", name)),
            "overrides": _check_overrides(entry.get("overrides"), f"{where} (run '{name}')"),
            "tags": dict(tags)}


def expand_runs(entries, where: str) -> list:
    """The `runs:` list with every `product:` entry replaced by its combinations.

    `product: [[a1, a2], [b1, b2, b3]]` gives a1+b1, a1+b2, ...: names joined with '_',
    labels with ' ', overrides and tags merged left to right.
    """
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{where}: 'runs' must be a non-empty list")
    runs = []
    for i, entry in enumerate(entries):
        here = f"{where}, runs[{i}]"
        if isinstance(entry, dict) and "product" in entry:
            factors = entry["product"]
            if len(entry) != 1 or not isinstance(factors, list) or not all(
                    isinstance(f, list) and f for f in factors):
                raise UserError(f"{here}: 'product' must be the only key, holding a list of non-empty lists of runs")
            options = [[_one_run(r, here) for r in factor] for factor in factors]
            for combo in itertools.product(*options):
                merged = {"name": "_".join(r["name"] for r in combo),
                          "label": " ".join(r["label"] for r in combo), "overrides": {}, "tags": {}}
                for r in combo:
                    merged["overrides"].update(r["overrides"])
                    merged["tags"].update(r["tags"])
                runs.append(merged)
        else:
            runs.append(_one_run(entry, here))
    names = [r["name"] for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"{where}: run names must be unique; repeated: {', '.join(duplicates)}")
    return runs


def list_signals(path: str, task: str, what: str = "--images") -> list:
    """The files of `task`'s kind in a folder (sorted), or [path] for a single file."""
    if os.path.isfile(path):
        return [os.path.abspath(path)]
    if not os.path.isdir(path):
        raise UserError(f"{what} {path}: no such file or folder")
    ext = SIGNAL_EXTENSIONS[task]
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(ext))
    if not files:
        raise UserError(f"{what} {path}: no {task} files ({', '.join(ext)}) in that folder")
    return [os.path.abspath(f) for f in files]


def _resolve(path: str) -> str:
    """Sweep-file paths are relative to the repository root (where train_<task>.py lives)."""
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def _iterations(overrides: dict, defaults: dict) -> int:
    return int(overrides.get("TRAIN_CONFIGS.iterations", defaults["TRAIN_CONFIGS"]["iterations"]))


def paper_iterations(presets: dict, defaults: dict) -> int:
    """The run length the step-counted constants are given for: the paper preset's
    TRAIN_CONFIGS.iterations, or in a sweep without a paper preset the task's default (the
    paper's: 5000 for images and audio, 10000 for SDF)."""
    paper = (presets.get("paper") or {}).get("overrides") or {}
    return _iterations(paper, defaults)


def step_scale_factor(presets: dict, preset: str, defaults: dict):
    """f = this preset's TRAIN_CONFIGS.iterations over the paper's (paper_iterations), as an
    exact fraction; None when it is 1 (the paper preset itself; Tables 4 and 6, whose runs stop
    on training seconds, keep the paper's 5000 iterations). A run that sets its own iterations
    has its own f (scale_step_constants)."""
    here = (presets[preset] or {}).get("overrides") or {}
    factor = Fraction(_iterations(here, defaults), paper_iterations(presets, defaults))
    return None if factor == 1 else factor


def scale_step_constants(runs: list, paper_length: int, preset_overrides: dict, defaults: dict) -> None:
    """Scale every STEP_COUNTED_KEYS key the run's sampler reads by the run's f, its
    TRAIN_CONFIGS.iterations (its own if it sets them, else the preset's, else the task's
    default) over `paper_length`: round(f v), at least 1, written into the run's overrides, in
    place. Each run dict gets `step_scale` (f, or None when f = 1: nothing is written), `scaled`:
    key -> (v, round(f v)), and `unscaled_overrides`, the sweep file's own, which name its folder.

    v is the run's own value if it sets one (Table 5's alpha rows), else the preset's, else the
    task's default. A sampler reads a key when it is one of its declared constants (Sampler.all_params).
    """
    from utils.engine.run import sampler_constants_of  # here: only scaling needs the samplers' constants
    for run in runs:
        run["scaled"], run["unscaled_overrides"], run["step_scale"] = {}, dict(run["overrides"]), None
        factor = Fraction(_iterations({**preset_overrides, **run["overrides"]}, defaults), paper_length)
        if factor == 1:
            continue
        run["step_scale"] = factor
        strategy = run["overrides"].get("EXP_CONFIGS.strategy_type",
                                        preset_overrides.get("EXP_CONFIGS.strategy_type",
                                                             defaults["EXP_CONFIGS"]["strategy_type"]))
        declared = sampler_constants_of(strategy)
        if declared is None:
            continue  # an unknown strategy: train_<task>.py names the problem
        for name in STEP_COUNTED_KEYS:
            if name not in declared:
                continue
            section, key = name.split(".", 1)
            value = run["overrides"].get(name, preset_overrides.get(name))
            if value is None:
                value = (defaults.get(section) or {}).get(key, declared[name])
            scaled = max(1, math.floor(factor * int(value) + Fraction(1, 2)))  # round half up
            run["overrides"][name] = scaled
            run["scaled"][name] = (int(value), scaled)


def sweep_presets(name: str) -> list:
    """The preset names of sweep `name` (['default'] when it declares none); [] when unreadable."""
    try:
        data = read_yaml(sweep_path(name))
    except UserError:
        return []
    presets = data.get("presets") or {"default": {}}
    return list(presets) if isinstance(presets, dict) else []


def load_sweep(name: str, preset: str = "cpu", images: str = None, results_dir: str = "results",
               repeats: int = None, extra_overrides: dict = None, variant: str = None,
               images_flag: str = "--images") -> Sweep:
    """Read a sweep file and expand it for `preset` (and the signals of `images`, a folder or file).
    repeats > 1: each run N times in folders <name>__repeat-<k>, repeat k with TRAIN_CONFIGS.seed
    = the run's seed + k - 1 (repeat 1 keeps it): paired repeats, same seed across the runs.
    None: the preset's `repeats:` (the number the claims need), else 1.
    extra_overrides: added to the preset's (e.g. the speed-up benchmark's --release-clock);
    variant: names them, so that their runs and reports get folders and files of their own
    (runs/<table>/<preset>_<variant>/, <stem>_<variant>)."""
    if repeats is not None and (not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1):
        raise UserError(f"--repeats must be a whole number >= 1, got {repeats}")
    path = sweep_path(name)
    if not os.path.isfile(path):
        known = ", ".join(available_sweeps())
        raise UserError(f"no sweep file {path}; the shipped ones: {known}")
    data = read_yaml(path)
    where = os.path.relpath(path, ROOT) if path.startswith(ROOT) else path
    _check_keys(data, SWEEP_KEYS, where)
    task = data.get("task")
    if task not in TASKS:
        raise UserError(f"{where}: task must be one of {', '.join(TASKS)}, got {task!r}")
    presets = data.get("presets") or {"default": {}}
    if preset not in presets:
        raise UserError(f"{where}: no preset '{preset}'; presets: {', '.join(presets)}")
    preset_spec = presets[preset] or {}
    _check_keys(preset_spec, PRESET_KEYS, f"{where}, preset '{preset}'")
    preset_overrides = _check_overrides(preset_spec.get("overrides"), f"{where}, preset '{preset}'")
    preset_overrides.update(extra_overrides or {})
    if repeats is None:
        repeats = preset_spec.get("repeats", 1)
        if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
            raise UserError(f"{where}, preset '{preset}': repeats must be a whole number >= 1, got {repeats!r}")

    columns = resolve_columns(data.get("columns"), preset_spec.get("columns"), where)
    check_columns(columns, task_class(task), where)
    figures = data.get("figures") or []
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise UserError(f"{where}: unknown figure(s) {', '.join(map(str, unknown))}; known: {', '.join(FIGURES)}")
    paper = data.get("paper") or {}
    if paper:
        paper = _read_paper_numbers(path) or paper
    runs = expand_runs(data.get("runs"), where)
    run_names = {r["name"] for r in runs}
    column_ids = {c["id"] for c in columns}
    for run_name, values in paper.items():
        if run_name not in run_names:
            raise UserError(f"{where}: paper numbers given for '{run_name}', which is not a run")
        if not isinstance(values, dict) or any(k not in column_ids for k in values):
            raise UserError(f"{where}: paper numbers for '{run_name}' must map column ids "
                            f"({', '.join(sorted(column_ids))}) to values")

    defaults = task_defaults(task)[0]
    factor = step_scale_factor(presets, preset, defaults)
    paper_length = paper_iterations(presets, defaults)
    scale_step_constants(runs, paper_length, preset_overrides, defaults)

    table = os.path.splitext(os.path.basename(path))[0]
    results_dir = os.path.abspath(results_dir)
    runs_dir = os.path.join(results_dir, "runs", table, preset + (f"_{variant}" if variant else ""))
    stem = (table if preset == "paper" else f"{table}_{preset}") + (f"_{variant}" if variant else "")
    signals = None
    if images:
        signals = list_signals(images, task, images_flag)
        tag = _sanitise(os.path.basename(os.path.normpath(images)))
        runs_dir = os.path.join(runs_dir, f"images-{tag}")
        stem = f"{stem}_{tag}"
    elif preset_spec.get("images"):
        listed = preset_spec["images"]
        listed = listed if isinstance(listed, list) else [listed]
        signals = [s for p in listed
                   for s in list_signals(_resolve(str(p)), task, f"{where}, preset '{preset}', images:")]

    sweep = Sweep(table=table, task=task, title=str(data.get("title", table)),
                  description=str(data.get("description", "")).strip(), preset=preset,
                  preset_overrides=preset_overrides, preset_note=str(preset_spec.get("note", "")).strip(),
                  columns=columns, paper=paper, figures=list(figures), runs_dir=runs_dir,
                  results_dir=results_dir, stem=stem, signals=signals, source=path,
                  per_signal_folders=bool(images) or len(signals or ()) > 1, repeats=repeats,
                  step_scale=factor, paper_iterations=paper_length,
                  time_stopped=float(preset_overrides.get("TRAIN_CONFIGS.max_train_seconds", 0) or 0) > 0)
    sweep.runs = _materialise(sweep, runs)
    return sweep


def _materialise(sweep: Sweep, runs: list) -> list:
    """Signals x runs x repeats -> Run objects with their folder and full override list."""
    # Folder names come from the sweep file's own overrides, not the scaled constants (a run
    # whose settings changed is found 'stale' and kept aside, run_folder.plan).
    own = [r.get("unscaled_overrides", r["overrides"]) for r in runs]
    short = [folder_name(o) for o in own]
    full_keys = len(set(short)) < len(short)  # `nint.xi` vs `expansive.xi`: keep the sections
    names = [folder_name(o, full_keys) for o in own]
    if len(set(names)) < len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise UserError(f"{sweep.source}: two runs have the same overrides ({', '.join(clash)}); "
                        f"give them different overrides")
    signals = sweep.signals or [None]
    out = []
    for signal, (spec, name), repeat in itertools.product(signals, zip(runs, names), range(1, sweep.repeats + 1)):
        overrides = dict(sweep.preset_overrides)
        overrides.update(spec["overrides"])
        seed = None
        if sweep.repeats > 1:
            name = f"{name}__repeat-{repeat}"
            seed = _base_seed(sweep.task, overrides) + repeat - 1
            overrides[SEED_KEY] = seed
        if signal is not None:
            overrides["DATASET_CONFIGS.file_path"] = signal
        if sweep.per_signal_folders:
            folder = os.path.join(sweep.runs_dir, _sanitise(os.path.basename(signal)), name)
        else:
            folder = os.path.join(sweep.runs_dir, name)
        argv = [override_text(k, v) for k, v in overrides.items()]
        argv += [override_text("TRAIN_CONFIGS.out_root", os.path.dirname(folder)),
                 override_text("TRAIN_CONFIGS.out_dir", os.path.basename(folder)),
                 "TRAIN_CONFIGS.progress=0"]
        out.append(Run(name=spec["name"], label=spec["label"], overrides=copy.deepcopy(spec["overrides"]),
                       tags=spec["tags"], folder=folder, argv=argv, signal=signal, repeat=repeat, seed=seed,
                       scaled=dict(spec.get("scaled", {})), step_scale=spec.get("step_scale")))
    return out


SEED_KEY = "TRAIN_CONFIGS.seed"


def repeats_made(table: str, preset: str, results_dir: str = "results") -> int:
    """How many repeats to read a sweep's finished runs with: 1 when its run folders hold no
    <name>__repeat-<k> folder, else the largest k (at least 2, so that a sweep whose first repeat
    alone has run is read with the repeat folders' names)."""
    runs_dir = os.path.join(os.path.abspath(results_dir), "runs", table, preset)
    found = 0
    for _, dirs, _ in os.walk(runs_dir):
        for d in dirs:
            m = re.search(r"__repeat-(\d+)$", d)
            if m:
                found = max(found, int(m.group(1)))
    return 1 if found == 0 else max(found, 2)


def _base_seed(task: str, overrides: dict) -> int:
    """The seed a run has without repeats: its own or its preset's override, else the task's default."""
    if SEED_KEY in overrides:
        try:
            return int(overrides[SEED_KEY])
        except (TypeError, ValueError):
            raise UserError(f"{SEED_KEY} must be a whole number, got {overrides[SEED_KEY]!r}") from None
    return _default_seed(task)


@functools.lru_cache(maxsize=None)
def _default_seed(task: str) -> int:
    from utils.engine.config import load_config
    return int(load_config(task, notify=lambda _: None)["TRAIN_CONFIGS"]["seed"])


def describe_preset(sweep: Sweep) -> str:
    """The preset's sizes for the table header, e.g. 'img_size=256, iterations=2000, ...'."""
    parts = [f"`{override_text(k, v)}`" for k, v in sweep.preset_overrides.items()]
    text = ", ".join(parts) if parts else "the defaults of config/train_%s.yaml" % sweep.task
    if sweep.preset_note:
        text += f". {sweep.preset_note.rstrip('.')}"
    return text + "."


def _setting_text(value) -> str:
    """A setting's value for comparing runs: 10 and 10.0 are the same number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def _resolved_settings(sweep: Sweep, overrides: dict, defaults: dict) -> tuple:
    """Every SECTION.key a run of the sweep trains with: the task's defaults, then the preset's
    overrides, then the run's own (sorted, comparable)."""
    settings = {f"{section}.{key}": value for section, entries in defaults.items() for key, value in entries.items()}
    settings.update(sweep.preset_overrides)
    settings.update(overrides)
    return tuple(sorted((k, _setting_text(v)) for k, v in settings.items()))


def rows_that_meet(sweep: Sweep) -> list:
    """Lists of run names (first repeat, per signal) whose resolved settings (defaults, preset and
    run overrides merged) differ as the sweep file gives them but are the same after scaling."""
    defaults = task_defaults(sweep.task)[0]
    after, before = {}, {}
    for run in sweep.runs:
        if run.repeat != 1:
            continue
        unscaled = {**run.overrides, **{k: pair[0] for k, pair in run.scaled.items()}}
        after.setdefault((run.signal, _resolved_settings(sweep, run.overrides, defaults)), []).append(run)
        before[id(run)] = _resolved_settings(sweep, unscaled, defaults)
    return [[r.name for r in runs] for runs in after.values()
            if len({before[id(r)] for r in runs}) > 1]


def describe_step_scale(sweep: Sweep) -> str:
    """One sentence for the table header: which step-counted constants were scaled, by what, and how."""
    lengths = {}  # f -> {key: {(before, after): [run names]}}
    for run in sweep.runs:
        if run.step_scale is None:
            continue
        by_key = lengths.setdefault(run.step_scale, {})
        for key, pair in run.scaled.items():
            by_key.setdefault(key, {}).setdefault(pair, []).append(run.name)
    if not lengths:
        if sweep.time_stopped:
            return ("Step-counted sampler constants are not scaled: the runs stop on training seconds "
                    "(TRAIN_CONFIGS.max_train_seconds) and keep the paper's iterations, so the schedules are the paper's.")
        return "Step-counted sampler constants as in the paper (the run length is the paper's)."
    paper = sweep.paper_iterations
    groups = []
    for f in sorted(lengths, reverse=True):
        parts = []
        for key in STEP_COUNTED_KEYS:
            pairs = lengths[f].get(key)
            if not pairs:
                continue
            common = max(pairs, key=lambda p: len(set(pairs[p])))
            text = f"`{key}` {common[0]} -> {common[1]}"
            others = [f"{', '.join(sorted(set(names)))}: {p[0]} -> {p[1]}" for p, names in pairs.items() if p != common]
            parts.append(text + (f" ({'; '.join(others)})" if others else ""))
        if parts:
            groups.append((f, parts))
    if not groups:
        factors = ", ".join(str(f) for f in sorted(lengths, reverse=True))
        return f"No run's sampler has a step-counted constant to scale (f = {factors})."
    rule = ("round(f v) and at least 1, written into every run whose sampler declares them: ")
    if len(lengths) == 1 and sweep.step_scale in lengths:
        f, parts = groups[0]
        text = (f"Step-counted sampler constants scaled by f = {f} (this preset's iterations over the paper's "
                f"{paper}), " + rule + ", ".join(parts))
    else:
        text = (f"Step-counted sampler constants scaled by each run's f, its iterations over the paper's {paper}, "
                + rule + "; ".join(f"f = {f} ({f * paper} iterations): " + ", ".join(parts) for f, parts in groups))
    text += "; `nint.dense2_period` and `nint.selection_map_steps` are not scaled."
    met = rows_that_meet(sweep)
    if met:
        text += " After scaling, " + "; ".join(" and ".join(n) for n in met) + " run the same settings."
    return text


