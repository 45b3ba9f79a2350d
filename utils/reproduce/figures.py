"""Figures beside a reproduction table (matplotlib, Agg), written as results/<stem>_*.png.

    curves           every metric against training seconds and against iterations, one line
                     per run (the paper's Fig. 4), each run its own colour and line style;
                     over several signals, the mean curve
    reconstructions  each run's reconstruction after the same training time: the snapshot
                     TRAIN_CONFIGS.snapshot_seconds saved (the smallest time asked for; a run
                     that finished training sooner shows its final result). Runs without
                     snapshots show their final reconstruction, titled with the seconds it
                     took. Images: ground truth and every run with a zoomed crop, one pair of
                     rows per signal (Fig. 3 / Fig. 8). Audio: waveform and mel spectrogram
                     of the target and every run, first signal (Fig. 6). SDF: the ground
                     truth and every run's mesh, first signal (Fig. 7)
    network_size     each column against the parameter count, one line per `tags.strategy`
                     (Fig. 5)
    selection_maps   NINT's selection_maps.png of each run, copied into <stem>_selection_maps/
"""
import os
import shutil

import numpy as np

from utils.reproduce.collect import collect
from utils.reproduce.columns import PRETTY

MAX_COLUMNS = 6   # pictures per row of a reconstruction figure
TITLE_SIZE = 10   # points: a panel's title, readable at 100%
NOT_METRICS = ("step", "train_seconds", "wall_seconds", "batch_size", "loss")
LINE_STYLES = ("-", "--", ":", "-.")


