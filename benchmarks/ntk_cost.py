"""What one NTK score and one NINT step cost, against a full-batch training step.

    python benchmarks/ntk_cost.py                      # 128x128 and 256x256, 5x256 SIREN
    python benchmarks/ntk_cost.py --sizes 512 --device cuda
    python benchmarks/ntk_cost.py --sizes 1024 --repeats 1 --memory-only   # the 24 GiB check

Per size it prints the best-of-R wall time (after a warm-up; the measurements are
interleaved so that a noisy machine hits them alike) of:
  full step     one training step on all N points (forward + backward + Adam), models/siren.py,
                in one piece; "chunked": accumulated over chunks as the trainer does (step_chunk auto)
  forward       a no-grad forward over all N points, in one piece / chunked (forward_chunk auto)
  int step      INT's step: a no-grad forward over N, then the step on the top-B errors; one piece /
                chunked
  ntk score     one NTK score, residual included, with the sampler's choice for that SIREN
                (the hand-written passes of samplers/ntk.py, automatic chunks)
  ntk unchunked the same in one chunk of all N points
  user step     one training step of UserSiren below: the same network (same weights) written
                as a plain nn.Module outside models/, so NINT knows nothing about it
  user score    its NTK score by the generic path any nn.Module gets (samplers/ntk.py,
                reverse-over-reverse autograd)
  user jvp      the same with the plain torch.func VJP + JVP, which recomputes the primal (reference)
  nint step     one NINT step after the NTK phase (p_ntk = 0: 30% top error + 70% random); one
                piece / chunked
  floor         any error-driven 20% sampler's floor: a no-grad forward over N + a step on B
and the ratios chunked / one piece (targets at 256x256 on a CPU: full step <= 0.7, int step
<= 0.75), ntk score / full step (target <= 1.8), user score / user step (target <= 2.2) and
nint step / floor (target <= 1.1), and the process's peak memory.
"""
import argparse
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_model  # noqa: E402
from samplers import build_sampler  # noqa: E402
from samplers.base import SelectionContext  # noqa: E402
from samplers.ntk import _func_vjp_jvp, ntk_scores_from_targets  # noqa: E402
from utils.engine.config import load_config  # noqa: E402
from utils.tasks.image import image_grid, load_image  # noqa: E402
from utils.devices import chunk_points, chunk_slices  # noqa: E402
from utils.engine.run import synchronize  # noqa: E402
from utils.engine.trainer import optimization_step  # noqa: E402


class UserSiren(torch.nn.Module):
    """A SIREN as a user would write it: nn.Linear layers and torch.sin, no `pointwise_mlp()`."""

    def __init__(self, layers=5, width=256, omega_0=30.0):
        super().__init__()
        dims = [2] + [width] * layers
        self.omega_0 = omega_0
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = torch.nn.Linear(width, 3)
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                bound = 1.0 / layer.in_features if i == 0 else math.sqrt(6.0 / layer.in_features) / omega_0
                layer.weight.uniform_(-bound, bound)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.sin(self.omega_0 * layer(x))
        return self.out(x)

    def copy_from(self, siren):
        """Take the weights of a models/siren.py network of the same size (same function)."""
        linears = [m for m in siren.modules() if isinstance(m, torch.nn.Linear)]
        mine_all = list(self.hidden) + [self.out]
        assert len(linears) == len(mine_all), "UserSiren and the SIREN differ in depth"
        with torch.no_grad():
            for mine, theirs in zip(mine_all, linears):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        return self


def peak_memory_gib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def timed(fn, device):
    synchronize(device)
    t = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t


def steady_nint_sampler(n: int, device):
    """The NINT sampler as a run on `device` builds it (its generator on the training device, as the
    trainer's: no CPU draws and copies in the timed step), set after its NTK phase: call 101
    refreshes nothing, p_ntk = 0 (30% top error + 70% random)."""
    cfg = load_config("image", overrides=["EXP_CONFIGS.strategy_type=nint", "TRAIN_CONFIGS.iterations=5000"])
    sampler = build_sampler(cfg, n, torch.Generator(device=device).manual_seed(0), signal={"modality": "image"})
    sampler.selection_calls, sampler.p_ntk = 101, 0.0
    return sampler


