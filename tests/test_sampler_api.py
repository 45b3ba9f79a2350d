"""The sampler API in one's own loop: it follows the data's device, checks what it is given
(shapes at every call, values once per tensor), and its state round-trips (docs/running.md,
"The sampler API")."""
import io
import warnings

import numpy as np
import pytest
import torch

from models import build_model
from samplers import SAMPLERS, make_sampler
from utils.errors import UserError
from utils.host_waits import HostWaits

IMAGE = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0))
AXIS = torch.linspace(-1, 1, 16)
COORDS = torch.stack(torch.meshgrid(AXIS, AXIS, indexing="ij"), dim=-1).reshape(-1, 2)
TARGETS = IMAGE.reshape(-1, 3)
EVOS_FAST = {"fitness_interval_start": 3, "fitness_interval_end": 3}


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3))


def _sampler(name, **kwargs):
    extra = EVOS_FAST if name.startswith("evos") else {}
    return make_sampler(name, total_steps=20, ratio=0.25, image=IMAGE, **{**extra, **kwargs})


def _steps(sampler, model, steps, coords=COORDS, targets=TARGETS, start=0):
    """The README's loop for `steps` steps; the selections' indices."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3) if coords.device.type != "meta" else None
    chosen = []
    for step in range(start, start + steps):
        selection = sampler.select(step, model, coords, targets)
        x, y = selection.points(coords, targets)
        loss, point_losses = sampler.training_loss(selection, model(x), y)
        model.zero_grad()
        loss.backward()
        if optimizer:
            optimizer.step()
        sampler.observe(selection, point_losses.detach(), x.grad)
        chosen.append(selection.indices)
    return chosen


def _error(call):
    with pytest.raises(ValueError) as e:
        call()
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)
    return str(e.value)


# -- the device follows the data --------------------------------------------------------------------

# EVOS's crossover sizes its split on the host, which the meta device cannot: its fitness steps have
# no dry run. NINT runs its hand-written NTK passes (the generic path reads its J v check).
@pytest.mark.parametrize("name", [n for n in SAMPLERS if n not in ("evos", "evos_no_cfs")])
def test_a_sampler_made_without_device_follows_the_coordinates(name):
    # Before, soft_mining crashed at its second select ("Tensor on device meta is not on the expected
    # device cpu") and the others kept their tensors on the CPU, copying them at every step.
    sampler = _sampler(name)
    assert sampler.device.type == "cpu" and sampler.follows_data
    model = build_model({"name": "siren", "hidden_layers": 1, "hidden_features": 16}, 2, 3).to("meta")
    chosen = _steps(sampler, model, 6, COORDS.to("meta"), TARGETS.to("meta"))
    assert sampler.device.type == "meta" and all(c.device.type == "meta" for c in chosen)
    kept = {k: v.device.type for k, v in vars(sampler).items() if isinstance(v, torch.Tensor)}
    assert set(kept.values()) <= {"meta"}, kept
    if name == "soft_mining":
        assert kept["positions"] == kept["edge_probs"] == "meta"
    # the meta device holds no generator: its draws are shaped there with the CPU one
    assert sampler.generator.device.type == "cpu"
    # the first coordinates chose the device: later ones on another are refused in one line
    assert "coords are on cpu but this sampler draws on meta" in _error(
        lambda: sampler.select(6, model, COORDS, TARGETS))


def test_a_sampler_made_with_device_keeps_it():
    sampler = make_sampler("uniform", 256, 10, device="cpu")
    assert not sampler.follows_data
    assert "draws on cpu" in _error(lambda: sampler.select(0, None, COORDS.to("meta"), TARGETS.to("meta")))


def test_following_the_data_on_the_cpu_changes_no_draw():
    a, b = make_sampler("nint", 256, 20, seed=3), make_sampler("nint", 256, 20, seed=3, device="cpu")
    for x, y in zip(_steps(a, _model(), 5), _steps(b, _model(), 5)):
        assert torch.equal(x, y)


@pytest.mark.parametrize("kwargs,named", [
    (dict(device="tpu"), "device='tpu' is not a torch device"),
    (dict(device="cuda"), "device='cuda' but torch finds no CUDA GPU"),
    (dict(device="meta"), "device='meta' cannot hold a random generator"),
    (dict(seed=2 ** 70), "seed must be below 2**64"),
])
def test_make_sampler_names_a_bad_device_or_seed(kwargs, named, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert named in _error(lambda: make_sampler("nint", 64, 10, **kwargs))


# -- what select and training_loss accept -----------------------------------------------------------

def test_targets_whose_channels_differ_from_the_models_outputs_are_refused():
    # Before, NINT and training_loss broadcast [B, 3] - [B, 1] and trained on it.
    for name in ("nint", "int", "nint_no_ntk"):
        sampler = make_sampler(name, 256, 10)
        message = _error(lambda: sampler.select(0, _model(), COORDS, TARGETS[:, :1]))
        assert message.startswith("model returns (") and "targets" in message, message
    sampler = make_sampler("uniform", 256, 10)
    selection = sampler.select(0, _model(), COORDS, TARGETS)
    x, y = selection.points(COORDS, TARGETS)
    assert _error(lambda: sampler.training_loss(selection, _model()(x)[:, :1], y)).startswith("predictions (51, 1)")
    assert "select() was given 3" in _error(lambda: sampler.training_loss(selection, _model()(x)[:, :1], y[:, :1]))
    assert "B = 51" in _error(lambda: sampler.training_loss(selection, _model()(x)[:7], y[:7]))


@pytest.mark.parametrize("name", ["nint", "int", "evos", "soft_mining"])
def test_a_model_returning_a_tuple_or_a_plain_function_is_named(name):
    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def forward(self, x):
            return self.net(x), x

    sampler = _sampler(name)
    if name in ("nint", "int"):  # they run the model in select
        assert _error(lambda: sampler.select(0, Pair(), COORDS, TARGETS)).startswith("model must return a tensor")
    selection = sampler.select(0, _model(), COORDS, TARGETS)
    x, y = selection.points(COORDS, TARGETS)
    assert "a tuple" in _error(lambda: sampler.training_loss(selection, Pair()(x), y))
    if name == "nint":
        fresh = make_sampler("nint", 256, 10)
        assert "torch.nn.Module" in _error(lambda: fresh.select(0, lambda c: _model()(c), COORDS, TARGETS))
        assert "model must be a module" in _error(lambda: make_sampler("int", 256, 10).select(0, None, COORDS, TARGETS))


@pytest.mark.parametrize("what", ["coords", "targets"])
def test_nan_coordinates_or_targets_are_refused(what):
    bad = (COORDS if what == "coords" else TARGETS).clone()
    bad[5, 0] = float("nan")
    args = (bad, TARGETS) if what == "coords" else (COORDS, bad)
    assert _error(lambda: make_sampler("uniform", 256, 10).select(0, None, *args)).startswith(f"{what} hold NaN")


@pytest.mark.parametrize("name", ["evos", "evos_no_cfs", "soft_mining"])
def test_targets_outside_the_value_range_are_refused(name):
    # Before, x255 targets or targets in [-1, 1] with the default range silently rescaled the units.
    assert "value_range is (0, 1)" in _error(lambda: _sampler(name).select(0, _model(), COORDS, TARGETS * 255))
    assert _error(lambda: _sampler(name).select(0, _model(), COORDS, TARGETS * 2 - 1)).startswith("targets span [-0.99")
    _sampler(name, value_range=(-1, 1)).select(0, _model(), COORDS, TARGETS * 2 - 1)  # said: accepted
    _sampler(name, value_range=(0, 255)).select(0, _model(), COORDS, TARGETS * 255)


def test_values_are_read_once_per_tensor():
    sampler, model = make_sampler("uniform", 256, 10), _model()
    with HostWaits() as first:
        sampler.select(0, model, COORDS, TARGETS)
    with HostWaits() as second:
        sampler.select(1, model, COORDS, TARGETS)
    assert first.found == ["tolist()"] and second.found == []
    targets = TARGETS.clone()
    sampler.select(2, model, COORDS, targets)
    targets[0, 0] = float("nan")  # written in place: its version moved on, so it is read again
    assert _error(lambda: sampler.select(3, model, COORDS, targets)).startswith("targets hold NaN")


def test_select_chunks_its_forward_as_the_trainer_does(monkeypatch):
    sizes = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def forward(self, x):
            sizes.append(len(x))
            return self.net(x)

    coords, targets = torch.rand(10000, 2), torch.rand(10000, 3)
    make_sampler("int", 10000, 10).select(0, Spy(), coords, targets)
    assert sizes == [4096, 4096, 1808]  # utils/devices.py: 4096 points on a CPU
    sizes.clear()
    make_sampler("int", 10000, 10).select(0, Spy(), coords, targets, forward_chunk=0)
    assert sizes == [10000]


# -- the calls a sampler needs ----------------------------------------------------------------------

def test_an_evos_loop_without_training_loss_is_told():
    # Before, EVOS never ranked its points and trained on all of them at every step, in silence.
    sampler, model = _sampler("evos"), _model()
    selection = sampler.select(0, model, COORDS, TARGETS)
    x, y = selection.points(COORDS, TARGETS)
    ((model(x) - y) ** 2).mean().backward()
    message = _error(lambda: sampler.select(1, model, COORDS, TARGETS))
    assert message.startswith("evos: training_loss was not called after the last select()"), message


def test_soft_mining_needs_observe_with_the_coordinates_gradient():
    sampler, model = _sampler("soft_mining"), _model()
    selection = sampler.select(0, model, COORDS, TARGETS)
    x, y = selection.points(COORDS, TARGETS)
    loss, point_losses = sampler.training_loss(selection, model(x), y)
    assert "soft_mining: observe was not called" in _error(lambda: sampler.select(1, model, COORDS, TARGETS))
    assert _error(lambda: sampler.observe(selection, point_losses.detach(), None)).startswith("coord_grads is None")
    assert "coord_grads must be x.grad" in _error(lambda: sampler.observe(selection, point_losses.detach(),
                                                                          torch.zeros(3, 2)))
    assert "point_losses must be [B]" in _error(lambda: sampler.observe(selection, point_losses[:4], torch.zeros(64, 2)))


# -- state ------------------------------------------------------------------------------------------

def _trained(name, steps=5):
    sampler, model = _sampler(name), _model()
    _steps(sampler, model, steps)
    return sampler, model


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_saved_state_loads_with_weights_only_and_goes_on_alike(name):
    sampler, model = _trained(name)
    state = sampler.state_dict()
    assert state["sampler"] == name and state["n_points"] == 256
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # before: a Selection (and NINT's arrays) refused this
    twin = _sampler(name)
    twin.load_state_dict(loaded)
    twin.load_state_dict(loaded)  # the argument is left as it is: a second load works (before: KeyError)
    assert set(loaded) == set(state) and "generator" in loaded
    state_copy = {k: v for k, v in twin.state_dict().items()}
    model_twin = _model()
    model_twin.load_state_dict(model.state_dict())
    for a, b in zip(_steps(sampler, model, 4, start=5), _steps(twin, model_twin, 4, start=5)):
        assert torch.equal(a, b)
    assert twin.counts() == sampler.counts()
    assert state_copy["selection_calls"] == 5 or name.startswith("evos")


@pytest.mark.parametrize("source,target,named", [
    ("int", "nint", "state is a 'int' sampler's state; this sampler is 'nint'"),
    ("nint", "evos", "state is a 'nint' sampler's state; this sampler is 'evos'"),
])
def test_another_samplers_state_is_refused(source, target, named):
    state = _trained(source)[0].state_dict()
    assert _error(lambda: _sampler(target).load_state_dict(state)).startswith(named)
    state.pop("sampler")  # an old state, without its type: its keys tell
    assert "state does not fit" in _error(lambda: _sampler(target).load_state_dict(state))


def test_a_state_of_another_size_is_refused():
    big = make_sampler("nint", 4096, 10)
    big.select(0, _model(), torch.rand(4096, 2), torch.rand(4096, 3))
    message = _error(lambda: make_sampler("nint", 256, 10).load_state_dict(big.state_dict()))
    assert message == "state is for n_points=4096; this sampler has n_points=256"  # before: a raw IndexError later


def test_a_state_saved_before_states_named_their_type_still_loads():
    from samplers.base import Selection
    sampler, _ = _trained("nint")
    state = sampler.state_dict()
    old = {k: v for k, v in state.items() if k not in ("sampler", "n_points")}
    old["_last"] = Selection(state["_last"]["selection"]["indices"])  # pickled as the object it was
    twin = _sampler("nint")
    twin.load_state_dict(old)
    assert torch.equal(twin._last.indices, sampler._last.indices) and twin.selection_calls == 5


def test_a_generator_state_of_another_device_kind_reseeds_in_one_line():
    sampler, _ = _trained("uniform")
    state = sampler.state_dict()
    state["generator"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state is 16 bytes
    twin = _sampler("uniform")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        twin.load_state_dict(state)
        twin.select(5, _model(), COORDS, TARGETS)  # the device, and so the generator, is chosen here
    assert len(caught) == 1 and "reseeded" in str(caught[0].message) and "\n" not in str(caught[0].message)


def test_a_state_is_not_shared_with_the_sampler():
    sampler, _ = _trained("soft_mining")
    state = sampler.state_dict()
    positions = state["positions"].clone()
    twin = _sampler("soft_mining")
    twin.load_state_dict(state)
    _steps(twin, _model(), 2, start=5)
    assert torch.equal(state["positions"], positions)
    assert np.array_equal(state["positions"].numpy(), positions.numpy())
