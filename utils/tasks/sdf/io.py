"""Reading shapes for SDF fitting, normalizing them into the unit cube, writing PLY meshes.

A shape is either a triangle mesh (OBJ, PLY, STL, OFF; read with libigl, polygons
triangulated) or an oriented point cloud (.xyz text: one point per line,
`x y z nx ny nz`). Every problem with the file is a one-line UserError.

Normalization: the shape's axis-aligned bounding box is centred on the origin and
scaled uniformly so that its longest side is SHAPE_EXTENT = 0.9, i.e. the shape sits
inside the unit cube [-0.5, 0.5]^3 with a margin of 0.05 on every side (so that its
surface never touches the border of the evaluation grid, where marching cubes would
leave holes). All distances, noise scales and metrics are in these normalized units.
"""
import hashlib
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import numpy as np

from utils.errors import UserError, require_file

MESH_FORMATS = (".obj", ".ply", ".stl", ".off")
POINT_CLOUD_FORMATS = (".xyz",)
SHAPE_EXTENT = 0.9  # longest side of the normalized shape's bounding box, inside the unit cube


@dataclass
class Shape:
    """A mesh (faces given) or an oriented point cloud (normals given), in normalized units.

    vertices [V, 3] float64; faces [F, 3] int64 or None; normals [V, 3] unit length or None.
    center [3] and scale: normalized = (original - center) * scale.
    """
    vertices: np.ndarray
    faces: Optional[np.ndarray]
    normals: Optional[np.ndarray]
    center: np.ndarray
    scale: float

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None

    def transform(self) -> dict:
        """The normalization, as saved with a run (normalization.json)."""
        return {"formula": "normalized = (original - center) * scale; original = normalized / scale + center",
                "center": [float(c) for c in self.center], "scale": float(self.scale),
                "unit_cube": [-0.5, 0.5], "shape_extent": SHAPE_EXTENT}


def file_hash(path: str) -> str:
    """SHA-256 of the file's bytes (the key of every on-disk cache of a shape)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MAX_COORDINATE = 1e15  # |vertex coordinate| beyond this: squared distances overflow float32, the file is corrupt


@contextmanager
def _captured_stderr():
    """libigl's C++ reader prints its complaints straight to file descriptor 2; collect them
    (yielded list, filled on exit) so that our one-line error can quote them instead."""
    captured = []
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 to redirect
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines()
                            if line.strip())


def _non_finite(words) -> bool:
    """Whether any of `words` reads as a NaN or inf number (1e999 overflows to inf)."""
    for word in words:
        try:
            if not math.isfinite(float(word)):
                return True
        except ValueError:
            pass
    return False


def _non_finite_line(path: str):
    """(line number, line) of the first vertex line of a text mesh (OBJ, OFF, ASCII PLY) with a NaN,
    inf or overflowing coordinate; None (also for binary files). Read only when the mesh already
    failed, so that its real problem is named rather than what the reader made of it (a degenerate
    bounding box, a vertex line 'with fewer than 3 coordinates', face indices in the millions)."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, errors="replace") as f:
            if ext == ".obj":
                for number, line in enumerate(f, 1):
                    words = line.split()
                    if words[:1] == ["v"] and _non_finite(words[1:4]):
                        return number, line.strip()
            elif ext in (".off", ".ply"):
                return _non_finite_vertex_block(f, ext)
    except (OSError, UnicodeError, ValueError, IndexError):  # unreadable, or a header it cannot follow
        pass
    return None


def _non_finite_vertex_block(f, ext: str):
    """The OFF / ASCII PLY case of `_non_finite_line`: the vertex lines follow the header."""
    number, count, columns = 0, None, [0, 1, 2]
    lines = iter(f)
    if ext == ".off":
        for line in lines:
            number += 1
            words = line.split("#")[0].split()
            if words and words[0].upper().endswith("OFF"):
                words = words[1:]
            if words:
                count = int(words[0])
                break
    else:
        properties, in_vertex = [], False
        for line in lines:
            number += 1
            words = line.split()
            if words[:1] == ["format"] and words[1:2] != ["ascii"]:
                return None
            if words[:2] == ["element", "vertex"]:
                count, in_vertex = int(words[2]), True
            elif words[:1] == ["element"]:
                in_vertex = False
            elif words[:1] == ["property"] and in_vertex:
                properties.append(words[-1])
            elif words[:1] == ["end_header"]:
                break
        columns = [properties.index(a) for a in "xyz" if a in properties] or columns
    for _ in range(count or 0):
        line = next(lines, None)
        if line is None:
            break
        number += 1
        words = line.split()
        if _non_finite([words[c] for c in columns if c < len(words)]):
            return number, line.strip()
    return None


