"""SDF metrics (paper supplement Table 7): IoU of occupancy on a grid and Chamfer distances between surfaces.

Units: the normalized shape (unit cube [-0.5, 0.5]^3). Inside = negative SDF.
"""
import numpy as np
from scipy.spatial import cKDTree
from skimage import measure

from utils.tasks.sdf.geometry import UNIT_CUBE


def iou(pred_inside: np.ndarray, true_inside: np.ndarray) -> float:
    """|pred AND true| / |pred OR true| over the grid cells, in [0, 1]; 1 when both are empty."""
    union = np.logical_or(pred_inside, true_inside).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred_inside, true_inside).sum() / union)


def surface_from_grid(sdf_grid: np.ndarray, level: float = 0.0):
    """Marching cubes (scikit-image) of an [R, R, R] grid over the unit cube.

    Returns (vertices [V, 3] in normalized units, faces [F, 3]), or None when the
    grid has no crossing of `level` (e.g. an untrained network that is positive
    everywhere). Faces are oriented with normals pointing outwards (towards
    increasing SDF).
    """
    if not (sdf_grid.min() < level < sdf_grid.max()):
        return None
    resolution = sdf_grid.shape[0]
    spacing = (UNIT_CUBE[1] - UNIT_CUBE[0]) / (resolution - 1)
    # scikit-image's default ('descent') orients faces towards increasing values: outwards for an SDF
    vertices, faces, _, _ = measure.marching_cubes(sdf_grid, level=level, spacing=(spacing,) * 3)
    return vertices + UNIT_CUBE[0], faces.astype(np.int64)


def chamfer_distances(points_a: np.ndarray, points_b: np.ndarray) -> tuple:
    """(chamfer, chamfer_sq) from one nearest-neighbour query each way.

    chamfer: the mean of the two one-sided mean nearest-neighbour distances,
    0.5 * (mean_a min_b |a - b| + mean_b min_a |a - b|) (not squared), so two concentric
    spheres whose radii differ by d are at distance d.
    chamfer_sq: the same mean of the two directions over squared distances,
    0.5 * (mean_a min_b |a - b|^2 + mean_b min_a |a - b|^2): the paper's Table 7 Chamfer
    ("the bidirectional mean squared distance between surface point samples"), with the two
    directions averaged as in `chamfer` (the convention that sums them gives twice this);
    d^2 for the two spheres.
    """
    a_to_b, _ = cKDTree(points_b).query(points_a, k=1, workers=-1)
    b_to_a, _ = cKDTree(points_a).query(points_b, k=1, workers=-1)
    return (float(0.5 * (a_to_b.mean() + b_to_a.mean())),
            float(0.5 * (np.square(a_to_b).mean() + np.square(b_to_a).mean())))


def chamfer_distance(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """`chamfer` of chamfer_distances: the mean nearest-neighbour distance, both directions averaged."""
    return chamfer_distances(points_a, points_b)[0]
