"""A throwaway warm-up pass before the training clock starts (on a GPU).

The first CUDA pass of a process pays one-off costs: the CUDA context's lazy parts, cuBLAS's
handle and workspace, the first load of every kernel the step uses. Left in step 0, they add
a fixed cost of the order of a second to every run's training seconds, which on a fast GPU pulls
every speed-up ratio toward 1. `warm_up` runs one forward and backward pass and one Adam update on
a deep copy of the model (and a fresh optimizer over the copy), and one no-grad forward, at the
step's and the selection's chunk sizes, on fixed inputs, with torch's random states saved and
restored around it (`torch.random.fork_rng`). The run's model, optimizer, sampler and every
generator are untouched, so the metrics at a fixed seed are the same with or without it. The
sampler is not called: step 0, NINT's first NTK score included, stays on the clock.

On a CPU there are no such loads worth the name, and the committed CPU tables were measured
without a warm-up: it is skipped there (`needed`).
"""
import copy
import time

import torch

from samplers.base import mse_loss
from utils.devices import chunk_slices


def needed(device: torch.device) -> bool:
    """Whether a run on `device` warms up: on CUDA only."""
    return device.type == "cuda"


def warm_up(model: torch.nn.Module, in_features: int, n_points: int, device: torch.device, step_chunk: int,
            forward_chunk: int, lr: float = 1e-4) -> float:
    """One throwaway step on a copy of `model` (see the module text); returns its seconds."""
    t0 = time.perf_counter()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        shadow = copy.deepcopy(model)
        optimizer = torch.optim.Adam(shadow.parameters(), lr=lr)
        for points in {min(n_points, step_chunk or n_points), min(n_points, forward_chunk or n_points)}:
            x = torch.linspace(-1.0, 1.0, points * in_features, device=device).reshape(points, in_features)
            with torch.no_grad():
                y = shadow(x).detach()
            optimizer.zero_grad(set_to_none=True)
            for piece in chunk_slices(points, step_chunk):
                loss, _ = mse_loss(shadow(x[piece]), y[piece].flip(0))
                loss.backward()
            optimizer.step()
        del shadow, optimizer
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0
