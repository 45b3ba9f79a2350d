"""The NTK of a 3x3 pixel patch at initialisation and after training (the paper's Fig. 2).

    python benchmarks/ntk_patches.py --image images/01.png --pixels 128,128 60,200 --steps 300

For each pixel (row, col) the 9 points of its 3x3 neighbourhood are taken and the
9x9 matrix K_ij = sum over output channels of <d f_c(x_i)/d theta, d f_c(x_j)/d theta>
is drawn, explicitly (9 points: forming J is cheap), for the model at initialisation and
after `--steps` steps of full-batch training on the image. Off-diagonal mass shows how
much an update at one pixel moves its neighbours, which is what NINT's K g exploits.
Writes ntk_patches.png (and .npz with the matrices) into --out.
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch.func import functional_call, jacrev

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_model  # noqa: E402
from utils.engine.config import load_config  # noqa: E402
from utils.errors import UserError  # noqa: E402
from utils.tasks.image import image_grid, load_image  # noqa: E402


def patch_indices(row: int, col: int, height: int, width: int):
    """Flat indices of the 3x3 neighbourhood of (row, col), clamped inside the image."""
    r0 = min(max(row - 1, 0), height - 3)
    c0 = min(max(col - 1, 0), width - 3)
    return [(r0 + dr) * width + (c0 + dc) for dr in range(3) for dc in range(3)]


def explicit_ntk(model, coords: torch.Tensor) -> np.ndarray:
    """K [n, n] summed over output channels, from the explicit Jacobian (small n only)."""
    params = {k: p.detach() for k, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    jac = jacrev(lambda p: functional_call(model, (p, buffers), (coords,)))(params)
    n, c = coords.shape[0], jac[next(iter(jac))].shape[1]
    J = torch.cat([jac[k].reshape(n, c, -1) for k in params], dim=2)
    return torch.einsum("icp,jcp->ij", J, J).cpu().numpy()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", default="images/01.png")
    p.add_argument("--pixels", nargs="+", default=["128,128"], help="row,col of each patch centre")
    p.add_argument("--img-size", type=int, default=256, help="resize the image to this square size first")
    p.add_argument("--steps", type=int, default=300, help="full-batch Adam steps between the two NTKs")
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default="outputs/ntk_patches")
    args = p.parse_args(argv)
    try:
        pixels = [tuple(int(v) for v in s.split(",")) for s in args.pixels]
        if any(len(px) != 2 for px in pixels):
            raise ValueError
    except ValueError:
        raise SystemExit("error: --pixels takes row,col pairs, e.g. --pixels 100,200 30,40")
    try:
        image = load_image(args.image, args.img_size)
    except UserError as e:
        raise SystemExit(f"error: {e}")
    h, w, c = image.shape
    for r, col in pixels:
        if not (0 <= r < h and 0 <= col < w):
            raise SystemExit(f"error: pixel {r},{col} is outside the {h}x{w} image")

    torch.manual_seed(args.seed)
    cfg = load_config("image", overrides=[f"model_config.hidden_layers={args.layers}",
                                          f"model_config.hidden_features={args.width}"])
    model = build_model(cfg["model_config"], 2, c)
    coords = image_grid(h, w)
    targets = torch.from_numpy(image.reshape(-1, c))
    patches = [patch_indices(r, col, h, w) for r, col in pixels]
    before = [explicit_ntk(model, coords[idx]) for idx in patches]

    optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg["model_config"]["lr"]))
    for _ in range(args.steps):
        optimizer.zero_grad()
        (model(coords) - targets).pow(2).mean().backward()
        optimizer.step()
    after = [explicit_ntk(model, coords[idx]) for idx in patches]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(len(pixels), 3, figsize=(9.5, 3.2 * len(pixels)), squeeze=False)
    for row_axes, (r, col), idx, k0, k1 in zip(axes, pixels, patches, before, after):
        r0, c0 = idx[0] // w, idx[0] % w
        crop = image[max(r0 - 6, 0): r0 + 9, max(c0 - 6, 0): c0 + 9]
        row_axes[0].imshow(crop.squeeze(), cmap="gray" if c == 1 else None)
        row_axes[0].add_patch(plt.Rectangle((c0 - max(c0 - 6, 0) - 0.5, r0 - max(r0 - 6, 0) - 0.5), 3, 3,
                                            fill=False, color="red", lw=1.5))
        row_axes[0].set_title(f"3x3 patch at ({r}, {col})", fontsize=9)
        for ax, k, label in ((row_axes[1], k0, "initialisation"), (row_axes[2], k1, f"after {args.steps} steps")):
            im = ax.imshow(k, cmap="viridis")
            ax.set_title(f"NTK, {label}", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
        for ax in row_axes:
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    path = os.path.join(args.out, "ntk_patches.png")
    fig.savefig(path, dpi=120)
    np.savez(os.path.join(args.out, "ntk_patches.npz"), pixels=np.array(pixels), before=np.array(before),
             after=np.array(after))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
