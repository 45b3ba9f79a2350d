"""3D shape fitting (paper supplement Table 7 and Fig. 7): xyz -> signed distance.

The shape (mesh or oriented point cloud) is normalized into the unit cube
[-0.5, 0.5]^3 (utils/tasks/sdf/io.py; the transform is saved as normalization.json in
the run folder). Every step trains on a fresh set of `num_samples` points:

    positions [0, N - N//2)   coarse: around surface samples + Laplace noise, scale coarse_scale
    positions [N - N//2, N)   fine:   around surface samples + Laplace noise, scale fine_scale

with signed-distance targets [N, 1] (negative inside). Computing exact distances
for 50,000 new points every step would cost ~0.4 s of geometry per step on 2 CPU
cores, so a large pool of such points and their distances is computed
once, cached on disk (keyed by a hash of the mesh file and the settings), and each
step draws its points from the pool with the run's generator: each half of the
batch i.i.d. with replacement from the matching half of the pool. The pool itself
is data, not the run: it is built with a fixed seed (POOL_SEED), so every run on the
same shape and settings shares it; the run's seed decides which pool points each
step sees.

Samplers and a changing candidate set. The base Sampler reuses the *positions*
(indices) of its last selection until the sampling interval asks for a new one.
Here the points at those positions are new each step, so a reused selection is a
fresh random draw that keeps the last selection's mix of coarse and fine points
(position i always holds a point of the same stratum). Scores (errors, NTK norms,
rankings) are only ever computed on the current points, at selection steps. See
`signal` for what samplers may read.

Evaluation (clock paused): the network on a render_resolution^3 grid over the unit
cube; IoU of occupancy (prediction < 0) against ground-truth occupancy (winding
number, or the sign of the fallback distance; cached on disk per shape and
resolution); Chamfer distances (utils/tasks/sdf/metrics.py: `chamfer`, the mean distance,
and `chamfer_sq`, the mean squared distance of the paper's Table 7) between chamfer_samples
points on the marching-cubes surface of the prediction and as many on the ground truth.
"""
import hashlib
import io
import json
import os

import numpy as np
import torch

from utils.errors import UserError
from utils.tasks.sdf.io import file_hash, load_shape, write_ply
from utils.tasks.sdf.geometry import (NormalProjectedDistance, evaluate_on_grid, exact_signed_distance, is_watertight,
                                near_surface_points, pseudonormal_signed_distance, sample_triangles, winding_inside)
from utils.tasks.sdf.metrics import chamfer_distances, iou, surface_from_grid
from utils.tasks.base import Task
from utils.devices import chunk_points, forward_in_chunks

CACHE_VERSION = 2          # bump when the way a cached array is computed changes
POOL_SEED = 0              # the pool of training points is part of the data, fixed for every run
EVAL_SEED = 1              # surface samples for Chamfer: fixed, so evaluations are comparable
GEOMETRY_CHUNK = 100_000   # points per call into the geometry library (bounded memory, progress)
RENDER_MAX_FACES = 300_000  # larger ground-truth meshes are rendered from their occupancy grid
GRID_CHUNK_POINTS = 1 << 16  # points per chunk of the evaluation grid when TRAIN_CONFIGS.forward_chunk is 0


