"""NINT in your own plain-PyTorch loop: no config files, no trainer (README, "Use a sampler in your own loop").

    python examples/own_loop.py    # fits images/01.png at 64x64, prints the PSNR (seconds on a CPU)
"""
import os
import sys

import imageio.v3 as iio
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the repository root, where `samplers` lives
from samplers import make_sampler  # noqa: E402


class Sine(nn.Module):  # a SIREN layer: sin(30 (W x + b)), SIREN's uniform initialisation
    def __init__(self, n_in, n_out, first=False, omega=30.0):
        super().__init__()
        self.omega, self.linear = omega, nn.Linear(n_in, n_out)
        bound = 1 / n_in if first else (6 / n_in) ** 0.5 / omega
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x):
        return torch.sin(self.omega * self.linear(x))


torch.manual_seed(0)
size, steps = 64, 500
pixels = torch.tensor(iio.imread(os.path.join(ROOT, "images", "01.png"))[..., :3], dtype=torch.float32) / 255
image = nn.functional.interpolate(pixels.permute(2, 0, 1)[None], (size, size), mode="bilinear", antialias=True)
targets = image[0].permute(1, 2, 0).reshape(-1, 3)                      # [N, 3], row-major pixels
axis = torch.linspace(-1, 1, size)
coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)  # [N, 2]

model = nn.Sequential(Sine(2, 64, first=True), Sine(64, 64), Sine(64, 64), nn.Linear(64, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
sampler = make_sampler("nint", n_points=len(coords), total_steps=steps, ratio=0.2, seed=0)
for step in range(steps):
    indices = sampler.select(step, model, coords, targets).indices      # 20% of the pixels, chosen by NINT
    loss = (model(coords[indices]) - targets[indices]).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

with torch.no_grad():
    mse = (model(coords).clamp(0, 1) - targets).pow(2).mean()
print(f"PSNR {10 * torch.log10(1 / mse).item():.2f} dB after {steps} NINT steps on {size}x{size} pixels")
