"""Figures of which pixels each NINT stream chose (the paper's Fig. 1)."""
import os

import numpy as np

STREAM_COLOURS = {"ntk": (1.0, 0.1, 0.1), "error": (0.15, 0.35, 1.0), "random": (0.6, 0.6, 0.6)}


def tint(image: np.ndarray, streams: dict, strength: float = 0.75) -> np.ndarray:
    """The target [H, W, C] in [0, 1], darkened, with each stream's pixels tinted in its colour."""
    h, w = image.shape[:2]
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    out = (0.35 * rgb).reshape(-1, 3).copy()
    flat = rgb.reshape(-1, 3)
    for name, idx in streams.items():
        colour = np.array(STREAM_COLOURS[name])
        out[idx] = (1 - strength) * flat[idx] + strength * colour
    return out.reshape(h, w, 3)


def save_selection_maps(image: np.ndarray, recorded: dict, run_dir: str):
    """One panel per recorded step; writes selection_maps.png (and one PNG per step)."""
    import imageio.v3 as iio
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(recorded)
    fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps), 3.6), squeeze=False)
    for ax, step in zip(axes[0], steps):
        picture = tint(image, recorded[step])
        iio.imwrite(os.path.join(run_dir, f"selection_step{step:06d}.png"), (picture * 255 + 0.5).astype(np.uint8))
        counts = ", ".join(f"{k} {len(v)}" for k, v in recorded[step].items())
        ax.imshow(picture)
        ax.set_title(f"step {step}\n{counts}", fontsize=8)
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.suptitle("NINT streams: NTK red, error blue, random grey", fontsize=9)
    fig.savefig(os.path.join(run_dir, "selection_maps.png"), dpi=120)
    plt.close(fig)
