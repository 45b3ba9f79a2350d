"""Image metrics: PSNR and SSIM (LPIPS: lpips.py). Images are float arrays [H, W, C] with values in [0, 1]."""
import numpy as np
from skimage.metrics import structural_similarity

SSIM_MIN_SIDE = 7  # scikit-image's default 7x7 window must fit inside the image


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, data range 1, prediction clamped to [0, 1]."""
    mse = float(np.mean((np.clip(prediction, 0.0, 1.0) - target) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity in [-1, 1] (1 = identical): scikit-image, data range 1, channels last.

    Returns None for images under SSIM_MIN_SIDE pixels on a side (SSIM's window does not fit).
    """
    if min(target.shape[:2]) < SSIM_MIN_SIDE:
        return None
    prediction = np.clip(prediction, 0.0, 1.0)
    if target.shape[-1] == 1:
        return float(structural_similarity(prediction[..., 0], target[..., 0], data_range=1.0))
    return float(structural_similarity(prediction, target, channel_axis=-1, data_range=1.0))