class SdfTask(Task):
    modality = "sdf"
    in_features = 3
    out_features = 1
    metrics = {"iou": True, "chamfer": False, "chamfer_sq": False}
    thresholds = {"iou": (0.9, 0.95, 0.98), "chamfer": (0.01, 0.005)}
    progress_metric = "iou"

    def __init__(self, cfg: dict, device, log=print):
        data, train = cfg["DATASET_CONFIGS"], cfg["TRAIN_CONFIGS"]
        self.path = data["file_path"]
        self.num_samples = int(data["num_samples"])
        self.coarse_scale = float(data["coarse_scale"])
        self.fine_scale = float(data["fine_scale"])
        self.resolution = int(data["render_resolution"])
        self.pool_size = int(data["pool_size"])
        self.chamfer_samples = int(data["chamfer_samples"])
        self.cache_dir = data["cache_dir"]
        existing = os.path.abspath(self.cache_dir)  # the part of the path that exists must be a folder
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise UserError(f"DATASET_CONFIGS.cache_dir={self.cache_dir!r}: {existing} is a file; the cache needs "
                            f"a folder (give another path)")
        self.device = device
        # forward_chunk 0 (one piece) still chunks the grid: render_resolution^3 points at once need not fit
        self.forward_chunk = chunk_points(train["forward_chunk"], torch.device(device).type, "forward") or GRID_CHUNK_POINTS
        self.log = log
        if self.pool_size < self.num_samples:
            raise UserError(f"DATASET_CONFIGS.pool_size={self.pool_size} is smaller than "
                            f"num_samples={self.num_samples}; the pool must hold at least one step's points")

        self.shape = load_shape(self.path)
        self.mesh_hash = file_hash(self.path)
        self.watertight = self.shape.is_mesh and is_watertight(self.shape.faces)
        self.sign_method = self._choose_sign_method(data["sign_method"])
        self._point_cloud_distance = None  # NormalProjectedDistance, built on first use

        pool = self._cached("pool", {"pool_size": self.pool_size, "coarse": self.coarse_scale,
                                     "fine": self.fine_scale}, self._build_pool)
        n_fine = self.pool_size // 2
        self.pool_points = torch.from_numpy(pool["points"]).to(device)
        self.pool_sdf = torch.from_numpy(pool["sdf"]).reshape(-1, 1).to(device)
        self.pool_coarse = self.pool_size - n_fine  # pool rows [0, pool_coarse) are coarse
        self.n_fine = self.num_samples // 2
        self.n_coarse = self.num_samples - self.n_fine

        occ = self._cached("occupancy", {"resolution": self.resolution}, self._build_occupancy)
        self.true_inside = np.unpackbits(occ["packed"], count=self.resolution ** 3).astype(bool).reshape(
            (self.resolution,) * 3)
        self.true_surface_points = self._true_surface_points()
        self._last_surface = None   # (vertices, faces) of the prediction at the last evaluation
        self._best_iou = None       # best IoU whose mesh is saved under run_dir/meshes/

    # -- data -------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return self.num_samples

    def batch(self, step: int, generator: torch.Generator):
        """A fresh draw of num_samples points: coarse half first, then the fine half."""
        coarse = torch.randint(0, self.pool_coarse, (self.n_coarse,), generator=generator, device=generator.device)
        fine = torch.randint(self.pool_coarse, self.pool_size, (self.n_fine,), generator=generator,
                             device=generator.device)
        idx = torch.cat([coarse, fine]).to(self.device)
        # index_select, not pool[idx]: advanced indexing is ~100x slower on a busy multi-core CPU
        return self.pool_points.index_select(0, idx), self.pool_sdf.index_select(0, idx)

    @property
    def signal(self) -> dict:
        """fresh_points: the candidate set changes every step (only positions carry over);
        strata: the position ranges of coarse and fine points, fixed for the run."""
        return {"modality": "sdf", "fresh_points": True,
                "strata": {"coarse": (0, self.n_coarse), "fine": (self.n_coarse, self.num_samples)}}

    def fingerprint_tensors(self) -> list:
        """The normalized shape and the training pool drawn from it (fresh points come from the pool)."""
        faces = self.shape.faces if self.shape.faces is not None else self.shape.normals
        return [torch.from_numpy(self.shape.vertices), torch.from_numpy(faces), self.pool_points, self.pool_sdf]

    def describe(self) -> str:
        s = self.shape
        kind = (f"mesh, {len(s.vertices):,} vertices, {len(s.faces):,} faces, "
                f"{'watertight' if self.watertight else 'open'}") if s.is_mesh else \
            f"point cloud, {len(s.vertices):,} oriented points"
        return (f"{os.path.basename(self.path)} ({kind}; {self.sign_method} SDF) | "
                f"{self.num_samples:,} points/step from a pool of {self.pool_size:,} | eval grid {self.resolution}^3")

    def _choose_sign_method(self, requested: str) -> str:
        if requested == "auto":
            return "exact" if self.watertight else "normal"
        if requested == "exact" and not self.shape.is_mesh:
            raise UserError("DATASET_CONFIGS.sign_method=exact needs a mesh; an oriented point cloud "
                            "uses 'normal' (or 'auto')")
        if requested == "exact" and not self.watertight:
            self.log(f"note: {os.path.basename(self.path)} is not watertight; signs from winding numbers "
                     "may be wrong near its holes ('normal' is the fallback for open meshes)")
        return requested

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distances [M] (float64) of points [M, 3] in normalized units, by sign_method."""
        s = self.shape
        if self.sign_method == "exact":
            return exact_signed_distance(points, s.vertices, s.faces)
        if s.is_mesh:
            return pseudonormal_signed_distance(points, s.vertices, s.faces)
        if self._point_cloud_distance is None:
            self._point_cloud_distance = NormalProjectedDistance(s.vertices, s.normals)
        return self._point_cloud_distance(points)

    def _build_pool(self) -> dict:
        rng = np.random.default_rng(POOL_SEED)
        s = self.shape
        surface = sample_triangles(s.vertices, s.faces, self.pool_size, rng)[0] if s.is_mesh else s.vertices
        points = near_surface_points(surface, self.pool_size, self.coarse_scale, self.fine_scale, rng)
        self.log(f"computing signed distances ({self.sign_method}) for a pool of {self.pool_size:,} points "
                 f"(once per shape and settings; cached under {self.cache_dir})")
        sdf = np.concatenate([self.signed_distance(chunk) for chunk in np.array_split(
            points, max(1, len(points) // GEOMETRY_CHUNK))])
        return {"points": points.astype(np.float32), "sdf": sdf.astype(np.float32)}

    def _build_occupancy(self) -> dict:
        self.log(f"computing ground-truth occupancy on a {self.resolution}^3 grid "
                 f"(once per shape and resolution; cached under {self.cache_dir})")
        if self.sign_method == "exact":
            inside = evaluate_on_grid(lambda p: winding_inside(p, self.shape.vertices, self.shape.faces),
                                      self.resolution, GEOMETRY_CHUNK * 4)
        else:
            inside = evaluate_on_grid(lambda p: self.signed_distance(p) < 0, self.resolution, GEOMETRY_CHUNK)
        return {"packed": np.packbits(inside.reshape(-1))}

    def _true_surface_points(self) -> np.ndarray:
        rng = np.random.default_rng(EVAL_SEED)
        s = self.shape
        if s.is_mesh:
            return sample_triangles(s.vertices, s.faces, self.chamfer_samples, rng)[0]
        if len(s.vertices) > self.chamfer_samples:
            return s.vertices[rng.choice(len(s.vertices), self.chamfer_samples, replace=False)]
        return s.vertices

    # -- on-disk cache -------------------------------------------------------------
    def _cached(self, kind: str, params: dict, build) -> dict:
        """Arrays from cache_dir keyed by (mesh hash, sign method, params), built and saved on a miss."""
        key = {"version": CACHE_VERSION, "mesh_sha256": self.mesh_hash, "sign_method": self.sign_method,
               "kind": kind, **params}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        stem = os.path.splitext(os.path.basename(self.path))[0]
        path = os.path.join(self.cache_dir, f"{stem}_{self.mesh_hash[:12]}_{kind}_{digest}.npz")
        if os.path.isfile(path):
            try:
                with np.load(path) as f:
                    return {k: f[k] for k in f.files}
            except Exception:  # a truncated or foreign file: rebuild it
                self.log(f"note: ignoring unreadable cache file {path}")
        arrays = build()
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            with open(path + ".tmp", "wb") as f:
                f.write(buffer.getvalue())
            os.replace(path + ".tmp", path)
        except OSError as e:
            self.log(f"note: cannot write the cache {path} ({e.strerror}); it will be recomputed next time")
        return arrays

    # -- evaluation -----------------------------------------------------------------
    def predicted_grid(self, model) -> np.ndarray:
        """The network's SDF on the render_resolution^3 grid, float32 [R, R, R] indexed (x, y, z)."""
        def forward(points):
            coords = torch.from_numpy(points.astype(np.float32)).to(self.device)
            return forward_in_chunks(model, coords, self.forward_chunk)[:, 0].cpu().numpy()
        return evaluate_on_grid(forward, self.resolution)

    def evaluate(self, model) -> dict:
        grid = self.predicted_grid(model)
        result = {"iou": iou(grid < 0, self.true_inside), "chamfer": None, "chamfer_sq": None}
        self._last_surface = surface_from_grid(grid)
        if self._last_surface is not None:
            vertices, faces = self._last_surface
            try:
                points = sample_triangles(vertices, faces, self.chamfer_samples, np.random.default_rng(EVAL_SEED))[0]
                result["chamfer"], result["chamfer_sq"] = chamfer_distances(points, self.true_surface_points)
            except ValueError:  # every triangle degenerate (zero area): no surface to sample
                pass
        return result

    def after_evaluation(self, step: int, metrics: dict, run_dir: str):
        """Save the transform once and the reconstructed mesh whenever IoU improves."""
        self._write_normalization(run_dir)
        mesh_dir = os.path.join(run_dir, "meshes")
        record = os.path.join(mesh_dir, "best.json")
        if self._best_iou is None:  # a fresh task, or a resumed run: the saved record knows the best so far
            self._best_iou = -1.0
            if os.path.isfile(record):
                with open(record) as f:
                    self._best_iou = float(json.load(f)["iou"])
        if self._last_surface is None or metrics["iou"] <= self._best_iou:
            return
        os.makedirs(mesh_dir, exist_ok=True)
        name = f"step_{step:06d}.ply"
        write_ply(os.path.join(mesh_dir, name), *self._last_surface)
        self._best_iou = metrics["iou"]
        with open(record, "w") as f:
            json.dump({"iou": metrics["iou"], "step": step, "mesh": name}, f)

    def _write_normalization(self, run_dir):
        path = os.path.join(run_dir, "normalization.json")
        if not os.path.isfile(path):
            with open(path, "w") as f:
                json.dump(dict(self.shape.transform(), file=self.path, mesh_sha256=self.mesh_hash,
                               sign_method=self.sign_method, watertight=bool(self.watertight)), f, indent=2)

    def save_outputs(self, model, run_dir):
        """reconstruction.ply (final network, normalized units) and reconstruction.png beside the truth."""
        from utils.tasks.sdf.render import render_meshes
        if self._last_surface is None:
            self._last_surface = surface_from_grid(self.predicted_grid(model))
        self._write_normalization(run_dir)
        if self._last_surface is not None:
            write_ply(os.path.join(run_dir, "reconstruction.ply"), *self._last_surface)
        render_meshes([self._render_entry("prediction"), self._truth_entry()],
                      os.path.join(run_dir, "reconstruction.png"))

    def save_snapshot(self, model, run_dir, seconds):
        """reconstruction_at_<T>s.ply: the mesh after `seconds` of training (Fig. 7 compares at equal
        time); None when the network has no surface yet."""
        surface = surface_from_grid(self.predicted_grid(model))
        if surface is None:
            return None
        name = f"reconstruction_at_{seconds:g}s.ply"
        write_ply(os.path.join(run_dir, name), *surface)
        return name

    def _render_entry(self, title):
        if self._last_surface is None:
            return (title, None, None)
        return (title, *self._last_surface)

    def _truth_entry(self):
        s = self.shape
        if s.is_mesh and len(s.faces) <= RENDER_MAX_FACES:
            return ("ground truth", s.vertices, s.faces)
        surface = surface_from_grid(self.true_inside.astype(np.float32) * -1.0 + 0.5)
        return ("ground truth", *(surface if surface is not None else (None, None)))

    def wandb_media(self, model, first):
        from utils.tasks.sdf.render import render_meshes
        media = {"reconstruction": render_meshes([self._render_entry("prediction")])}
        if first:
            media["ground_truth"] = render_meshes([self._truth_entry()])
        return media