def _read_mesh(path: str):
    import igl  # libigl: a compiled extension, imported only when a mesh is read
    try:
        with _captured_stderr() as complaints:
            vertices, faces = igl.read_triangle_mesh(path)
    except Exception as e:
        first = (complaints[0] if complaints else str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise UserError(f"cannot read mesh {path}: {first.removeprefix('Error: ')}") from None
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[0] == 0:
        raise UserError(f"cannot read mesh {path}: no vertices found (unreadable or empty file)")
    if faces.size == 0:
        raise UserError(f"{path}: the mesh has no faces; for points with normals use an .xyz "
                        f"file with lines 'x y z nx ny nz'")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise UserError(f"{path}: expected triangle faces, got an array of shape {faces.shape}")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise UserError(f"{path}: a face refers to a vertex that does not exist "
                        f"(indices {faces.min()}..{faces.max()}, {len(vertices)} vertices)")
    return vertices, faces


def _read_point_cloud(path: str):
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read point cloud {path}: {first}") from None
    if data.size == 0:
        raise UserError(f"{path}: the point cloud is empty")
    if data.shape[1] == 3:
        raise UserError(f"{path}: the point cloud has no normals; expected 6 columns 'x y z nx ny nz' "
                        f"(signed distances need oriented points)")
    if data.shape[1] != 6:
        raise UserError(f"{path}: expected 6 columns 'x y z nx ny nz', got {data.shape[1]}")
    points, normals = data[:, :3], data[:, 3:]
    lengths = np.linalg.norm(normals, axis=1)
    if not np.all(lengths > 1e-12):
        raise UserError(f"{path}: {int(np.sum(lengths <= 1e-12))} points have a zero normal")
    return points, normals / lengths[:, None]


def load_shape(path: str) -> Shape:
    """Read a mesh or an oriented point cloud and normalize it into the unit cube. A text mesh
    that fails any check is searched for NaN or inf vertices first, which are then the problem named."""
    require_file(path, "shape file")
    try:
        return _load_shape(path)
    except UserError:
        bad = _non_finite_line(path) if os.path.splitext(path)[1].lower() in MESH_FORMATS else None
        if bad is not None:
            raise UserError(f"{path}: the mesh has non-finite vertices (line {bad[0]}: {bad[1][:60]!r})") from None
        raise


def _load_shape(path: str) -> Shape:
    ext = os.path.splitext(path)[1].lower()
    if ext in MESH_FORMATS:
        vertices, faces = _read_mesh(path)
        normals = None
    elif ext in POINT_CLOUD_FORMATS:
        (vertices, normals), faces = _read_point_cloud(path), None
    else:
        raise UserError(f"{path}: unsupported shape format '{ext}'; meshes: {', '.join(MESH_FORMATS)}; "
                        f"oriented point clouds: {', '.join(POINT_CLOUD_FORMATS)} (x y z nx ny nz)")
    if not np.all(np.isfinite(vertices)):
        raise UserError(f"{path}: the {'mesh' if faces is not None else 'point cloud'} has non-finite vertices "
                        f"({int(np.sum(~np.all(np.isfinite(vertices), axis=1)))} with NaN or inf coordinates)")
    largest = float(np.abs(vertices).max())
    if largest > MAX_COORDINATE:
        raise UserError(f"{path}: vertex coordinates reach {largest:.3g}, beyond {MAX_COORDINATE:g}: the file's "
                        f"vertices look corrupt (distances would overflow)")
    if faces is not None:
        # Only the vertices that faces use define the shape (OBJ files may carry stray ones).
        used = np.unique(faces)
        lo, hi = vertices[used].min(axis=0), vertices[used].max(axis=0)
    else:
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    extent = hi - lo
    longest = float(extent.max())
    if not longest > 0:
        raise UserError(f"{path}: degenerate bounding box (every point at the same position)")
    if extent.min() <= 1e-9 * longest:
        axis = "xyz"[int(extent.argmin())]
        raise UserError(f"{path}: degenerate bounding box, flat along {axis} "
                        f"(extent {extent.tolist()}): a shape with no volume has no inside")
    center = (lo + hi) / 2.0
    scale = SHAPE_EXTENT / longest
    return Shape((vertices - center) * scale, faces, normals, center, scale)


def write_ply(path: str, vertices: np.ndarray, faces: np.ndarray):
    """A binary little-endian PLY triangle mesh (float32 vertices, int32 indices)."""
    vertices = np.ascontiguousarray(vertices, dtype="<f4")
    face_records = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_records["n"] = 3
    face_records["idx"] = faces
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertices.tobytes())
        f.write(face_records.tobytes())
    os.replace(tmp, path)


def read_ply(path: str):
    """(vertices [V, 3] float64, faces [F, 3] int64) of a mesh written by `write_ply`
    (binary little-endian, float32 x y z, triangles as uchar-counted int32 lists)."""
    with open(path, "rb") as f:
        data = f.read()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise UserError(f"{path}: not a PLY file written by this repository")
    header = data[:end].decode("ascii").splitlines()
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element ")}
    body = data[end + len(b"end_header\n"):]
    n_vertices, n_faces = counts.get("vertex", 0), counts.get("face", 0)
    vertices = np.frombuffer(body, dtype="<f4", count=3 * n_vertices).reshape(-1, 3)
    records = np.frombuffer(body, dtype=[("n", "u1"), ("idx", "<i4", (3,))], count=n_faces,
                            offset=12 * n_vertices)
    return vertices.astype(np.float64), records["idx"].astype(np.int64)
