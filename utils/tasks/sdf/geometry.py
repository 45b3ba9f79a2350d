"""Signed distances, occupancy and point sampling for a normalized Shape (utils/tasks/sdf/io.py).

Sign convention: negative inside, positive outside; units of the normalized shape
(the unit cube [-0.5, 0.5]^3).

Two ways to get a signed distance (DATASET_CONFIGS.sign_method):
- exact (default for watertight meshes): the distance is the Euclidean norm to the
  closest point on the triangles (libigl's AABB tree), the sign comes from libigl's
  fast winding number (inside where |w| > 0.5; the absolute value makes a mesh whose
  faces all point inwards work too).
- normal (the fallback for open meshes, and the only choice for point clouds): the
  offset to the nearest surface point projected on the normal there, as the INT
  release does.
  * mesh: the nearest point on the triangles (exact, AABB tree); the sign is that of
    the offset along libigl's angle-weighted pseudonormal of the nearest face, edge or
    vertex, the magnitude the exact distance (inside a face the offset is parallel to
    the normal, so projecting changes nothing). Points that see the inside through a
    hole get a wrong sign: that is the price of an open surface.
  * point cloud: the nearest of the given points, the offset projected on the average
    normal of the K = 3 nearest points (a scipy KD-tree). Accurate close to the
    surface, approximate far from it. KD-tree queries far from a surface-shaped point
    set are slow (~0.1 ms each for 250k points on 2 cores): a one-time cost, cached.
"""
import numpy as np
from scipy.spatial import cKDTree

UNIT_CUBE = (-0.5, 0.5)
NORMAL_NEIGHBOURS = 3


def is_watertight(faces: np.ndarray) -> bool:
    """Closed and consistently oriented: every directed edge occurs once, and so does its reverse."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1
    keys = edges[:, 0] * n + edges[:, 1]
    unique_keys, counts = np.unique(keys, return_counts=True)
    if np.any(counts != 1):
        return False
    reverse = edges[:, 1] * n + edges[:, 0]
    return bool(np.all(np.isin(reverse, unique_keys, assume_unique=False)))


def face_normals_and_areas(vertices: np.ndarray, faces: np.ndarray):
    """Unit normals [F, 3] (right-hand rule) and areas [F] of the triangles."""
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(double_area, 1e-300)[:, None]
    return normals, 0.5 * double_area


def sample_triangles(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator):
    """n points uniformly distributed on the surface (area-weighted), with their face normals."""
    normals, areas = face_normals_and_areas(vertices, faces)
    face = rng.choice(len(faces), size=n, p=areas / areas.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1.0  # fold the unit square onto the triangle
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    tri = vertices[faces[face]]
    points = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    return points, normals[face]


def near_surface_points(surface_points: np.ndarray, n: int, coarse_scale: float, fine_scale: float,
                        rng: np.random.Generator) -> np.ndarray:
    """n points around random surface samples: the first n - n//2 with Laplace noise of scale
    coarse_scale per axis, the last n//2 with fine_scale. Points that leave the unit cube
    wrap around to the opposite side, so the cube stays covered without piling points on
    its faces."""
    n_fine = n // 2
    n_coarse = n - n_fine
    centres = surface_points[rng.integers(0, len(surface_points), size=n)]
    noise = np.concatenate([rng.laplace(scale=coarse_scale, size=(n_coarse, 3)),
                            rng.laplace(scale=fine_scale, size=(n_fine, 3))])
    return wrap_into_cube(centres + noise)


def wrap_into_cube(points: np.ndarray) -> np.ndarray:
    lo, hi = UNIT_CUBE
    return (points - lo) % (hi - lo) + lo


def exact_signed_distance(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Distance to the closest point on the triangles, negative where |winding number| > 0.5."""
    import igl
    points = np.ascontiguousarray(points, dtype=np.float64)
    _, _, closest, _ = igl.signed_distance(points, vertices, faces,
                                           sign_type=igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
    distance = np.linalg.norm(points - closest, axis=1)
    return np.where(winding_inside(points, vertices, faces), -distance, distance)


def pseudonormal_signed_distance(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Distance to the closest point on the triangles, signed by the pseudonormal there (open meshes)."""
    import igl
    points = np.ascontiguousarray(points, dtype=np.float64)
    signed, _, closest, _ = igl.signed_distance(points, vertices, faces,
                                                sign_type=igl.SIGNED_DISTANCE_TYPE_PSEUDONORMAL)
    return np.where(signed < 0, -1.0, 1.0) * np.linalg.norm(points - closest, axis=1)


def winding_inside(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Boolean inside/outside from libigl's fast winding number (robust to small holes)."""
    import igl
    winding = igl.fast_winding_number(vertices, faces, np.ascontiguousarray(points, dtype=np.float64))
    return np.abs(winding) > 0.5


class NormalProjectedDistance:
    """The point-cloud signed distance: (p - nearest point) . (mean normal of the K nearest)."""

    def __init__(self, surface_points: np.ndarray, surface_normals: np.ndarray, k: int = NORMAL_NEIGHBOURS):
        self.points = surface_points
        self.normals = surface_normals
        self.k = min(k, len(surface_points))
        self.tree = cKDTree(surface_points)

    def __call__(self, query: np.ndarray) -> np.ndarray:
        _, idx = self.tree.query(query, k=self.k, workers=-1)
        idx = idx.reshape(len(query), self.k)
        normal = self.normals[idx].mean(axis=1)
        normal /= np.maximum(np.linalg.norm(normal, axis=1), 1e-300)[:, None]
        return np.einsum("ij,ij->i", query - self.points[idx[:, 0]], normal)


def grid_axis(resolution: int) -> np.ndarray:
    """The coordinates along one axis of the evaluation grid: linspace(-0.5, 0.5, resolution)."""
    return np.linspace(UNIT_CUBE[0], UNIT_CUBE[1], resolution)


def grid_slab(resolution: int, first: int, last: int) -> np.ndarray:
    """Grid points [(last-first)*R*R, 3] of the x-slices first..last-1, indexed (x, y, z)."""
    axis = grid_axis(resolution)
    x, y, z = np.meshgrid(axis[first:last], axis, axis, indexing="ij")
    return np.stack([x, y, z], axis=-1).reshape(-1, 3)


def evaluate_on_grid(fn, resolution: int, max_points: int = 1 << 20) -> np.ndarray:
    """fn(points [M, 3]) -> values [M], on the whole R^3 grid, slab by slab; returns [R, R, R]."""
    per_slice = resolution * resolution
    step = max(1, max_points // per_slice)
    slabs = [np.asarray(fn(grid_slab(resolution, i, min(i + step, resolution)))).reshape(-1, resolution, resolution)
             for i in range(0, resolution, step)]
    return np.concatenate(slabs, axis=0)