def bench_size(size, args, device):
    torch.manual_seed(0)
    image = load_image(args.image, size)
    coords = image_grid(size, size).to(device)
    targets = torch.from_numpy(image.reshape(-1, 3)).to(device)
    n = coords.shape[0]
    model_cfg = {"name": "siren", "hidden_layers": args.layers, "hidden_features": args.width}
    model = build_model(model_cfg, 2, 3).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    user = UserSiren(args.layers, args.width).to(device).copy_from(model)
    assert not hasattr(user, "pointwise_mlp")
    user_optimizer = torch.optim.Adam(user.parameters(), lr=1e-4)
    sampler = steady_nint_sampler(n, device)
    B = sampler.batch_size(0)
    random_idx = torch.randperm(n)[:B].to(device)

    step_chunk = chunk_points("auto", device.type, "step")
    forward_chunk = chunk_points("auto", device.type, "forward")

    def forward_all(chunk):
        with torch.no_grad():
            return torch.cat([model(coords[sl]) for sl in chunk_slices(n, chunk)])

    def full_step():  # the plain step, in one piece
        optimization_step(model, optimizer, coords, targets)

    def full_step_chunked():  # what the trainer does (TRAIN_CONFIGS.step_chunk: auto)
        optimization_step(model, optimizer, coords, targets, chunk=step_chunk)

    def int_step(chunks=(0, 0)):  # INT: a no-grad forward over N, the step on the top-B L1 errors
        errors = (forward_all(chunks[0]) - targets).abs().sum(dim=1)
        idx = errors.topk(B, sorted=False).indices
        optimization_step(model, optimizer, coords[idx], targets[idx], chunk=chunks[1])

    def ntk_score():
        ntk_scores_from_targets(model, coords, targets)

    def ntk_unchunked():
        ntk_scores_from_targets(model, coords, targets, chunk_size=n)

    def user_step():
        optimization_step(user, user_optimizer, coords, targets)

    def user_score():
        ntk_scores_from_targets(user, coords, targets)

    def user_jvp():
        _func_vjp_jvp(user, coords, targets=targets, tangent="jvp")

    def nint_step(chunks=(0, 0)):  # exactly the trainer's per-step work (chunks: forward, step)
        ctx = SelectionContext(0, 5000, model, coords, targets, forward_chunk=chunks[0])
        sel = sampler.choose(ctx, B)
        optimization_step(model, optimizer, coords[sel.indices], targets[sel.indices], chunk=chunks[1])

    def floor():
        with torch.no_grad():
            model(coords)
        optimization_step(model, optimizer, coords[random_idx], targets[random_idx])

    if not args.memory_only:  # the two paths score the same network alike
        same = ntk_scores_from_targets(model, coords[:4096], targets[:4096])[0]
        generic = ntk_scores_from_targets(user, coords[:4096], targets[:4096])[0]
        agreement = ((generic - same).abs().max() / same.abs().max()).item()
    auto = (forward_chunk, step_chunk)
    cases = {"full step": full_step, "full step chunked": full_step_chunked,
             "forward": lambda: forward_all(0), "forward chunked": lambda: forward_all(forward_chunk),
             "int step": int_step, "int step chunked": lambda: int_step(auto),
             "ntk score": ntk_score, "ntk unchunked": ntk_unchunked,
             "user step": user_step, "user score": user_score, "user jvp": user_jvp,
             "nint step": nint_step, "nint step chunked": lambda: nint_step(auto), "floor": floor}
    if args.memory_only:
        cases = {"ntk score": ntk_score}
    best = {k: float("inf") for k in cases}
    for fn in cases.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in cases.items():
            best[name] = min(best[name], timed(fn, device))
    print(f"\n{size}x{size} image, N = {n:,}, B = {B:,}, SIREN {args.layers}x{args.width}, device {device}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    for name, t in best.items():
        print(f"  {name:<18} {t * 1e3:10.1f} ms")
    if not args.memory_only:
        print(f"  chunks (auto on {device.type}): forward {forward_chunk:,} points, step {step_chunk:,} points")
        print(f"  ratio full step chunked / one piece  {best['full step chunked'] / best['full step']:.2f}  (target <= 0.7 at 256)")
        print(f"  ratio forward chunked / one piece    {best['forward chunked'] / best['forward']:.2f}")
        print(f"  ratio int step chunked / one piece   {best['int step chunked'] / best['int step']:.2f}  (target <= 0.75 at 256)")
        print(f"  ratio nint step chunked / one piece  {best['nint step chunked'] / best['nint step']:.2f}")
        print(f"  ratio ntk score / full step chunked  {best['ntk score'] / best['full step chunked']:.2f}")
        print(f"  ratio ntk score / full step   {best['ntk score'] / best['full step']:.2f}  (target <= 1.8)")
        print(f"  ratio ntk unchunked / step    {best['ntk unchunked'] / best['full step']:.2f}  (target <= 1.8)")
        print(f"  ratio user score / user step  {best['user score'] / best['user step']:.2f}  (target <= 2.2; generic path)")
        print(f"  ratio user jvp / user step    {best['user jvp'] / best['user step']:.2f}  (plain torch.func VJP + JVP)")
        print(f"  generic vs hand-written scores on 4,096 points: max difference {agreement:.1e} of the largest")
        print(f"  ratio nint step / floor       {best['nint step'] / best['floor']:.2f}  (target <= 1.1)")
    print(f"  peak memory of the process so far: {peak_memory_gib(device):.2f} GiB", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--image", default="images/01.png")
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--memory-only", action="store_true", help="only the NTK score (for the 1024x1024 memory check)")
    args = p.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    for size in args.sizes:
        bench_size(size, args, device)


if __name__ == "__main__":
    main()
