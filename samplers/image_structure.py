"""Image structure that the edge-aware samplers read from the target image (docs/methods.md, comparison samplers).

Every function takes the task's target image (Task.signal['image'], float [H, W, C]
in [0, 1]); nothing here reads files. The comparison methods' releases run OpenCV on
8-bit images, so their thresholds are in 0-255 units; scikit-image works on the
float image, so thresholds are divided by 255 here. scikit-image's Canny uses the
same unnormalised 3x3 Sobel kernel as OpenCV (a unit step gives magnitude 4), so
after that division the gradient units agree. Two differences remain: OpenCV's
Canny does not smooth first (hence `sigma=0` by default below) and uses the L1
gradient norm where scikit-image uses L2, so scikit-image finds slightly fewer edges
at equal thresholds.
"""
import numpy as np
import torch
import torch.nn.functional as F
from skimage import feature, filters

# ITU-R BT.601 luma, the weights of OpenCV's RGB2GRAY that the releases used.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# The luma weights written out in the Soft Mining releases' Sobel map (four digits).
SOFT_MINING_LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)
# 3x3 Sobel kernels, applied as a correlation: d/dcol (left to right) and d/drow (top to bottom).
SOBEL_COL = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
SOBEL_ROW = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
# The 4-neighbour Laplacian of EVOS's cross-frequency supervision.
LAPLACIAN_KERNEL = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def grayscale(image: np.ndarray) -> np.ndarray:
    """[H, W, C] in [0, 1] -> [H, W] in [0, 1] (BT.601 luma for RGB, the channel itself for gray)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ np.asarray(LUMA_WEIGHTS)


def canny_edges(gray: np.ndarray, low_255: float, high_255: float, sigma: float = 0.0) -> np.ndarray:
    """Boolean Canny edge map of a [0, 1] grayscale image, thresholds in 0-255 units.

    Like OpenCV, a low threshold above the high one is swapped rather than refused.
    sigma: Gaussian pre-smoothing in pixels (0 = none, as OpenCV's Canny).
    """
    low, high = sorted((float(low_255) / 255.0, float(high_255) / 255.0))
    return feature.canny(gray, sigma=sigma, low_threshold=low, high_threshold=high)


def otsu_255(gray: np.ndarray) -> float:
    """Otsu's threshold of a [0, 1] grayscale image, in 0-255 units."""
    if gray.max() <= gray.min():  # a flat image has no Otsu split
        return float(gray.max()) * 255.0
    return float(filters.threshold_otsu(gray)) * 255.0


def dilate_2x2(mask: np.ndarray) -> np.ndarray:
    """Dilation by a 2x2 square anchored as OpenCV's (a pixel is set when it or its upper,
    left or upper-left neighbour is): a single pixel (r, c) grows to (r..r+1, c..c+1).

    (scipy's binary_dilation with a 2x2 structure grows toward the upper left instead,
    one pixel off from the releases' cv.dilate.)
    """
    mask = np.asarray(mask, dtype=bool)
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:, 1:] |= mask[:, :-1]
    out[1:, 1:] |= mask[:-1, :-1]
    return out


def soft_mining_sobel_map(image: np.ndarray, normalise: str = "column") -> np.ndarray:
    """The Soft Mining releases' edge map [H, W] from which re-drawn points are sampled.

    image: [H, W, C] in [0, 1]. Grayscale with weights 0.2989 / 0.5870 / 0.1140 (a single
    channel is used as it is); the 3x3 Sobel kernels as a correlation over the image padded
    with zeros (so the border sees a step down to 0); magnitude sqrt(gx^2 + gy^2); divided
    by a maximum (+ 1e-7) and clipped to [1e-5, 1].

    normalise: "column" divides every column by its own maximum over the rows, which is
    what the released code computes (its max is taken over the channel axis and then the
    row axis only); "image" divides by the single maximum of the whole map.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] >= 3:
        gray = image[..., :3] @ np.asarray(SOFT_MINING_LUMA_WEIGHTS)
    else:
        gray = image.reshape(image.shape[0], image.shape[1])
    h, w = gray.shape
    padded = np.pad(gray, 1, mode="constant", constant_values=0.0)
    gx = np.zeros((h, w))
    gy = np.zeros((h, w))
    for i in range(3):
        for j in range(3):
            window = padded[i:i + h, j:j + w]
            gx += SOBEL_COL[i][j] * window
            gy += SOBEL_ROW[i][j] * window
    magnitude = np.sqrt(gx ** 2 + gy ** 2)
    if normalise == "column":
        peak = magnitude.max(axis=0, keepdims=True)
    elif normalise == "image":
        peak = magnitude.max()
    else:
        raise ValueError(f"unknown Sobel normalisation {normalise!r}; valid: column, image")
    return np.clip(magnitude / (peak + 1e-7), 1e-5, 1.0)


_KERNELS = {}  # (dtype, device) -> (luma weights [3], Laplacian kernel [1, 1, 3, 3]), made once per device


def _laplacian_kernels(dtype, device):
    """The luma weights and the Laplacian kernel as tensors on `device`, made at the first call
    only: torch.tensor from Python values at every step would copy them from the host."""
    key = (dtype, str(device))
    if key not in _KERNELS:
        _KERNELS[key] = (torch.tensor(LUMA_WEIGHTS, dtype=dtype, device=device),
                         torch.tensor(LAPLACIAN_KERNEL, dtype=dtype, device=device).view(1, 1, 3, 3))
    return _KERNELS[key]


def laplacian_255(values: torch.Tensor, shape, value_range=(0.0, 1.0)) -> torch.Tensor:
    """Laplacian [H, W] of the grayscale image held by `values` [H*W, C], in 0-255 units.

    values are in the task's value range (lo, hi) and are mapped to 0-255 first; the
    result is differentiable in `values`. Zero padding at the border.
    """
    lo, hi = (float(v) for v in value_range)
    h, w = shape
    pixels = (values - lo) * (255.0 / (hi - lo))
    weights, kernel = _laplacian_kernels(pixels.dtype, pixels.device)
    gray = pixels[:, :3] @ weights if pixels.shape[1] >= 3 else pixels[:, 0]
    return F.conv2d(gray.view(1, 1, h, w), kernel, padding=1).view(h, w)
