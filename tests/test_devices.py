"""The CUDA path's files and resume checked on this CPU (issue 30, items 1, 3 and 5):
a checkpoint read on any device with its random states on the CPU, a checkpoint written on a
GPU resumed here (and the other way round on a GPU), model.pt loading on a CPU-only machine with
the documented recipe, and the warm-up outside the clock leaving every result as it was."""
import io
import json
import os
import re
import zipfile

import pytest
import torch

from conftest import run_tiny, tiny_config
from utils.engine import checkpoint
from utils.engine.cli import main
from utils.engine.trainer import Interrupted

CPU = torch.device("cpu")


def _interrupted(tiny_image, tmp_path, *overrides, stop_at=15):
    cfg = tiny_config(tiny_image, tmp_path, *overrides)
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=stop_at)
    return str(tmp_path / "run")


def _as_if_written_on_cuda(path, generator_state=None):
    """Rewrite the torch file at `path` as a CUDA machine writes it: every storage tagged cuda:0
    (torch.load without map_location then fails on a CPU-only machine) and, for a checkpoint,
    the sampler's generator state as a CUDA (Philox) generator's: 16 bytes."""
    if generator_state is not None:
        state = torch.load(path, weights_only=False)
        state["sampler"]["generator"] = generator_state
        state["device"] = "cuda:0"
        torch.save(state, path)
    src = zipfile.ZipFile(io.BytesIO(open(path, "rb").read()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            dst.writestr(info.filename, data)
    open(path, "wb").write(out.getvalue())


def _storage_locations(path):
    """The device tags of every storage in a torch file."""
    with zipfile.ZipFile(path) as z:
        pickled = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    return set(re.findall(rb"X.\x00\x00\x00(cpu|cuda[:0-9]*|meta)q", pickled, re.S))


def test_checkpoint_read_for_another_device_keeps_random_states_on_the_cpu(tiny_image, tmp_path):
    """The run's reader, asked for a device that is not the CPU (meta here, CUDA on a GPU), puts the
    sampler's tensors there and leaves the random states as the CPU ByteTensors torch takes
    (read with map_location=device they would land there: 'RNG state must be a torch.ByteTensor')."""
    run_dir = _interrupted(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=soft_mining")
    ckpt = checkpoint.read(os.path.join(run_dir, "checkpoint.pt"), torch.device("meta"))
    for state in (ckpt["torch_rng"], ckpt["sampler"]["generator"]):
        assert state.device.type == "cpu" and state.dtype == torch.uint8
    moved = [v for k, v in ckpt["sampler"].items() if isinstance(v, torch.Tensor) and k != "generator"]
    assert moved and all(v.device.type == "meta" for v in moved)
    torch.set_rng_state(ckpt["torch_rng"])  # takes it as it is
    # the optimizer's state follows the parameters it is loaded into, wherever they are
    model = torch.nn.Linear(2, 32).to("meta")
    optimizer = torch.optim.Adam(model.parameters())
    cpu_model = torch.nn.Linear(2, 32)
    cpu_optimizer = torch.optim.Adam(cpu_model.parameters())
    cpu_model(torch.ones(1, 2)).sum().backward()
    cpu_optimizer.step()
    optimizer.load_state_dict(cpu_optimizer.state_dict())
    assert all(s["exp_avg"].device.type == "meta" for s in optimizer.state.values())


def test_checkpoint_and_model_are_written_with_cpu_tensors(tiny_image, tmp_path):
    run_dir = _interrupted(tiny_image, tmp_path)
    assert _storage_locations(os.path.join(run_dir, "checkpoint.pt")) == {b"cpu"}
    assert main("image", ["--resume", run_dir]) == 0
    assert _storage_locations(os.path.join(run_dir, "model.pt")) == {b"cpu"}


def test_model_pt_loads_with_the_documented_recipe_on_a_cpu_only_machine(tiny_image, tmp_path, monkeypatch):
    summary, run_dir = run_tiny(tiny_config(tiny_image, tmp_path, iterations=10))
    recipe = open(os.path.join(os.path.dirname(__file__), "..", "docs", "training.md")).read()
    assert "torch.load(path, weights_only=True)" in recipe
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = os.path.join(run_dir, "model.pt")
    state = torch.load(path, weights_only=True)
    assert state and all(t.device.type == "cpu" for t in state.values())
    # what the same recipe does with a file of CUDA tensors (model.pt before it was saved on the CPU)
    _as_if_written_on_cuda(path)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)


def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu(tiny_image, tmp_path, capsys):
    """CUDA-tagged storages and a CUDA generator's 16-byte state: the run resumes, says in one
    line that the generator is reseeded from the run's seed and the step, and completes."""
    run_dir = _interrupted(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=uniform")
    _as_if_written_on_cuda(os.path.join(run_dir, "checkpoint.pt"), torch.zeros(16, dtype=torch.uint8))
    capsys.readouterr()
    assert main("image", ["--resume", run_dir]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "random generator" in line]
    assert len(notes) == 1 and "on cuda:0" in notes[0] and "step 15" in notes[0], out
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "completed"


def test_the_reseeded_generator_is_the_same_on_every_machine():
    g = torch.Generator()
    state = checkpoint.fitting_generator_state(g, torch.zeros(16, dtype=torch.uint8), 7, 10, "cuda:0",
                                               log=lambda *a: None)
    assert torch.equal(state, torch.Generator().manual_seed(checkpoint.reseed_value(7, 10)).get_state())
    same = torch.Generator().manual_seed(3).get_state()  # a state that fits is carried over, untouched
    assert checkpoint.fitting_generator_state(torch.Generator(), same, 7, 10, "cpu", log=None) is same


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("first, second", [("cpu", "cuda"), ("cuda", "cpu"), ("cuda", "cuda")])
def test_resume_across_devices_on_a_gpu(tiny_image, tmp_path, first, second):
    """CPU -> CUDA, CUDA -> CPU and CUDA -> CUDA resumes complete; CUDA -> CUDA matches an
    uninterrupted CUDA run."""
    from utils.engine.trainer import train
    from utils.tasks import build_task
    quiet = lambda *a: None  # noqa: E731
    cfg = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=soft_mining", f"TRAIN_CONFIGS.device={first}")
    task = build_task("image", cfg, torch.device(first))
    with pytest.raises(Interrupted):
        train(cfg, task, str(tmp_path / "parts"), torch.device(first), stop_at=15, log=quiet)
    cfg2 = tiny_config(tiny_image, tmp_path, "EXP_CONFIGS.strategy_type=soft_mining", f"TRAIN_CONFIGS.device={second}")
    resumed = train(cfg2, build_task("image", cfg2, torch.device(second)), str(tmp_path / "parts"),
                    torch.device(second), resume=True, log=quiet)
    assert resumed["status"] == "completed" and resumed["iterations"] == 30
    if first == second:
        whole = train(cfg2, build_task("image", cfg2, torch.device(second)), str(tmp_path / "whole"),
                      torch.device(second), log=quiet)
        assert whole["final_psnr"] == resumed["final_psnr"]


# -- the warm-up before the clock -----------------------------------------------------------------

def test_warm_up_leaves_model_optimizer_and_random_states_untouched():
    from utils.engine import warmup
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng, generator = torch.get_rng_state(), torch.Generator().manual_seed(5)
    generator_state = generator.get_state()
    warmup.warm_up(model, 2, 1000, CPU, step_chunk=300, forward_chunk=512)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(generator.get_state(), generator_state)
    assert not warmup.needed(CPU)  # skipped on a CPU (docs/performance.md)


@pytest.mark.parametrize("strategy", ["nint", "soft_mining"])
def test_warm_up_changes_no_metric_and_stays_off_the_clock(tiny_image, tmp_path, monkeypatch, strategy):
    import csv
    import time as _time
    from utils.engine import warmup

    def rows(run_dir):
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in csv.DictReader(f)]
    cfg = lambda: tiny_config(tiny_image, tmp_path, f"EXP_CONFIGS.strategy_type={strategy}")  # noqa: E731
    _, plain = run_tiny(cfg(), run_dir=str(tmp_path / "plain"))
    real = warmup.warm_up
    calls = []

    # A warm-up that takes 1000 s on a clock the test moves (no sleeping, so a loaded machine cannot
    # blur it): none of those seconds may reach the training or the wall clock.
    jump = [0.0]
    perf_counter = _time.perf_counter
    monkeypatch.setattr(_time, "perf_counter", lambda: perf_counter() + jump[0])

    def slow_warm_up(*args, **kwargs):
        calls.append(args)
        real(*args, **kwargs)
        jump[0] += 1000.0
    monkeypatch.setattr(warmup, "needed", lambda device: True)
    monkeypatch.setattr(warmup, "warm_up", slow_warm_up)
    summary, warmed = run_tiny(cfg(), run_dir=str(tmp_path / "warmed"))
    assert calls and rows(warmed) == rows(plain)
    assert summary["train_seconds"] < 1000.0 and summary["wall_seconds"] < 1000.0
