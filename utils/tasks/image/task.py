"""Image fitting (the paper's main task): pixel grid coordinates in [-1, 1]^2 -> colour values.

Coordinates: linspace(-1, 1, H) x linspace(-1, 1, W) indexed (row, col), flattened
row-major, so point i = r * W + c. Targets: [N, C] with values in the configured
range ([0, 1] by default). Metrics are computed on [0, 1] images.
"""
import os

import imageio.v3 as iio
import numpy as np
import torch

from utils.errors import UserError
from utils.tasks.image.io import load_image
from utils.tasks.image.lpips import LPIPS_MIN_SIDE, load_lpips, lpips_distance
from utils.tasks.image.metrics import SSIM_MIN_SIDE, psnr, ssim
from utils.tasks.base import Task
from utils.devices import chunk_points, forward_in_chunks


def snapshot_name(seconds: float) -> str:
    """File name of the reconstruction saved after `seconds` of training: reconstruction_at_5s.png."""
    return f"reconstruction_at_{seconds:g}s.png"


LARGE_IMAGE_POINTS = 1024 * 1024  # above this many pixels a run says what its size costs
PAPER_POINTS = 512 * 512           # the paper's images


def large_image_note(name: str, height: int, width: int, channels: int) -> str:
    """What a large image costs: its points, the memory of its coordinates and targets (float32,
    training and evaluation copies), and how much more a full pass costs than at the paper's size."""
    n = height * width
    megabytes = 2 * n * (2 + channels) * 4 / 2**20
    return (f"note: {name} is {height}x{width} = {n / 1e6:.1f}M points: coordinates and targets take about "
            f"{megabytes:,.0f} MB, and every evaluation (and each full pass of the samplers that score every "
            f"point) runs the model over all of them, {n / PAPER_POINTS:.0f}x the work at the paper's 512x512; "
            f"DATASET_CONFIGS.img_size (e.g. 512) trains on a resized copy")


def image_grid(height: int, width: int) -> torch.Tensor:
    """[H*W, 2] coordinates (row, col) in [-1, 1], row-major."""
    rows = torch.linspace(-1.0, 1.0, height)
    cols = torch.linspace(-1.0, 1.0, width)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2)


class ImageTask(Task):
    modality = "image"
    in_features = 2
    metrics = {"psnr": True, "ssim": True, "lpips": False}
    thresholds = {"psnr": (20, 25, 30, 35), "ssim": (0.8, 0.9), "lpips": (0.2, 0.1)}  # psnr 20: Table 9
    progress_metric = "psnr"

    def __init__(self, cfg: dict, device, notify=print):
        data, train = cfg["DATASET_CONFIGS"], cfg["TRAIN_CONFIGS"]
        self.path = data["file_path"]
        self.image = load_image(self.path, data["img_size"], notify=notify)
        self.height, self.width, self.out_features = self.image.shape
        lo, hi = (float(v) for v in data["value_range"])
        self.value_lo, self.value_hi = lo, hi
        self.device = device
        self.forward_chunk = chunk_points(train["forward_chunk"], torch.device(device).type, "forward")
        self.coords = image_grid(self.height, self.width).to(device)
        values = torch.from_numpy(self.image.reshape(-1, self.out_features))
        self.targets = (values * (hi - lo) + lo).to(device)
        if self.height * self.width > LARGE_IMAGE_POINTS:
            notify(large_image_note(os.path.basename(self.path), self.height, self.width, self.out_features))

        # Evaluation grid: the training grid, or (super-resolution) another size or file.
        if data["eval_file_path"] or data["eval_size"]:
            eval_path = data["eval_file_path"] or self.path
            self.eval_image = load_image(eval_path, data["eval_size"], notify=lambda *_: None)
            if self.eval_image.shape[-1] != self.out_features:
                raise UserError(f"{eval_path}: {self.eval_image.shape[-1]} channels, the training image has "
                                f"{self.out_features}")
        else:
            self.eval_image = self.image
        self.eval_coords = image_grid(*self.eval_image.shape[:2]).to(device)

        # Metrics that cannot be computed are recorded as null, and the run says why, once.
        h, w = self.eval_image.shape[:2]
        if min(h, w) < SSIM_MIN_SIDE:
            notify(f"SSIM unavailable, recorded as null: the evaluation image is {h}x{w}; SSIM's "
                   f"{SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} window needs at least {SSIM_MIN_SIDE} pixels on a side")
        self.lpips_model, self.lpips_reason = None, "disabled (TRAIN_CONFIGS.lpips=0)"
        if train["lpips"] and min(h, w) < LPIPS_MIN_SIDE:
            self.lpips_reason = (f"the evaluation image is {h}x{w}; LPIPS's AlexNet needs at least "
                                 f"{LPIPS_MIN_SIDE} pixels on a side")
            notify(f"LPIPS unavailable, recorded as null: {self.lpips_reason}")
        elif train["lpips"]:
            self.lpips_model, self.lpips_reason = load_lpips(train["lpips_backbone"], device)
            if self.lpips_model is None:
                notify(f"LPIPS unavailable, recorded as null: {self.lpips_reason}")

    def fingerprint_tensors(self):
        """The training image and the evaluation image (super-resolution: another file or size)."""
        return [self.targets, torch.from_numpy(self.eval_image)]

    def describe(self):
        return f"{os.path.basename(self.path)} {self.height}x{self.width}x{self.out_features}"

    @property
    def signal(self):
        return {"modality": "image", "shape": (self.height, self.width), "image": self.image,
                "value_range": (self.value_lo, self.value_hi)}

    def to_unit(self, values: torch.Tensor) -> torch.Tensor:
        """Model outputs in the configured value range -> [0, 1]."""
        return (values - self.value_lo) / (self.value_hi - self.value_lo)

    def reconstruct(self, model, coords=None, shape=None) -> np.ndarray:
        """The model's image [H, W, C] in [0, 1] (clamped) on the evaluation grid."""
        coords = self.eval_coords if coords is None else coords
        h, w = shape or self.eval_image.shape[:2]
        out = self.to_unit(forward_in_chunks(model, coords, self.forward_chunk)).clamp(0, 1)
        return out.reshape(h, w, self.out_features).cpu().numpy()

    def evaluate(self, model) -> dict:
        recon = self.reconstruct(model)
        result = {"psnr": psnr(recon, self.eval_image), "ssim": ssim(recon, self.eval_image), "lpips": None}
        if self.lpips_model is not None:
            result["lpips"] = lpips_distance(self.lpips_model, recon, self.eval_image)
        return result

    def _write_reconstruction(self, model, path):
        img = (self.reconstruct(model) * 255.0 + 0.5).astype(np.uint8)
        iio.imwrite(path, img[..., 0] if img.shape[-1] == 1 else img)

    def save_outputs(self, model, run_dir):
        self._write_reconstruction(model, os.path.join(run_dir, "reconstruction.png"))

    def save_snapshot(self, model, run_dir, seconds):
        name = snapshot_name(seconds)
        self._write_reconstruction(model, os.path.join(run_dir, name))
        return name

    def wandb_media(self, model, first):
        media = {"reconstruction": self.reconstruct(model)}
        if first:
            media["ground_truth"] = self.eval_image
        return media
