"""Figures beside a reproduction table (matplotlib, Agg), written as results/<stem>_*.png.

    curves           every metric against training seconds and against iterations, one line
                     per run (the paper's Fig. 4); over several signals, the mean curve
    reconstructions  ground truth and each run's reconstruction with a zoomed crop
                     (Fig. 3 / Fig. 8; images only) after the same training time: the
                     snapshot TRAIN_CONFIGS.snapshot_seconds saved (the smallest time any run
                     has; a run that finished training sooner shows its final result). Runs
                     without snapshots show their final reconstruction, titled with the
                     seconds it took
    network_size     each column against the parameter count, one line per `tags.strategy`
                     (Fig. 5)
    selection_maps   NINT's selection_maps.png of each run, copied into <stem>_selection_maps/
"""
import os
import shutil

import numpy as np

from utils.reproduce.collect import collect
from utils.reproduce.columns import PRETTY

NOT_METRICS = ("step", "train_seconds", "batch_size", "loss")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _mean_curve(results: list, metric: str):
    """Mean of `metric` over several runs' rows, row by row (they share the evaluation steps)."""
    curves = [[(r.get("step"), r.get("train_seconds"), r.get(metric)) for r in res.rows] for res in results]
    length = min(len(c) for c in curves)
    steps, seconds, values = [], [], []
    for i in range(length):
        points = [c[i] for c in curves]
        if any(p[2] is None for p in points):
            continue
        steps.append(points[0][0])
        seconds.append(float(np.mean([p[1] for p in points])))
        values.append(float(np.mean([p[2] for p in points])))
    return steps, seconds, values


