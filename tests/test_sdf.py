"""3D shape fitting (train_sdf.py) on an analytic sphere, whose signed distance is |p - c| - r.

The sphere is a subdivided icosahedron written as OBJ (or as an oriented .xyz point
cloud); its polygonal error (< 5e-4 in normalized units at 4 subdivisions) bounds the
tolerances below. Tiny sizes throughout: 32^3-48^3 grids, 2x32 networks, <= 40 steps.
"""
import csv
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from samplers import build_sampler
from samplers.base import SelectionContext
from utils.engine.cli import main
from utils.engine.config import load_config
from utils.errors import UserError
from utils.tasks.sdf.geometry import near_surface_points, sample_triangles
from utils.tasks.sdf.metrics import chamfer_distance, chamfer_distances, iou, surface_from_grid
from utils.tasks.sdf import SdfTask
from utils.engine.trainer import Interrupted, train

CPU = torch.device("cpu")


# -- an analytic shape ---------------------------------------------------------------
def icosphere(subdivisions=3):
    """Unit sphere: vertices [V, 3] and outward-oriented triangles [F, 3]."""
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
         (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
         (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    vertices = [np.array(p, float) / np.linalg.norm(p) for p in v]
    for _ in range(subdivisions):
        cache, faces = {}, []

        def midpoint(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = vertices[a] + vertices[b]
                vertices.append(m / np.linalg.norm(m))
                cache[key] = len(vertices) - 1
            return cache[key]
        for a, b, c in f:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = faces
    return np.array(vertices), np.array(f)


def write_obj(path, vertices, faces):
    with open(path, "w") as fh:
        fh.writelines(f"v {x:.9f} {y:.9f} {z:.9f}\n" for x, y, z in vertices)
        fh.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
    return str(path)


@pytest.fixture(scope="module")
def sphere_obj(tmp_path_factory):
    return write_obj(tmp_path_factory.mktemp("shape") / "sphere.obj", *icosphere(4))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def sdf_overrides(path, cache, **extra):
    values = {"DATASET_CONFIGS.file_path": path, "DATASET_CONFIGS.cache_dir": cache,
              "DATASET_CONFIGS.num_samples": 2000, "DATASET_CONFIGS.pool_size": 20000,
              "DATASET_CONFIGS.render_resolution": 32, "DATASET_CONFIGS.chamfer_samples": 5000,
              "EXP_CONFIGS.strategy_type": "uniform", "model_config.hidden_layers": 2,
              "model_config.hidden_features": 32, "TRAIN_CONFIGS.iterations": 30,
              "TRAIN_CONFIGS.eval_interval": 10, "TRAIN_CONFIGS.progress": 0, "TRAIN_CONFIGS.device": "cpu"}
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def make_task(path, cache, log=lambda *_: None, **extra):
    cfg = load_config("sdf", None, sdf_overrides(path, cache, **extra))
    return cfg, SdfTask(cfg, CPU, log=log)


def analytic_sdf(task, points, offset=0.0):
    """|p - c| - r of the unit sphere after the task's normalization (+ offset)."""
    centre = -task.shape.center * task.shape.scale
    return np.linalg.norm(points - centre, axis=-1) - task.shape.scale - offset


class SphereSDF(nn.Module):
    """A 'network' that outputs the analytic SDF of the normalized sphere, grown by `offset`."""

    def __init__(self, task, offset=0.0):
        super().__init__()
        self.centre = torch.tensor(-task.shape.center * task.shape.scale, dtype=torch.float32)
        self.radius = float(task.shape.scale) + offset

    def forward(self, x):
        return (x - self.centre).norm(dim=-1, keepdim=True) - self.radius


# -- sampling ----------------------------------------------------------------------------
def test_near_surface_points_are_half_coarse_half_fine_laplace():
    rng = np.random.default_rng(0)
    points = near_surface_points(np.zeros((1, 3)), 20001, 0.1, 0.001, rng)
    coarse, fine = points[:10001], points[10001:]
    assert len(fine) == 10000
    # the mean absolute value of Laplace(0, b) is b
    assert abs(np.abs(coarse).mean() / 0.1 - 1) < 0.05
    assert abs(np.abs(fine).mean() / 0.001 - 1) < 0.05
    assert np.all(np.abs(points) <= 0.5)  # wrapped into the unit cube


def test_batch_is_fresh_seeded_and_stratified(sphere_obj, cache_dir):
    _, task = make_task(sphere_obj, cache_dir)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x0, y0 = task.batch(0, g1)
    assert x0.shape == (2000, 3) and y0.shape == (2000, 1) and x0.dtype == torch.float32
    assert torch.equal(x0, task.batch(0, g2)[0])  # same seed, same points
    x1, _ = task.batch(1, g1)
    assert not torch.equal(x0, x1)  # a fresh set every step
    coarse, fine = y0[:1000].abs(), y0[1000:].abs()
    assert task.signal["strata"] == {"coarse": (0, 1000), "fine": (1000, 2000)}
    assert fine.max() < 0.02 and coarse.median() > 0.03
    # the training targets are the signed distances of the training points
    assert np.allclose(y0[:, 0].numpy(), analytic_sdf(task, x0.numpy()), atol=1e-3)


# -- signed distances ----------------------------------------------------------------
def test_exact_sdf_sign_and_magnitude(sphere_obj, cache_dir):
    _, task = make_task(sphere_obj, cache_dir)
    assert task.watertight and task.sign_method == "exact"
    points = task.pool_points.numpy()
    truth = analytic_sdf(task, points)
    sdf = task.pool_sdf[:, 0].numpy()
    # polygonal sphere: inscribed, so its distances differ by less than the sagitta (~4.3e-4)
    assert np.abs(sdf - truth).max() < 1e-3
    clear = np.abs(truth) > 1e-3
    assert np.array_equal(sdf[clear] < 0, truth[clear] < 0)
    assert (truth < 0).mean() > 0.2  # both signs are exercised


def test_inward_faces_give_the_same_signs(tmp_path, cache_dir):
    vertices, faces = icosphere(2)
    path = write_obj(tmp_path / "inward.obj", vertices, faces[:, ::-1])
    _, task = make_task(path, cache_dir)
    points = task.pool_points.numpy()[:3000]
    truth = analytic_sdf(task, points)
    clear = np.abs(truth) > 1e-2  # beyond the sagitta (~7e-3) of a 2-times subdivided sphere
    assert np.array_equal(task.pool_sdf[:3000, 0].numpy()[clear] < 0, truth[clear] < 0)


def test_normal_fallback_for_open_meshes_and_point_clouds(tmp_path, cache_dir):
    vertices, faces = icosphere(4)
    normals = vertices.copy()  # outward normals of the unit sphere
    xyz = tmp_path / "sphere.xyz"
    np.savetxt(xyz, np.hstack([vertices, normals]))
    # an open mesh: the sphere minus one triangle
    open_path = write_obj(tmp_path / "open.obj", vertices, faces[1:])
    for path in (str(xyz), open_path):
        _, task = make_task(path, cache_dir)
        assert task.sign_method == "normal" and not task.watertight
        points = task.pool_points.numpy()
        truth, sdf = analytic_sdf(task, points), task.pool_sdf[:, 0].numpy()
        fine = slice(task.pool_coarse, None)
        assert np.abs(sdf[fine] - truth[fine]).max() < 5e-3  # accurate near the surface
        clear = np.abs(truth) > 5e-3
        assert np.mean((sdf[clear] < 0) == (truth[clear] < 0)) > 0.999


def test_cache_is_reused_and_keyed_by_resolution(sphere_obj, tmp_path):
    messages = []
    _, first = make_task(sphere_obj, str(tmp_path), log=messages.append)
    assert sum("computing" in m for m in messages) == 2  # pool and occupancy
    messages.clear()
    _, again = make_task(sphere_obj, str(tmp_path), log=messages.append)
    assert messages == [] and torch.equal(first.pool_sdf, again.pool_sdf)
    assert np.array_equal(first.true_inside, again.true_inside)
    make_task(sphere_obj, str(tmp_path), log=messages.append, **{"DATASET_CONFIGS.render_resolution": 24})
    assert messages and all("occupancy" in m for m in messages)  # only the occupancy is recomputed
    assert len([f for f in os.listdir(tmp_path) if "_occupancy_" in f]) == 2


# -- metrics ------------------------------------------------------------------------------
def test_iou_of_the_analytic_sdf(sphere_obj, cache_dir):
    _, task = make_task(sphere_obj, cache_dir)
    grid = task.predicted_grid(SphereSDF(task))
    assert iou(grid < 0, grid < 0) == 1.0
    metrics = task.evaluate(SphereSDF(task))
    assert metrics["iou"] > 0.995  # against winding-number occupancy of the polygonal sphere
    assert metrics["chamfer"] < 0.015  # the floor of 5,000 samples per side (spacing ~0.02)
    shrunk = task.evaluate(SphereSDF(task, offset=-0.1))["iou"]
    r = task.shape.scale
    assert abs(shrunk - ((r - 0.1) / r) ** 3) < 0.05  # IoU of nested balls = volume ratio


def test_chamfer_distance_of_a_known_offset(sphere_obj, cache_dir):
    rng = np.random.default_rng(0)
    vertices, faces = icosphere(4)
    a = sample_triangles(vertices * 0.3, faces, 20000, rng)[0]
    b = sample_triangles(vertices * 0.33, faces, 20000, rng)[0]
    assert chamfer_distance(a, a) == 0.0
    assert abs(chamfer_distance(a, b) - 0.03) < 0.002
    # through the task: a sphere grown by 0.02 on a 48^3 grid against the true sphere
    _, task = make_task(sphere_obj, cache_dir, **{"DATASET_CONFIGS.render_resolution": 48,
                                                  "DATASET_CONFIGS.chamfer_samples": 20000})
    assert abs(task.evaluate(SphereSDF(task, offset=0.02))["chamfer"] - 0.02) < 0.003


def test_chamfer_sq_is_the_mean_squared_distance_both_ways(sphere_obj, cache_dir):
    # By hand: a = {(0,0,0), (1,0,0)}, b = {(0,0,0.5)}. a -> b: 0.5 and sqrt(1.25); b -> a: 0.5.
    a, b = np.array([[0.0, 0, 0], [1.0, 0, 0]]), np.array([[0.0, 0, 0.5]])
    chamfer, chamfer_sq = chamfer_distances(a, b)
    assert chamfer_sq == pytest.approx(0.5 * ((0.25 + 1.25) / 2 + 0.25))   # 0.5
    assert chamfer == pytest.approx(0.5 * ((0.5 + 1.25 ** 0.5) / 2 + 0.5))  # the unsquared one
    assert chamfer_distances(b, a) == pytest.approx((chamfer, chamfer_sq))  # symmetric
    # Concentric spheres 0.03 apart: d^2 = 9e-4, and the task reports it beside `chamfer`.
    rng = np.random.default_rng(0)
    vertices, faces = icosphere(4)
    inner = sample_triangles(vertices * 0.3, faces, 20000, rng)[0]
    outer = sample_triangles(vertices * 0.33, faces, 20000, rng)[0]
    assert chamfer_distances(inner, outer)[1] == pytest.approx(0.03 ** 2, rel=0.15)
    _, task = make_task(sphere_obj, cache_dir, **{"DATASET_CONFIGS.render_resolution": 48,
                                                  "DATASET_CONFIGS.chamfer_samples": 20000})
    metrics = task.evaluate(SphereSDF(task, offset=0.02))
    assert metrics["chamfer_sq"] == pytest.approx(0.02 ** 2, rel=0.35)


def test_marching_cubes_faces_point_outwards():
    axis = np.linspace(-0.5, 0.5, 24)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    vertices, faces = surface_from_grid(np.sqrt(x ** 2 + y ** 2 + z ** 2) - 0.3)
    tri = vertices[faces]
    signed_volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert abs(signed_volume / (4 / 3 * np.pi * 0.3 ** 3) - 1) < 0.05
    assert surface_from_grid(np.ones((8, 8, 8))) is None


# -- samplers on a changing candidate set -----------------------------------------------
@pytest.mark.parametrize("strategy", ["uniform", "int"])
def test_reused_selection_keeps_positions_on_fresh_points(sphere_obj, cache_dir, strategy):
    cfg, task = make_task(sphere_obj, cache_dir, **{"EXP_CONFIGS.strategy_type": strategy,
                                                    "nint.sample_interval": "dense2", "nint.dense2_period": 2})
    generator = torch.Generator().manual_seed(0)
    sampler = build_sampler(cfg, task.n_points, generator, signal=task.signal)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    n_coarse = task.signal["strata"]["coarse"][1]
    picks = []
    for step in range(3):
        coords, targets = task.batch(step, generator)
        selection = sampler.select(SelectionContext(step, 30, model, coords, targets))
        picks.append((selection.indices.clone(), coords[selection.indices]))
        if strategy == "int" and step != 1:  # a selection step: the top errors of *these* points
            errors = (model(coords) - targets).abs()[:, 0].detach()
            assert torch.equal(torch.sort(selection.indices).values,
                               torch.sort(errors.topk(len(selection.indices)).indices).values)
    (i0, x0), (i1, x1), (i2, _) = picks
    assert len(i0) == int(0.4 * 2000)
    assert torch.equal(i0, i1) and not torch.equal(x0, x1)  # same positions, new points
    assert (i1 < n_coarse).sum() == (i0 < n_coarse).sum()   # so the same coarse/fine mix
    assert not torch.equal(i1, i2)                          # re-selected at step 2


def test_nint_reuses_ntk_positions_between_refreshes(sphere_obj, cache_dir):
    cfg, task = make_task(sphere_obj, cache_dir, **{"EXP_CONFIGS.strategy_type": "nint"})
    generator = torch.Generator().manual_seed(0)
    sampler = build_sampler(cfg, task.n_points, generator, signal=task.signal)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    streams = []
    for step in range(2):  # selection call 1 computes the NTK ranking, call 2 reuses it
        coords, targets = task.batch(step, generator)
        selection = sampler.select(SelectionContext(step, 30, model, coords, targets))
        assert len(selection.indices.unique()) == len(selection.indices) == int(0.4 * 2000)
        streams.append({k: v.clone() for k, v in sampler.last_streams.items()})
    assert sampler.refresh_calls == [1] and len(streams[0]["ntk"]) > 0
    assert torch.equal(streams[0]["ntk"], streams[1]["ntk"])  # the same positions, on fresh points
    assert not torch.equal(streams[0]["error"], streams[1]["error"])  # errors of the current points


# -- the command line and the shared loop -------------------------------------------------
def read_rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_end_to_end_iou_rises_with_outputs(sphere_obj, cache_dir, tmp_path):
    args = sdf_overrides(sphere_obj, cache_dir, **{"TRAIN_CONFIGS.iterations": 40, "TRAIN_CONFIGS.lr": 1e-3,
                                                   "TRAIN_CONFIGS.out_root": str(tmp_path),
                                                   "TRAIN_CONFIGS.out_dir": "run"})
    assert main("sdf", args) == 0
    run = tmp_path / "run"
    rows = read_rows(run)
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40] and "chamfer" in rows[0]
    assert float(rows[-1]["iou"]) > float(rows[0]["iou"]) and float(rows[-1]["iou"]) > 0.8
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final_iou"] == float(rows[-1]["iou"])
    assert summary["final_chamfer"] is not None and "iou_0.9" in summary["time_to"]
    for name in ("reconstruction.ply", "reconstruction.png", "normalization.json", "model.pt"):
        assert (run / name).is_file(), name
    assert (run / "reconstruction.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")
    best = json.loads((run / "meshes" / "best.json").read_text())
    assert best["iou"] == max(float(r["iou"]) for r in rows) and (run / "meshes" / best["mesh"]).is_file()
    transform = json.loads((run / "normalization.json").read_text())
    assert transform["scale"] > 0 and len(transform["center"]) == 3


def test_snapshot_mesh_at_a_training_time(sphere_obj, cache_dir, tmp_path):
    from utils.tasks.sdf.io import read_ply, write_ply
    args = sdf_overrides(sphere_obj, cache_dir, **{"TRAIN_CONFIGS.iterations": 20, "TRAIN_CONFIGS.lr": 1e-3,
                                                   "TRAIN_CONFIGS.out_root": str(tmp_path), "TRAIN_CONFIGS.out_dir": "run",
                                                   "TRAIN_CONFIGS.snapshot_seconds": "[1.0e9]"})
    assert main("sdf", args) == 0  # 1e9 s never comes: no snapshot
    assert not (tmp_path / "run" / "snapshots.json").exists()
    cfg, task = make_task(sphere_obj, cache_dir)
    sphere = SphereSDF(task)
    name = task.save_snapshot(sphere, str(tmp_path), 3.0)
    assert name == "reconstruction_at_3s.ply"
    vertices, faces = read_ply(str(tmp_path / name))
    radius = np.linalg.norm(vertices - sphere.centre.numpy(), axis=1)
    assert len(faces) > 100 and abs(radius.mean() - sphere.radius) < 0.02  # the analytic sphere's surface
    write_ply(str(tmp_path / "t.ply"), np.eye(3), np.array([[0, 1, 2]]))
    v, f = read_ply(str(tmp_path / "t.ply"))
    assert np.array_equal(v, np.eye(3)) and f.tolist() == [[0, 1, 2]]


def test_interrupt_and_resume_match_an_uninterrupted_run(sphere_obj, cache_dir, tmp_path):
    cfg = load_config("sdf", None, sdf_overrides(sphere_obj, cache_dir, **{"TRAIN_CONFIGS.iterations": 20}))
    quiet = lambda *_: None  # noqa: E731
    full, part = tmp_path / "full", tmp_path / "part"
    full.mkdir(), part.mkdir()
    train(cfg, SdfTask(cfg, CPU, log=quiet), str(full), CPU, log=quiet)
    with pytest.raises(Interrupted):
        train(cfg, SdfTask(cfg, CPU, log=quiet), str(part), CPU, stop_at=15, log=quiet)
    train(cfg, SdfTask(cfg, CPU, log=quiet), str(part), CPU, resume=True, log=quiet)
    drop_time = lambda rows: [{k: v for k, v in r.items() if k not in ("train_seconds", "wall_seconds")} for r in rows]  # noqa: E731
    assert drop_time(read_rows(full)) == drop_time(read_rows(part))


@pytest.mark.parametrize("content, suffix, message", [
    (None, ".obj", "not found"),
    ("this is not a mesh\n", ".obj", "no vertices"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", ".obj", "no faces"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", ".obj", "does not exist"),
    ("0 0 0\n1 0 0\n0 1 0\n", ".xyz", "no normals"),
    ("0 0 0 0 0 1\n1 1 1 0 0 0\n", ".xyz", "zero normal"),
    ("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", ".obj", "degenerate bounding box"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", ".obj", "flat along z"),
    ("solid", ".stp", "unsupported shape format"),
])
def test_bad_shapes_are_one_line_errors(tmp_path, cache_dir, capsys, content, suffix, message):
    path = tmp_path / f"shape{suffix}"
    if content is not None:
        path.write_text(content)
    assert main("sdf", sdf_overrides(str(path), cache_dir, **{"TRAIN_CONFIGS.out_root": str(tmp_path)})) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


@pytest.mark.parametrize("override, message", [
    ("DATASET_CONFIGS.num_samples=0", "out of range"),
    ("DATASET_CONFIGS.fine_scale=0", "out of range"),
    ("DATASET_CONFIGS.render_resolution=4", "out of range"),
    ("DATASET_CONFIGS.sign_method=fast", "not valid"),
    ("DATASET_CONFIGS.pool_size=100", "smaller than num_samples"),
    ("DATASET_CONFIGS.num_sample=5", "did you mean"),
])
def test_bad_settings_are_one_line_errors(sphere_obj, cache_dir, tmp_path, capsys, override, message):
    args = sdf_overrides(sphere_obj, cache_dir, **{"TRAIN_CONFIGS.out_root": str(tmp_path)}) + [override]
    assert main("sdf", args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_exact_sign_needs_a_mesh(tmp_path, cache_dir):
    vertices, _ = icosphere(1)
    np.savetxt(tmp_path / "s.xyz", np.hstack([vertices, vertices]))
    with pytest.raises(UserError, match="needs a mesh"):
        make_task(str(tmp_path / "s.xyz"), cache_dir, **{"DATASET_CONFIGS.sign_method": "exact"})
