"""Reading an image file as float32 [H, W, C] in [0, 1] (imageio; pypng for 16-bit PNGs)."""
import os
import warnings

import imageio.v3 as iio
import numpy as np
from skimage.transform import resize

from utils.errors import UserError, require_file


def _cmyk_as_rgb(path: str):
    """A CMYK file (print JPEG/TIFF) as uint8 RGB; None for any other file. Its 4 channels are
    not RGBA, so they must be converted, not cut to 3."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")) if im.mode == "CMYK" else None
    except Exception:
        return None  # not a format Pillow reads: imageio decides


def _png16(path: str):
    """A 16-bit PNG as uint16 [H, W, planes] (pypng); None for any other file. Pillow, which
    imageio uses for PNG, reduces 16-bit colour PNGs to 8 bit."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or head[24] != 16:
        return None
    import png
    # read(), not asDirect(): asDirect() shifts samples down to an sBIT chunk's depth, which
    # the division by 65535 below would then make far too dark.
    width, height, rows, info = png.Reader(filename=path).read()
    return np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(height, width, info["planes"])


def load_image(path: str, size=None, notify=print) -> np.ndarray:
    """Read an image as float32 [H, W, C] in [0, 1], C = 1 or 3.

    Accepts PNG/JPEG/TIFF/..., grayscale, RGB, RGBA (alpha dropped) or CMYK (converted),
    8 or 16 bit, or float. `size`: None, an int (square) or (H, W) to resize to (anti-aliased).
    """
    require_file(path, "image")
    if os.path.getsize(path) == 0:
        raise UserError(f"cannot read image {path}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = _cmyk_as_rgb(path)
            if img is not None:
                notify(f"note: {os.path.basename(path)} is CMYK; converted to RGB")
            else:
                img = _png16(path)
            if img is None:
                img = np.asarray(iio.imread(path))
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        if "Could not find a backend" in first:  # imageio's words for "no reader knows this file"
            raise UserError(f"cannot read image {path}: not a format any installed reader knows "
                            f"(PNG, JPEG, TIFF, BMP, ...), or not an image at all") from None
        raise UserError(f"cannot read image {path}: {type(e).__name__}: {first}") from None
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise UserError(f"{path}: expected a single 2D image, got an array of shape {img.shape}")
    channels = img.shape[-1]
    if channels in (2, 4):
        notify(f"note: {os.path.basename(path)} has an alpha channel; it is dropped")
        img = img[..., : channels - 1]
    elif channels not in (1, 3):
        raise UserError(f"{path}: {channels} channels; expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)")
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        img = img.astype(np.float32)
        if not np.all(np.isfinite(img)):
            bad = int(np.sum(~np.isfinite(img)))
            raise UserError(f"{path}: {bad} pixel value(s) are NaN or inf; a target must be finite")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 1.0:
            # Never clipped in silence (a float TIFF in [0, 255] would become all white)
            raise UserError(f"{path}: float pixel values span [{lo:g}, {hi:g}], outside [0, 1]; scale the "
                            f"image to [0, 1] first (e.g. divide by its maximum) or save it as 8/16-bit")
    elif img.dtype == bool:
        img = img.astype(np.float32)
    else:
        raise UserError(f"{path}: unsupported pixel type {img.dtype}")
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        if (h, w) != img.shape[:2]:
            factor = max(h / img.shape[0], w / img.shape[1])
            if factor > 1:
                notify(f"note: {os.path.basename(path)} is {img.shape[0]}x{img.shape[1]}; upscaled {factor:.3g}x to "
                       f"{h}x{w} (bilinear), so the target holds no detail finer than the file's "
                       f"(DATASET_CONFIGS.img_size)")
            # bilinear, with Gaussian anti-aliasing when shrinking
            img = resize(img, (h, w), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    if min(img.shape[:2]) < 2:
        raise UserError(f"{path}: image of size {img.shape[0]}x{img.shape[1]} is too small")
    return img