def plot_curves(sweep, entries, path: str) -> str:
    completed = [(e["label"], [res for _, res in e["results"] if res.status == "completed" and res.rows])
                 for e in entries]
    completed = [(label, results) for label, results in completed if results]
    if not completed:
        return None
    metrics = []
    for _, results in completed:
        for res in results:
            for key in res.rows[0]:
                if key not in NOT_METRICS and key not in metrics and any(r.get(key) is not None for r in res.rows):
                    metrics.append(key)
    if not metrics:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.2 * len(metrics)), squeeze=False)
    for row, metric in enumerate(metrics):
        for label, results in completed:
            steps, seconds, values = _mean_curve(results, metric)
            if values:
                axes[row][0].plot(seconds, values, label=label)
                axes[row][1].plot(steps, values, label=label)
        name = PRETTY.get(metric, metric)
        axes[row][0].set_xlabel("training seconds (evaluation excluded)")
        axes[row][1].set_xlabel("iterations")
        for ax in axes[row]:
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=7, loc="best")
    n = len(sweep.signals or [None])
    fig.suptitle(f"{sweep.table} ({sweep.preset}): metrics during training"
                 + (f", mean over {n} signals" if n > 1 else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ground_truth(folder: str):
    """The image a run was evaluated against, read the way the image task reads it."""
    from utils.engine.config import read_yaml
    from utils.tasks.image import load_image
    data = read_yaml(os.path.join(folder, "config.yaml"))["DATASET_CONFIGS"]
    if data.get("eval_file_path") or data.get("eval_size"):
        return load_image(data.get("eval_file_path") or data["file_path"], data.get("eval_size"), notify=lambda *_: None)
    return load_image(data["file_path"], data.get("img_size"), notify=lambda *_: None)


def _detail_box(image: np.ndarray, frac: float = 0.25):
    """(row, col, size) of the square crop with the most detail (gradient energy) in the image."""
    gray = image.mean(axis=-1)
    h, w = gray.shape
    size = max(8, int(min(h, w) * frac))
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    best, box = -1.0, (0, 0, size)
    step = max(1, size // 4)
    for r in range(0, h - size, step):
        for c in range(0, w - size, step):
            score = energy[r:r + size, c:c + size].sum()
            if score > best:
                best, box = score, (r, c, size)
    return box


def _snapshots(folder: str) -> dict:
    """snapshots.json of a run: {seconds (float): {"file", "step", "train_seconds"}}."""
    import json
    try:
        with open(os.path.join(folder, "snapshots.json")) as f:
            return {float(k): v for k, v in json.load(f).items()}
    except (OSError, ValueError):
        return {}


def _panel(label, run, res, at_seconds):
    """(title, picture path or None) of one run for the figure, or None when the run has no
    result to show. None as the picture: the run trained past `at_seconds` but saved no
    snapshot there (the panel says so rather than disappearing)."""
    if res.status != "completed":  # failed, stale, interrupted or not run: not comparable
        return None
    summary = res.summary or {}
    final = os.path.join(run.folder, "reconstruction.png")
    if at_seconds is not None:
        snap = _snapshots(run.folder).get(at_seconds)
        if snap and os.path.isfile(os.path.join(run.folder, snap["file"])):
            return (f"{label}\nstep {snap['step']}, {snap['train_seconds']:.2f} s",
                    os.path.join(run.folder, snap["file"]))
        trained = summary.get("train_seconds")
        if trained is not None and trained < at_seconds and os.path.isfile(final):
            return f"{label}\nfinished at {trained:.1f} s", final
        return f"{label}\nno snapshot at {at_seconds:g} s", None
    if os.path.isfile(final):
        return f"{label}\n{summary.get('train_seconds', 0):.1f} s", final
    return None


def _snapshot_time(sweep, runs) -> float:
    """The training time the figure compares at: the smallest of the sweep's
    TRAIN_CONFIGS.snapshot_seconds, else the smallest any run saved; None: final results."""
    asked = sweep.preset_overrides.get("TRAIN_CONFIGS.snapshot_seconds")
    for run in sweep.runs:  # a run's own overrides may set it instead of the preset
        asked = asked or run.overrides.get("TRAIN_CONFIGS.snapshot_seconds")
    if asked:
        return float(min(asked))
    saved = sorted({t for run in runs for t in _snapshots(run.folder)})
    return saved[0] if saved else None


def plot_reconstructions(sweep, entries, path: str) -> str:
    """First signal only: ground truth + one column per run, full image above its zoomed crop,
    after the same training time when the runs saved snapshots (else their final result).
    Each title's PSNR is of the saved 8-bit picture, so it can differ from the table's in the
    second decimal."""
    import imageio.v3 as iio
    from utils.tasks.image.metrics import psnr
    first_signal_runs = [(e["label"], *e["results"][0]) for e in entries]
    at_seconds = _snapshot_time(sweep, [run for _, run, _ in first_signal_runs])
    panels = []
    for label, run, res in first_signal_runs:
        panel = _panel(label, run, res, at_seconds)
        if panel:
            panels.append((run, *panel))
    if not any(picture for _, _, picture in panels):
        return None
    truth = _ground_truth(next(run for run, _, picture in panels if picture).folder)
    r, c, size = _detail_box(truth)
    plt = _pyplot()
    cols = len(panels) + 1
    fig, axes = plt.subplots(2, cols, figsize=(2.4 * cols, 5.0), squeeze=False)

    def show(col, picture, title):
        for ax in (axes[0][col], axes[1][col]):
            ax.axis("off")
        axes[0][col].set_title(title, fontsize=7)
        if picture is None:
            return
        picture = picture if picture.ndim == 3 and picture.shape[-1] == 3 else np.repeat(
            picture.reshape(picture.shape[0], picture.shape[1], -1)[..., :1], 3, axis=-1)
        axes[0][col].imshow(picture)
        axes[0][col].add_patch(plt.Rectangle((c, r), size, size, fill=False, edgecolor="red", linewidth=1))
        axes[1][col].imshow(picture[r:r + size, c:c + size], interpolation="nearest")

    show(0, truth, "ground truth")
    for i, (_, title, picture_path) in enumerate(panels, start=1):
        if picture_path is None:
            show(i, None, title)
            continue
        picture = np.asarray(iio.imread(picture_path)).astype(np.float32) / 255.0
        value = psnr(picture.reshape(truth.shape), truth)
        show(i, picture, f"{title}, {value:.2f} dB")
    when = (f"after {at_seconds:g} s of training (step and exact seconds in each title)" if at_seconds is not None
            else "final reconstructions (training seconds in each title)")
    fig.suptitle(f"{sweep.table} ({sweep.preset}): {when}; PSNR of the saved 8-bit pictures; "
                 f"bottom: the red crop", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_network_size(sweep, entries, path: str) -> str:
    """Each column against parameters, one line per tags['strategy'] (runs without it: by label)."""
    lines = {}
    for e in entries:
        params = [res.summary.get("parameters") for _, res in e["results"]
                  if res.status == "completed" and res.summary]
        if not params:
            continue
        group = e["tags"].get("strategy", e["label"])
        lines.setdefault(group, []).append((params[0], e))
    if not lines:
        return None
    plt = _pyplot()
    cols = sweep.columns
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 3.6), squeeze=False)
    for ax, spec in zip(axes[0], cols):
        for group, points in lines.items():
            points = sorted(points, key=lambda p: p[0])
            xs = [p for p, e in points if e["values"][spec["id"]][0] is not None]
            ys = [e["values"][spec["id"]][0] for p, e in points if e["values"][spec["id"]][0] is not None]
            ax.plot(xs, ys, marker="o", label=group)
            for (p, e) in points:
                if e["values"][spec["id"]][0] is not None and "size" in e["tags"]:
                    ax.annotate(str(e["tags"]["size"]), (p, e["values"][spec["id"]][0]), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel(spec["header"])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{sweep.table} ({sweep.preset}): network size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def collect_selection_maps(sweep, entries, folder: str) -> str:
    copied = 0
    for e in entries:
        for run, res in e["results"]:
            src = os.path.join(run.folder, "selection_maps.png")
            if os.path.isfile(src):
                os.makedirs(folder, exist_ok=True)
                tail = os.path.relpath(run.folder, sweep.runs_dir).replace(os.sep, "__")
                shutil.copyfile(src, os.path.join(folder, f"{tail}.png"))
                copied += 1
    return folder if copied else None


def write_figures(sweep) -> list:
    """The figures the sweep lists; returns the paths written (figures without data are skipped)."""
    entries = collect(sweep)
    base = os.path.join(sweep.results_dir, sweep.stem)
    out = []
    for name in sweep.figures:
        if name == "curves":
            out.append(plot_curves(sweep, entries, f"{base}_curves.png"))
        elif name == "reconstructions" and sweep.task == "image":
            out.append(plot_reconstructions(sweep, entries, f"{base}_reconstructions.png"))
        elif name == "network_size":
            out.append(plot_network_size(sweep, entries, f"{base}_network_size.png"))
        elif name == "selection_maps":
            out.append(collect_selection_maps(sweep, entries, f"{base}_selection_maps"))
    return [p for p in out if p]
