"""Image structure that the edge-aware samplers read from the target image (SPEC.md 5).

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
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from skimage import feature, filters

# ITU-R BT.601 luma, the weights of OpenCV's RGB2GRAY that the releases used.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
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
    """Dilation by a 2x2 square (a pixel is set when it or its upper/left/upper-left neighbour is)."""
    return ndi.binary_dilation(mask, structure=np.ones((2, 2), dtype=bool))


def sobel_magnitude(gray: np.ndarray) -> np.ndarray:
    """Sobel edge magnitude [H, W] of a [0, 1] grayscale image (scikit-image's filters.sobel)."""
    return filters.sobel(gray)


def laplacian_255(values: torch.Tensor, shape, value_range=(0.0, 1.0)) -> torch.Tensor:
    """Laplacian [H, W] of the grayscale image held by `values` [H*W, C], in 0-255 units.

    values are in the task's value range (lo, hi) and are mapped to 0-255 first; the
    result is differentiable in `values`. Zero padding at the border.
    """
    lo, hi = (float(v) for v in value_range)
    h, w = shape
    pixels = (values - lo) * (255.0 / (hi - lo))
    if pixels.shape[1] >= 3:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=pixels.dtype, device=pixels.device)
        gray = pixels[:, :3] @ weights
    else:
        gray = pixels[:, 0]
    kernel = torch.tensor(LAPLACIAN_KERNEL, dtype=pixels.dtype, device=pixels.device).view(1, 1, 3, 3)
    return F.conv2d(gray.view(1, 1, h, w), kernel, padding=1).view(h, w)
