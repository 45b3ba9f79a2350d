"""Chunked passes against one piece, timed as training runs them: the same pass again and again.

    python benchmarks/chunk_cost.py                  # 128x128 and 256x256, SIREN 3x128 and 5x256
    python benchmarks/chunk_cost.py --sizes 512 --repeats 3

For each network and image size it prints the best of R consecutive repeats (after one
warm-up) of: the full-batch training step, the no-grad forward over all N points, and
INT's step (that forward, then the step on the top-B = 20% errors), each in one piece
and in the automatic chunks of utils/devices.py (the trainer's default), and their ratio.
Each case runs its repeats in a row, as a training run repeats one step, rather than
interleaved with the others: one big pass then pays its fresh large allocations every
time, as it does in training. Targets at 256x256 with the 5x256 SIREN on a CPU:
full step chunked / one piece <= 0.7, INT step <= 0.75.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_model  # noqa: E402
from utils.devices import chunk_points, chunk_slices  # noqa: E402
from utils.engine.run import synchronize  # noqa: E402
from utils.engine.trainer import optimization_step  # noqa: E402
from utils.tasks.image import image_grid, load_image  # noqa: E402


def best_of(fn, repeats, device):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        t = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - t)
    return best


def bench(size, layers, width, args, device):
    torch.manual_seed(0)
    coords = image_grid(size, size).to(device)
    targets = torch.from_numpy(load_image(args.image, size).reshape(-1, 3)).to(device)
    n = coords.shape[0]
    B = int(0.2 * n)
    model = build_model({"name": "siren", "hidden_layers": layers, "hidden_features": width}, 2, 3).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    step_chunk = chunk_points("auto", device.type, "step")
    forward_chunk = chunk_points("auto", device.type, "forward")

    def forward(chunk):
        with torch.no_grad():
            return torch.cat([model(coords[sl]) for sl in chunk_slices(n, chunk)])

    def int_step(fchunk, schunk):
        idx = (forward(fchunk) - targets).abs().sum(dim=1).topk(B, sorted=False).indices
        optimization_step(model, optimizer, coords[idx], targets[idx], chunk=schunk)

    cases = {
        "full step": (lambda: optimization_step(model, optimizer, coords, targets),
                      lambda: optimization_step(model, optimizer, coords, targets, chunk=step_chunk)),
        "no-grad forward": (lambda: forward(0), lambda: forward(forward_chunk)),
        "INT step": (lambda: int_step(0, 0), lambda: int_step(forward_chunk, step_chunk)),
    }
    print(f"\n{size}x{size} (N = {n:,}), SIREN {layers}x{width}, {device}, {torch.get_num_threads()} threads, "
          f"chunks: forward {forward_chunk:,}, step {step_chunk:,} points; best of {args.repeats} in a row")
    for name, (whole, chunked) in cases.items():
        t_whole, t_chunked = best_of(whole, args.repeats, device), best_of(chunked, args.repeats, device)
        print(f"  {name:<16} one piece {t_whole * 1e3:8.1f} ms   chunked {t_chunked * 1e3:8.1f} ms   "
              f"ratio {t_chunked / t_whole:.2f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--networks", nargs="+", default=["3x128", "5x256"], help="LAYERSxWIDTH")
    p.add_argument("--image", default="images/01.png")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    for size in args.sizes:
        for net in args.networks:
            layers, width = (int(v) for v in net.split("x"))
            bench(size, layers, width, args, device)


if __name__ == "__main__":
    main()