def line_styles(n: int) -> list:
    """n (colour, line style) pairs, each line its own colour and, line to line, another style:
    ten colours (tab10) for up to ten lines, else twenty (tab20's strong shades, then its light
    ones); the styles cycle through LINE_STYLES, shifted by one every time the colours repeat,
    so that no two lines look alike (up to 80)."""
    import matplotlib
    if n <= 10:
        palette = list(matplotlib.colormaps["tab10"].colors)
    else:
        tab20 = list(matplotlib.colormaps["tab20"].colors)
        palette = tab20[0::2] + tab20[1::2]
    return [(palette[i % len(palette)], LINE_STYLES[(i + i // len(palette)) % len(LINE_STYLES)]) for i in range(n)]


def paired_styles(names: list):
    """Styles for a sweep of `<x>_standard` / `<x>_nint` pairs (Table 4: each architecture with
    both): one colour per x, Standard solid and NINT dashed; None when the names are not such pairs."""
    prefixes = []
    for name in names:
        x, _, kind = name.rpartition("_")
        if kind not in ("standard", "nint") or not x:
            return None
        if x not in prefixes:
            prefixes.append(x)
    if len(prefixes) * 2 != len(names):
        return None
    colours = [c for c, _ in line_styles(len(prefixes))]
    return [(colours[prefixes.index(n.rpartition("_")[0])], "-" if n.endswith("_standard") else "--")
            for n in names]


DISTURBED = 3.0  # a stretch between evaluations this many times slower per step than the run's median


def disturbed_step(rows: list):
    """The step after which a run's training clock ran DISTURBED times slower per step than its
    median stretch (the machine was busy), or None. Runs whose cost per step changes by design
    (batch schedulers) can trip it too; the legend says 'clock disturbed?'."""
    rates = []
    for a, b in zip(rows, rows[1:]):
        if None in (a.get("step"), b.get("step"), a.get("train_seconds"), b.get("train_seconds")):
            continue
        if b["step"] > a["step"]:
            rates.append(((b["train_seconds"] - a["train_seconds"]) / (b["step"] - a["step"]), b["step"]))
    if len(rates) < 4:
        return None
    median = sorted(r for r, _ in rates)[len(rates) // 2]
    slow = [step for r, step in rates if median > 0 and r > DISTURBED * median]
    return slow[0] if slow else None


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
    names = [e["name"] for e in entries if any(res.status == "completed" and res.rows for _, res in e["results"])]
    styles = paired_styles(names) or line_styles(len(completed))
    labels = []
    for label, results in completed:  # a note on a run whose clock was disturbed
        steps = [disturbed_step(res.rows) for res in results]
        steps = [s for s in steps if s is not None]
        labels.append(" ".join(label.split()) + (f" (clock disturbed? near step {steps[0]:.0f})" if steps else ""))
    completed = [(shown, results) for shown, (_, results) in zip(labels, completed)]
    for row, metric in enumerate(metrics):
        for (label, results), (colour, style) in zip(completed, styles):
            steps, seconds, values = _mean_curve(results, metric)
            if values:
                axes[row][0].plot(seconds, values, label=label, color=colour, linestyle=style)
                axes[row][1].plot(steps, values, label=label, color=colour, linestyle=style)
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


def _panel(label, run, res, at_seconds, final_name="reconstruction.png"):
    """(title, file path or None) of one run for the figure, or None when the run has no
    result to show. None as the file: the run trained past `at_seconds` but saved no
    snapshot there (the panel says so rather than disappearing). final_name: the task's
    final reconstruction (reconstruction.png / .wav / .ply)."""
    if res.status != "completed":  # failed, stale, interrupted or not run: not comparable
        return None
    summary = res.summary or {}
    final = os.path.join(run.folder, final_name)
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


def _by_signal(entries) -> list:
    """[(signal, [(label, run, result), ...]), ...]: each entry's first result per signal, in the
    sweep's order of signals (one group when the sweep has no signal list)."""
    groups = {}
    for e in entries:
        seen = set()
        for run, res in e["results"]:
            if run.signal in seen:  # a later repeat of the same signal
                continue
            seen.add(run.signal)
            groups.setdefault(run.signal, []).append((e["label"], run, res))
    return list(groups.items())


def _panels(sweep, runs, final_name):
    """(at_seconds, [(run, title, file or None), ...]) of the runs [(label, run, result)]."""
    at_seconds = _snapshot_time(sweep, [run for _, run, _ in runs])
    panels = []
    for label, run, res in runs:
        panel = _panel(label, run, res, at_seconds, final_name)
        if panel:
            panels.append((run, *panel))
    return at_seconds, panels


def _when(at_seconds) -> str:
    return (f"after {at_seconds:g} s of training (step and exact seconds in each title)" if at_seconds is not None
            else "final reconstructions (training seconds in each title)")


def plot_reconstructions(sweep, entries, path: str) -> str:
    """The sweep's task's reconstruction figure (images, audio or SDF meshes)."""
    if sweep.task == "audio":
        return plot_audio_reconstructions(sweep, entries, path)
    if sweep.task == "sdf":
        return plot_mesh_reconstructions(sweep, entries, path)
    return plot_image_reconstructions(sweep, entries, path)


def plot_image_reconstructions(sweep, entries, path: str) -> str:
    """Per signal: ground truth + one column per run, full image above its zoomed crop,
    after the same training time when the runs saved snapshots (else their final result).
    Each title's PSNR is of the saved 8-bit picture, so it can differ from the table's in the
    second decimal."""
    import imageio.v3 as iio
    from utils.tasks.image.metrics import psnr
    groups = []
    for signal, runs in _by_signal(entries):
        at_seconds, panels = _panels(sweep, runs, "reconstruction.png")
        if any(picture for _, _, picture in panels):
            groups.append((signal, at_seconds, panels))
    if not groups:
        return None
    plt = _pyplot()
    # At most MAX_COLUMNS pictures a row (the ground truth first), so that titles stay readable.
    cols = min(MAX_COLUMNS, max(len(panels) for _, _, panels in groups) + 1)
    strips = [-(-(len(panels) + 1) // cols) for _, _, panels in groups]  # rows of pictures per signal
    fig, axes = plt.subplots(2 * sum(strips), cols, figsize=(2.9 * cols, 2.9 * 2 * sum(strips)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    first = 0
    for g, (signal, at_seconds, panels) in enumerate(groups):
        truth = _ground_truth(next(run for run, _, picture in panels if picture).folder)
        r, c, size = _detail_box(truth)

        def show(k, picture, title):
            row, col = first + 2 * (k // cols), k % cols
            top, bottom = axes[row], axes[row + 1]
            top[col].set_title(title, fontsize=TITLE_SIZE)
            if picture is None:
                return
            picture = picture if picture.ndim == 3 and picture.shape[-1] == 3 else np.repeat(
                picture.reshape(picture.shape[0], picture.shape[1], -1)[..., :1], 3, axis=-1)
            top[col].imshow(picture)
            top[col].add_patch(plt.Rectangle((c, r), size, size, fill=False, edgecolor="red", linewidth=1))
            bottom[col].imshow(picture[r:r + size, c:c + size], interpolation="nearest")

        name = os.path.basename(signal) if signal and len(groups) > 1 else None
        show(0, truth, "ground truth" + (f"\n{name}" if name else ""))
        for i, (_, title, picture_path) in enumerate(panels, start=1):
            if picture_path is None:
                show(i, None, title)
                continue
            picture = np.asarray(iio.imread(picture_path)).astype(np.float32) / 255.0
            value = psnr(picture.reshape(truth.shape), truth)
            show(i, picture, f"{title}, {value:.2f} dB")
        first += 2 * strips[g]
    rows = f" (the rows of each of the {len(groups)} signals in turn)" if len(groups) > 1 else ""
    fig.suptitle(f"{sweep.table} ({sweep.preset}): {_when(groups[0][1])}; PSNR of the saved 8-bit pictures; "
                 f"below each: the red crop{rows}", fontsize=TITLE_SIZE + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_audio_reconstructions(sweep, entries, path: str) -> str:
    """First signal: one row per run (the target first), its waveform and its mel spectrogram
    (the paper's Fig. 6), after the same training time when the runs saved snapshots."""
    import soundfile as sf
    from utils.tasks.audio.plots import mel_spectrogram_db
    groups = _by_signal(entries)
    if not groups:
        return None
    at_seconds, panels = _panels(sweep, groups[0][1], "reconstruction.wav")
    panels = [p for p in panels if p[2] is None or os.path.isfile(p[2])]
    target = next((os.path.join(run.folder, "target.wav") for run, _, f in panels
                   if os.path.isfile(os.path.join(run.folder, "target.wav"))), None)
    if target is None or not any(f for _, _, f in panels):
        return None
    truth, rate = sf.read(target, dtype="float32")
    rows = [("target", truth)] + [(title, sf.read(f, dtype="float32")[0] if f else None) for _, title, f in panels]
    specs = [mel_spectrogram_db(w, rate)[0] if w is not None else None for _, w in rows]
    vmax = max(s.max() for s in specs if s is not None)
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 1.6 * len(rows)), squeeze=False, sharex=True)
    limit = 1.05 * max(float(np.abs(truth).max()), 1e-3)
    for (title, wave), spec, (ax_wave, ax_spec) in zip(rows, specs, axes):
        ax_wave.set_ylabel(title, fontsize=7, rotation=0, ha="right", va="center")
        ax_wave.set_yticks([])
        ax_spec.set_yticks([])
        if wave is None:
            ax_wave.text(0.5, 0.5, "no snapshot", transform=ax_wave.transAxes, ha="center")
            continue
        ax_wave.plot(np.arange(len(wave)) / rate, wave, linewidth=0.3)
        ax_wave.set_ylim(-limit, limit)
        ax_spec.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 80.0, vmax=vmax,
                       extent=(0.0, len(wave) / rate, 0.0, spec.shape[0]), interpolation="nearest")
    axes[-1][0].set_xlabel("time (s)")
    axes[-1][1].set_xlabel("time (s)")
    axes[0][0].set_title("waveform", fontsize=8)
    axes[0][1].set_title("mel spectrogram (0-8 kHz, mel scale; dB, 80 dB range)", fontsize=8)
    return _save_titled(plt, fig, f"{sweep.table} ({sweep.preset}): {_when(at_seconds)}", path)


def _save_titled(plt, fig, title: str, path: str) -> str:
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_mesh_reconstructions(sweep, entries, path: str) -> str:
    """First signal: the ground truth and every run's mesh (the paper's Fig. 7), after the same
    training time when the runs saved snapshots. The ground truth is the right half of a run's
    reconstruction.png (the same renderer and view), so the shape is not rendered again."""
    import imageio.v3 as iio
    from utils.tasks.sdf.io import read_ply
    from utils.tasks.sdf.render import render_meshes
    groups = _by_signal(entries)
    if not groups:
        return None
    at_seconds, panels = _panels(sweep, groups[0][1], "reconstruction.ply")
    pictures = []
    for run, title, mesh in panels:
        if mesh is None or not os.path.isfile(mesh):
            pictures.append((title, None))
            continue
        pictures.append((title, render_meshes([("", *read_ply(mesh))], size_inches=3.0)))
    if not any(p is not None for _, p in pictures):
        return None
    truth = next((os.path.join(run.folder, "reconstruction.png") for run, _, _ in panels
                  if os.path.isfile(os.path.join(run.folder, "reconstruction.png"))), None)
    if truth is not None:
        both = np.asarray(iio.imread(truth))[..., :3]
        pictures.insert(0, ("ground truth", both[:, both.shape[1] // 2:]))
    plt = _pyplot()
    cols = min(5, len(pictures))
    rows = -(-len(pictures) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, picture) in zip(axes.flat, pictures):
        ax.set_title(title, fontsize=7)
        if picture is None:
            ax.text(0.5, 0.5, "no mesh", transform=ax.transAxes, ha="center")
        else:
            ax.imshow(picture)
    return _save_titled(plt, fig, f"{sweep.table} ({sweep.preset}): {_when(at_seconds)}", path)


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
    sizes = {params: e["tags"]["size"] for points in lines.values() for params, e in points if "size" in e["tags"]}
    plt = _pyplot()
    cols = sweep.columns
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 4.0), squeeze=False)
    for ax, spec in zip(axes[0], cols):
        for group, points in lines.items():
            points = sorted(points, key=lambda p: p[0])
            xs = [p for p, e in points if e["values"][spec["id"]][0] is not None]
            ys = [e["values"][spec["id"]][0] for p, e in points if e["values"][spec["id"]][0] is not None]
            ax.plot(xs, ys, marker="o", label=group)
        ax.set_xscale("log")
        ax.minorticks_off()
        if sizes:  # each network's name under its parameter count, once (the strategies share it)
            ax.set_xticks(sorted(sizes))
            ax.set_xticklabels([f"{sizes[p]}\n{p / 1000:.0f}k" if p >= 1000 else f"{sizes[p]}\n{p}"
                                for p in sorted(sizes)], fontsize=7, rotation=45)
        ax.set_xlabel("network (parameters)")
        ax.set_ylabel(spec["header"])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{sweep.table} ({sweep.preset}): network size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def collect_selection_maps(sweep, entries, folder: str) -> str:
    """Copy each run's selection_maps.png into `folder`, named after its run folder; a copy of a
    run the sweep no longer has (renamed settings) is removed, so that no stale map stays."""
    copied = set()
    for e in entries:
        for run, res in e["results"]:
            src = os.path.join(run.folder, "selection_maps.png")
            if os.path.isfile(src):
                os.makedirs(folder, exist_ok=True)
                name = os.path.relpath(run.folder, sweep.runs_dir).replace(os.sep, "__") + ".png"
                shutil.copyfile(src, os.path.join(folder, name))
                copied.add(name)
    if copied:
        for name in os.listdir(folder):
            if name.endswith(".png") and name not in copied:
                os.remove(os.path.join(folder, name))
    return folder if copied else None


def write_figures(sweep) -> list:
    """The figures the sweep lists; returns the paths written (figures without data are skipped)."""
    entries = collect(sweep)
    base = os.path.join(sweep.results_dir, sweep.stem)
    out = []
    for name in sweep.figures:
        if name == "curves":
            out.append(plot_curves(sweep, entries, f"{base}_curves.png"))
        elif name == "reconstructions":
            out.append(plot_reconstructions(sweep, entries, f"{base}_reconstructions.png"))
        elif name == "network_size":
            out.append(plot_network_size(sweep, entries, f"{base}_network_size.png"))
        elif name == "selection_maps":
            out.append(collect_selection_maps(sweep, entries, f"{base}_selection_maps"))
    return [p for p in out if p]
