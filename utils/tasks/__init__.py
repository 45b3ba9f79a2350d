"""Task registry: `train_<task>.py` fits a signal of one of TASKS.

A task supplies a signal (coordinates, targets) and its evaluation (the interface is
utils/tasks/base.py); each task is one folder holding everything of its modality:
its signal, file I/O, metrics and figures. The trainer knows no task; a task knows
nothing of samplers or models beyond calling `model(coords)`.

Adding a task is one new folder plus one line here, its DATASET_CONFIGS keys declared in
utils/engine/task_keys.py, a config/train_<task>.yaml with what differs for it from the
declared defaults, and a two-line train_<task>.py.
"""
import importlib

# name -> "module:class". Imported on first use, so that an image run never loads the
# geometry libraries of the SDF task.
TASKS = {
    "image": "utils.tasks.image.task:ImageTask",
    "audio": "utils.tasks.audio.task:AudioTask",
    "sdf": "utils.tasks.sdf.task:SdfTask",
}


def task_class(name: str):
    """The Task subclass registered as `name`."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_task(name: str, cfg: dict, device):
    return task_class(name)(cfg, device)
