"""No host waits in a steady step of any sampler, found on the CPU by utils/host_waits.py.

On a GPU a host wait (a value read on the host, a size that depends on values, a Python value
copied into a device tensor) stalls every step; tests/test_cuda.py checks the same on a GPU with
torch's sync debug mode. A steady step here is one after warm-up that is neither an EVOS fitness
step (its crossover sizes its split on the host, by design) nor a NINT score refresh (the generic
path reads one number to check J v; 6 refreshes in a run with the defaults).
"""
import collections
import os

import pytest
import torch

from models import build_model
from samplers import SAMPLERS, make_sampler
from utils.host_waits import HostWaits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_detector_flags_each_kind_of_host_wait():
    x, idx = torch.rand(10), torch.tensor([1, 2])
    mask = x > 0.5
    cases = {
        "item()": lambda: x.sum().item(), "item()#float": lambda: float(x.sum()), "item()#bool": lambda: bool(x[0] > 0),
        "tolist()": lambda: x.tolist(), "numpy()": lambda: x.numpy(), "nonzero": lambda: x.nonzero(),
        "boolean-mask indexing": lambda: x[mask], "torch.tensor(...)": lambda: torch.tensor([1.0, 2.0]),
        "Python value written through an index tensor": lambda: x.__setitem__(idx, 1.0),
        "copy cpu -> meta": lambda: x.to("meta"), "masked_select": lambda: x.masked_select(mask),
    }
    for expected, call in cases.items():
        with HostWaits() as waits:
            call()
        assert expected.split("#")[0] in waits.found, (expected, waits.found)
    with HostWaits() as waits:  # what a GPU step may do
        x.clone().index_fill_(0, idx, 1.0)
        torch.nonzero_static(mask, size=3)
        x.topk(3)
        x.clone()[2:5] = 0.0
        x[3]
    assert waits.found == []


def _grid(size=16):
    axis = torch.linspace(-1, 1, size)
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)


@pytest.mark.parametrize("model_kind", ["siren", "module"])
@pytest.mark.parametrize("name", list(SAMPLERS) + ["nint_top_k_0", "soft_mining_continuous"])
def test_a_steady_step_of_every_sampler_never_waits_for_the_device(name, model_kind):
    torch.manual_seed(0)
    image = torch.rand(16, 16, 3)
    coords, targets = _grid(), image.reshape(-1, 3)
    if model_kind == "siren":  # hand-written NTK passes (pointwise_mlp)
        model = build_model({"name": "siren", "hidden_layers": 2, "hidden_features": 32}, 2, 3)
    else:  # any module: the generic autograd path
        model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    constants = {"nint_top_k_0": {"top_k": 0}, "soft_mining_continuous": {"snap_to_pixels": 0}}.get(name, {})
    name = {"nint_top_k_0": "nint", "soft_mining_continuous": "soft_mining"}.get(name, name)
    if name.startswith("evos"):
        constants.update(fitness_interval_start=5, fitness_interval_end=5, cfs_steps=100)  # sparse steps carry CFS
    if name.startswith("nint"):
        constants.update(alpha=4)
    sampler = make_sampler(name, total_steps=40, ratio=0.25, image=image, **constants)
    checked = 0
    for step in range(30):
        refresh = name.startswith("nint") and (step + 1 == 1 or (step + 1) % 4 == 0)
        steady = step >= 12 and step not in getattr(sampler, "fitness_at", ()) and not refresh
        with HostWaits() as waits:
            selection = sampler.select(step, model, coords, targets)
            x, y = selection.points(coords, targets)
            loss, point_losses = sampler.training_loss(selection, model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with HostWaits() as feedback:
            sampler.observe(selection, point_losses.detach(), x.grad)
        if steady:
            assert waits.found + feedback.found == [], (step, waits.found + feedback.found)
            checked += 1
    assert checked >= 8


# -- the GPU benchmarks measure the step a run takes ------------------------------------------------

def test_ntk_cost_draws_on_the_training_device(monkeypatch):
    # Before, its NINT step drew with a CPU generator: a CPU randperm of N and a blocking copy per step.
    from benchmarks import ntk_cost
    asked, real = [], torch.Generator

    def generator(device="cpu"):
        asked.append(torch.device(device).type)
        return real()  # a CPU one stands in: this machine has no GPU

    monkeypatch.setattr(torch, "Generator", generator)
    sampler = ntk_cost.steady_nint_sampler(64, torch.device("cuda"))
    assert asked == ["cuda"] and sampler.p_ntk == 0.0 and sampler.selection_calls == 101


def test_syncs_counts_per_step_only_what_the_step_does(monkeypatch, tmp_path):
    # Before, a synchronisation in building the run or in the finite checks counted as one of the step.
    import argparse
    import warnings
    from benchmarks.gpu import syncs
    from samplers.base import Sampler
    from utils.engine.run import Run
    real_select, real_check = Sampler.select, Run.check_finite

    def select(self, *args, **kwargs):
        warnings.warn("called a synchronizing CUDA operation")
        return real_select(self, *args, **kwargs)

    def check_finite(self, *args, **kwargs):
        warnings.warn("called a synchronizing CUDA operation")
        return real_check(self, *args, **kwargs)

    monkeypatch.setattr(Sampler, "select", select)
    monkeypatch.setattr(Run, "check_finite", check_finite)
    args = argparse.Namespace(image=os.path.join(ROOT, "images", "01.png"), size=16, steps=3, device="cpu")
    counts = syncs.census("uniform", args, str(tmp_path))
    phases = collections.Counter()
    for (where, phase), n in counts.items():
        phases[phase] += n
        assert ("select" in where) == (phase == "step"), (where, phase)
    assert phases["step"] == 3 and phases["outside the step"] >= 1
