"""3D shape fitting: xyz -> signed distance."""
from utils.tasks.sdf.task import SdfTask

__all__ = ["SdfTask"]
