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
import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field

import yaml

from utils.engine.config import ROOT, read_yaml
from utils.errors import UserError
from utils.reproduce.columns import check_columns, resolve_columns
from utils.tasks import TASKS, task_class

SWEEP_DIR = os.path.join(ROOT, "config", "paper")
SWEEP_KEYS = ("task", "title", "description", "presets", "runs", "columns", "paper", "figures")
PRESET_KEYS = ("overrides", "images", "columns", "note")
RUN_KEYS = ("name", "label", "overrides", "tags")
FIGURES = ("curves", "reconstructions", "network_size", "selection_maps")
# Which files count as a signal of each task when a run is repeated over a folder (--images).
SIGNAL_EXTENSIONS = {
    "image": (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"),
    "audio": (".wav", ".flac", ".ogg"),
    "sdf": (".obj", ".ply", ".stl", ".off", ".xyz"),
}
MAX_FOLDER_NAME = 100  # characters; longer names are cut and end with a hash of the full name


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
    repeats: int = 1          # every run this many times, one after another (timings: best of N)

    @property
    def script(self) -> str:
        return f"train_{self.task}.py"


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


def sweep_presets(name: str) -> list:
    """The preset names of sweep `name` (['default'] when it declares none); [] when unreadable."""
    try:
        data = read_yaml(sweep_path(name))
    except UserError:
        return []
    presets = data.get("presets") or {"default": {}}
    return list(presets) if isinstance(presets, dict) else []


def load_sweep(name: str, preset: str = "cpu", images: str = None, results_dir: str = "results",
               repeats: int = 1, extra_overrides: dict = None, variant: str = None,
               images_flag: str = "--images") -> Sweep:
    """Read a sweep file and expand it for `preset` (and the signals of `images`, a folder or file).
    repeats > 1: each run N times in folders <name>__repeat-<k> (same settings; for timings).
    extra_overrides: added to the preset's (e.g. the speed-up benchmark's --release-clock);
    variant: names them, so that their runs and reports get folders and files of their own
    (runs/<table>/<preset>_<variant>/, <stem>_<variant>)."""
    if not isinstance(repeats, int) or repeats < 1:
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

    columns = resolve_columns(data.get("columns"), preset_spec.get("columns"), where)
    check_columns(columns, task_class(task), where)
    figures = data.get("figures") or []
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise UserError(f"{where}: unknown figure(s) {', '.join(map(str, unknown))}; known: {', '.join(FIGURES)}")
    paper = data.get("paper") or {}
    runs = expand_runs(data.get("runs"), where)
    run_names = {r["name"] for r in runs}
    column_ids = {c["id"] for c in columns}
    for run_name, values in paper.items():
        if run_name not in run_names:
            raise UserError(f"{where}: paper numbers given for '{run_name}', which is not a run")
        if not isinstance(values, dict) or any(k not in column_ids for k in values):
            raise UserError(f"{where}: paper numbers for '{run_name}' must map column ids "
                            f"({', '.join(sorted(column_ids))}) to values")

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
                  per_signal_folders=bool(images) or len(signals or ()) > 1, repeats=repeats)
    sweep.runs = _materialise(sweep, runs)
    return sweep


def _materialise(sweep: Sweep, runs: list) -> list:
    """Signals x runs x repeats -> Run objects with their folder and full override list."""
    short = [folder_name(r["overrides"]) for r in runs]
    full_keys = len(set(short)) < len(short)  # `nint.xi` vs `expansive.xi`: keep the sections
    names = [folder_name(r["overrides"], full_keys) for r in runs]
    if len(set(names)) < len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise UserError(f"{sweep.source}: two runs have the same overrides ({', '.join(clash)}); "
                        f"give them different overrides")
    signals = sweep.signals or [None]
    out = []
    for signal, (spec, name), repeat in itertools.product(signals, zip(runs, names), range(1, sweep.repeats + 1)):
        if sweep.repeats > 1:
            name = f"{name}__repeat-{repeat}"
        overrides = dict(sweep.preset_overrides)
        overrides.update(spec["overrides"])
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
                       tags=spec["tags"], folder=folder, argv=argv, signal=signal, repeat=repeat))
    return out


def describe_preset(sweep: Sweep) -> str:
    """The preset's sizes for the table header, e.g. 'img_size=256, iterations=2000, ...'."""
    parts = [f"`{override_text(k, v)}`" for k, v in sweep.preset_overrides.items()]
    text = ", ".join(parts) if parts else "the defaults of config/train_%s.yaml" % sweep.task
    if sweep.preset_note:
        text += f". {sweep.preset_note.rstrip('.')}"
    return text + "."
