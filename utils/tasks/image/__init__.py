"""Image fitting: pixel coordinates in [-1, 1]^2 -> colour values."""
from utils.tasks.image.io import load_image
from utils.tasks.image.task import ImageTask, image_grid

__all__ = ["ImageTask", "image_grid", "load_image"]
