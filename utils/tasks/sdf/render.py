"""Side-by-side renderings of triangle meshes with matplotlib's 3D axes (headless, Agg).

Flat shading by one directional light. The shape's +y axis is drawn upwards
(the usual convention of OBJ scans such as the Stanford models); the camera
looks from the shape's -z side (the Stanford Armadillo's front).
"""
import io

import numpy as np

LIGHT = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])


def _to_plot_axes(points: np.ndarray) -> np.ndarray:
    """(x, y, z) -> (x, -z, y): a rotation that puts +y on matplotlib's vertical axis."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def _draw(ax, vertices, faces, title):
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    ax.set_title(title, fontsize=10)
    lim = (-0.5, 0.5)
    ax.set_xlim(*lim), ax.set_ylim(*lim), ax.set_zlim(*lim)
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.view_init(elev=10, azim=90)  # camera on the +y plot axis = the shape's -z side
    ax.axis("off")
    if vertices is None or len(faces) == 0:
        ax.text(0, 0, 0, "no surface", ha="center")
        return
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    # abs(): flat shading that does not depend on the faces' orientation
    shade = 0.25 + 0.75 * np.abs(normal @ LIGHT)
    ax.add_collection3d(Poly3DCollection(_to_plot_axes(tri), facecolors=plt.cm.gray(shade * 0.9),
                                         linewidths=0))


def render_meshes(meshes, path: str = None, size_inches: float = 4.0, dpi: int = 100):
    """Render [(title, vertices [V, 3] or None, faces [F, 3] or None), ...] in a row.

    Writes a PNG to `path` when given; returns the image as a uint8 array [H, W, 3].
    Vertices are in normalized units (the unit cube).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size_inches * len(meshes), size_inches), dpi=dpi)
    for i, (title, vertices, faces) in enumerate(meshes):
        ax = fig.add_subplot(1, len(meshes), i + 1, projection="3d")
        _draw(ax, vertices, faces, title)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.93, wspace=0)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    png = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as f:
            f.write(png)
    import imageio.v3 as iio
    return np.asarray(iio.imread(png))[..., :3]
