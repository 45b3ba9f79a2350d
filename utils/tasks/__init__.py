"""Task registry: a task supplies a signal (coordinates, targets) and its evaluation.

The trainer knows no task; a task knows nothing of samplers or models beyond
calling `model(coords)`. Adding a task is one new file plus one line here.
"""


def build_task(name: str, cfg: dict, device):
    if name == "image":
        from utils.tasks.image import ImageTask
        return ImageTask(cfg, device)
    if name == "audio":
        from utils.tasks.audio import AudioTask
        return AudioTask(cfg, device)
    raise ValueError(f"unknown task {name!r}")
