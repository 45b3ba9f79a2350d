"""The one small interface every sampler shares.

A sampler is asked once per step which points to train on. It sees the step,
the model and the current points through a `SelectionContext`, never the
trainer. It owns its state and its random generator (seeded from the run).

The batch size B comes from the shared batch-size scheduler and *when* to
re-select from the shared sampling interval (samplers/schedules.py); between
re-selections the last indices are reused, also when the scheduler has changed B
meanwhile (the batch size lags until the next re-selection, as in the INT and NINT
releases; `nint.reselect_on_resize: 1` re-selects whenever B changes instead).
A sampler only implements `choose(ctx, batch_size)`.

Constants: the batch constants above are declared once here (`Sampler.shared_params`, config
section `nint`, the paper's keys); each sampler declares its own in `params` (config section
`section`), as utils/params.py `Param`s. The constructor takes them as keyword arguments;
the config schema, its validation and config/reference.md are built from these declarations.

Own training loop (README, "Use a sampler in your own loop"): per step
`selection = sampler.select(step, model, coords, targets)`, `x, y = selection.points(coords,
targets)`, the loss from `sampler.training_loss(selection, model(x), y)`, the update, then
`sampler.observe(selection, point_losses.detach(), x.grad)`.

Every sampler counts what it did (`counts()`, written to summary.json's `sampler`
block): re-selection calls, no-grad forward passes over all N points, and whatever
defines the method (NTK scores, fitness steps, ...).
"""
import numbers
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from samplers.schedules import BATCH_SIZE_SCHEDULERS, SAMPLE_INTERVALS, batch_size, should_reselect
from utils.devices import chunk_points, forward_in_chunks
from utils.errors import UserError, UserValueError
from utils.params import Param, python_name, resolve, unknown_constant


def mse_loss(predictions: torch.Tensor, targets: torch.Tensor, part=None):
    """(mean squared error over points and channels, per-point squared error [B]).

    part: ignored (the loss of a part of the batch is the same formula on that part)."""
    point_losses = (predictions - targets).pow(2).mean(dim=1)
    return point_losses.mean(), point_losses


@dataclass
class Selection:
    """The points to train on at one step.

    indices: LongTensor [B] into the N points. weights: optional per-point loss
    weights [B]. coords/targets: optional points off the grid (samplers that move
    continuous positions, e.g. Soft Mining); when given they are used instead of
    indexing with `indices`. coord_grads: hand the coordinates out as a leaf that
    requires grad, so that after the update x.grad holds d(loss)/d(x) for the
    sampler's `observe` (set by `Sampler.select` from `needs_coord_grads`).
    """
    indices: torch.Tensor
    weights: Optional[torch.Tensor] = None
    coords: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None
    coord_grads: bool = False

    def points(self, coords: torch.Tensor, targets: torch.Tensor):
        """(x [B, in], y [B, C]) to train on, given the step's points coords [N, in], targets [N, C]."""
        x = self.coords if self.coords is not None else coords[self.indices]
        y = self.targets if self.targets is not None else targets[self.indices]
        if self.coord_grads:
            x = x.detach().requires_grad_(True)
        return x, y

    def part(self, piece: slice) -> "Selection":
        """The selection restricted to the points piece (a slice of its B points)."""
        return Selection(self.indices[piece], None if self.weights is None else self.weights[piece],
                         None if self.coords is None else self.coords[piece],
                         None if self.targets is None else self.targets[piece], self.coord_grads)


def check_output(out, rows: int, channels: int):
    """UserValueError naming `model` unless its output `out` is a tensor [rows, channels]."""
    if not isinstance(out, torch.Tensor):
        raise UserValueError(f"model must return a tensor [N, C]; it returned a {type(out).__name__} (wrap it so "
                             f"that it returns the prediction alone)")
    if out.ndim != 2 or out.shape[0] != rows or out.shape[1] != channels:
        raise UserValueError(f"model returns {tuple(out.shape)} for {rows} points, but the targets have {channels} "
                             f"channel(s): the model's outputs and the targets' channels must agree")


def _same_device(a: torch.device, b: torch.device) -> bool:
    """a and b are one device ('cuda' and 'cuda:0' count as one)."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _identity(t: torch.Tensor) -> tuple:
    """What tells a tensor's values apart without reading them: its storage, shape, dtype, device
    and version (which every in-place write moves on; an inference-mode tensor has none)."""
    try:
        version = t._version
    except RuntimeError:
        version = None
    return t.data_ptr(), version, tuple(t.shape), t.dtype, str(t.device)


def _to_device(value, device):
    """value with every tensor in it (in a Selection, dict, list or tuple) moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Selection):
        return Selection(*(_to_device(getattr(value, f), device) for f in ("indices", "weights", "coords",
                                                                            "targets")), value.coord_grads)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def _plain(value):
    """value as torch.load(weights_only=True) reads it: a Selection as a dict of its fields, a
    NumPy array as a tensor (the inverse is `_from_plain`); tensors are copied (the state owns them)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, Selection):
        return {"selection": {f: _plain(getattr(value, f)) for f in ("indices", "weights", "coords", "targets",
                                                                       "coord_grads")}}
    if isinstance(value, np.ndarray):
        return {"ndarray": torch.from_numpy(value.copy())}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _from_plain(value):
    """The inverse of `_plain` (tensors copied, so that loading a state never shares the caller's)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        if set(value) == {"selection"}:
            return Selection(**{f: _from_plain(v) for f, v in value["selection"].items()})
        if set(value) == {"ndarray"}:
            return value["ndarray"].numpy().copy()
        return {k: _from_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_plain(v) for v in value)
    return value


class SelectionContext:
    """What a sampler may look at for one step.

    coords [N, in], targets [N, C] on the training device. `predictions()` and
    `errors()` run one no-grad forward over all N points the first time either is
    asked for in this step and cache it, so that several consumers share it.
    A sampler that already ran a forward pass (NINT's VJP) hands it over with
    `set_predictions` instead of paying for a second one.
    """

    def __init__(self, step: int, total_steps: int, model, coords, targets, forward_chunk: int = 0):
        self.step = step
        self.total_steps = total_steps
        self.model = model
        self.coords = coords
        self.targets = targets
        self.forward_chunk = forward_chunk
        self._predictions = None
        self._errors = None
        self.full_forwards = 0  # no-grad forward passes over all N points run in this step

    @property
    def n_points(self) -> int:
        return self.coords.shape[0]

    def predictions(self) -> torch.Tensor:
        if self._predictions is None:
            if not callable(self.model):
                raise UserValueError(f"model must be a module mapping coords [N, in] to [N, C]; got "
                                     f"{type(self.model).__name__} (pass it as select(step, model, coords, targets))")
            self.full_forwards += 1
            self._predictions = forward_in_chunks(self._checked_model, self.coords, self.forward_chunk)
        return self._predictions

    def _checked_model(self, x: torch.Tensor) -> torch.Tensor:
        """model(x), refused in one line unless it is a tensor [len(x), C] with C the targets' channels."""
        out = self.model(x)
        check_output(out, len(x), self.targets.shape[1])
        return out

    def set_predictions(self, predictions: torch.Tensor):
        check_output(predictions, self.n_points, self.targets.shape[1])
        self._predictions = predictions.detach()
        self._errors = None

    def errors(self) -> torch.Tensor:
        """Per-point L1 error summed over channels, [N] (INT's score)."""
        if self._errors is None:
            self._errors = (self.predictions() - self.targets).abs().sum(dim=1)
        return self._errors


class Sampler:
    """Base class: handles the batch size schedule, the re-selection interval and state.

    Constructor: `Sampler(n_points, total_steps, generator=None, signal=None, seed=0, **constants)`.
    `constants` are the declared constants by name (`shared_params`, then the class's own
    `params`), each defaulting to its declared default; `generator` (a torch.Generator)
    or `seed` seeds every random draw (a sampler made without a generator makes its own and
    follows the data: at the first `select` it moves it, and every tensor it keeps, to the
    coordinates' device; see `follow`); `signal` describes the target for samplers that
    need its structure (Task.signal: {'modality': 'image', 'shape': (H, W), 'image': [H, W, C]
    in [0, 1], 'value_range': (lo, hi)}). `samplers.build_sampler` fills them from a run's
    config sections, `samplers.make_sampler` from plain arguments.

    Subclasses implement `choose(ctx, batch_size) -> Selection`, declare their constants in
    `params` under the config section `section`, and list any extra mutable attributes in
    `state_keys` so that checkpoints capture them.
    """

    name = "base"
    state_keys: tuple = ()
    # Modalities ('image', 'audio', 'sdf') the sampler is defined for; None = every one.
    modalities = None
    # True for samplers whose observe() needs d(loss)/d(coords) of the chosen points.
    needs_coord_grads = False
    # True for samplers that do part of their work in training_loss (EVOS ranks there) or in
    # observe (Soft Mining moves its points): an own loop that leaves the call out is told at
    # the next select().
    needs_training_loss = False
    needs_observe = False
    # True for samplers whose units follow signal['value_range'] (EVOS's Laplacian, Soft Mining's
    # drift): select() refuses targets outside that range.
    uses_value_range = False
    # False for a sampler that trains on every point whatever the batch ratio (Standard): a ratio
    # below one point is then no error.
    batch_from_ratio = True
    # True when training_loss is a mean of per-point terms, so that the loss of a part of the
    # batch (part=slice) is the same formula on that part: the trainer then accumulates the
    # step chunk by chunk in one pass. False (EVOS, Soft Mining: the loss needs the whole batch,
    # or has side effects): a chunked step first runs a no-grad forward over the batch.
    pointwise_loss = True
    # The batch constants every sampler shares, in the config section `nint` (the paper's keys).
    shared_section = "nint"
    shared_params = {
        "mt_ratio": Param(0.2, "starting batch ratio B/N, for every sampler but standard (all points)", "(0, 1]"),
        "batch_size_scheduler": Param("constant", "how B grows over training, for every sampler "
                                      "(step: 10 stages; cosine: INT's)", choices=BATCH_SIZE_SCHEDULERS),
        "sample_interval": Param("dense", "when to re-select; between re-selections the last batch is reused",
                                 choices=SAMPLE_INTERVALS),
        "dense2_period": Param(5, "re-selection period of `dense2` (the NINT release: 5; the paper's text: 2)",
                               "[1, inf)"),
        "reselect_on_resize": Param(0, "1 = also re-select whenever the scheduler changes B (0 = the releases: "
                                    "B lags until the next re-selection)", choices=(0, 1)),
    }
    # The sampler's own constants (config section `section`); none for the base rules.
    section = None
    params: dict = {}

    def __init__(self, n_points: int, total_steps: int, generator: torch.Generator = None, signal=None,
                 seed: int = 0, **constants):
        for what, value in (("n_points", n_points), ("total_steps", total_steps)):
            if isinstance(value, bool) or not float(value).is_integer() or value < 1:
                raise UserValueError(f"{what} must be a whole number >= 1, got {value!r}")
        self.n_points = int(n_points)
        self.total_steps = int(total_steps)
        # Without a generator: our own, seeded with `seed`, which follows the data (see `follow`).
        self.follows_data = generator is None
        self.seed = int(seed) if generator is None else generator.initial_seed()
        self.generator = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        # Random draws are made, and the tensors a sampler keeps live, on `device`: where the
        # generator lives (the trainer's is on the training device; `follow` for one's own loop),
        # so that a step on a GPU never waits for a host-to-device copy.
        self.device = self.generator.device
        self._pending_generator_state = None  # a state loaded before `follow` chose the device
        self.signal = signal or {}  # the task's signal description (modality, shape, target); see Task.signal
        if self.modalities is not None and self.signal.get("modality") not in self.modalities:
            raise UserError(f"sampler '{self.name}' is not defined for the {self.signal.get('modality')} modality "
                            f"(it needs {' or '.join(self.modalities)} structure)")
        shared_names = set(self.shared_params) | {python_name(k) for k in self.shared_params}
        own_names = set(self.params) | {python_name(k) for k in self.params}
        for k in constants:
            if k not in shared_names | own_names:
                raise unknown_constant(self.name, k, [python_name(k) for k in {**self.shared_params, **self.params}])
        shared = {k: v for k, v in constants.items() if k in shared_names}
        own = {k: v for k, v in constants.items() if k not in shared}
        base = resolve(self.shared_params, shared, self.name, self.shared_section)
        self.constants = {**base, **resolve(self.params, own, self.name, self.section)}
        self.start_ratio = float(base["mt_ratio"])
        if self.batch_from_ratio and self.start_ratio * self.n_points < 1:  # never raised to one point in silence
            raise UserValueError(f"{self.shared_section}.mt_ratio={base['mt_ratio']!r} gives a batch of "
                                 f"{self.start_ratio * self.n_points:.3g} points out of {self.n_points}; the "
                                 f"smallest ratio for this signal is 1/{self.n_points} = {1 / self.n_points:.3g}")
        self.scheduler = base["batch_size_scheduler"]
        self.interval = base["sample_interval"]
        self.dense2_period = int(base["dense2_period"])
        self.reselect_on_resize = bool(int(base["reselect_on_resize"]))
        self._last = None  # the last Selection, reused between re-selections
        self._channels = None  # own loop: the targets' channel count at the first select()
        self._checked = []     # own loop: keys of the (coords, targets) whose values were checked
        self._awaiting = ()    # own loop: the calls the last select() still waits for
        self.selection_calls = 0  # how many times choose() has run
        self.full_forwards = 0    # no-grad forward passes over all N points, all steps together

    @classmethod
    def all_params(cls) -> dict:
        """{(section, key): Param} of every constant this sampler takes."""
        return {**{(cls.shared_section, k): p for k, p in cls.shared_params.items()},
                **{(cls.section, k): p for k, p in cls.params.items()}}

    def batch_size(self, step: int) -> int:
        return batch_size(self.scheduler, step, self.total_steps, self.start_ratio, self.n_points)

    def select(self, step, model=None, coords=None, targets=None, forward_chunk=None) -> Selection:
        """The points to train on at `step` (0-based): a Selection (`.indices` [B] into the N points).

        Own loop: `select(step, model, coords, targets)` with coords [N, in] and targets [N, C]
        on the training device (the model is only run, without gradients, by samplers that
        look at errors or scores). forward_chunk: points per piece of that no-grad forward over
        all N (None = as the trainer chunks it on the coordinates' device, utils/devices.py;
        0 = one piece). The arguments are checked at every call (shapes, devices, the calls the
        last step left out) and, once per tensor, their values (finite; within `value_range` for
        the samplers whose units follow it). The trainer passes a ready SelectionContext as `step`.
        """
        if isinstance(step, SelectionContext):
            ctx = step
        else:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step < self.total_steps:
                raise UserValueError(f"step must be a whole number in [0, total_steps) = [0, {self.total_steps}), "
                                     f"got {step!r}")
            if self._awaiting:
                raise UserValueError(f"{self.name}: {' and '.join(self._awaiting)} was not called after the last "
                                     f"select(); this sampler does part of its work there (README, own loop)")
            self.check_points(coords, targets)
            if self.follows_data:
                self.follow(coords.device)
            elif not _same_device(coords.device, self.device):
                raise UserValueError(f"coords are on {coords.device} but this sampler draws on {self.device} (its "
                                     f"device= or its first coordinates'); give every step's points on one device")
            self.check_values(coords, targets)
            if forward_chunk is None:
                forward_chunk = chunk_points("auto", coords.device.type, "forward")
            ctx = SelectionContext(int(step), self.total_steps, model, coords, targets, forward_chunk)
            self._awaiting = tuple(call for call, needed in (("training_loss", self.needs_training_loss),
                                                             ("observe", self.needs_observe)) if needed)
        forwards_before = ctx.full_forwards
        selection = self.next_selection(ctx)
        self.full_forwards += ctx.full_forwards - forwards_before
        selection.coord_grads = self.needs_coord_grads
        return selection

    def follow(self, device):
        """Take the device of the data: the generator and every tensor this sampler keeps move to
        `device` (once, at the first select() of a sampler made without a generator or device=).

        The new generator is seeded with the sampler's seed, as make_sampler(..., device=device)
        would have made it (draws made while the sampler was built, e.g. Expansive's anchor trim,
        stay those of the CPU generator). The meta device holds no values and no generator: draws
        are then shaped on it with the CPU generator (a dry run)."""
        self.follows_data = False
        device = torch.device(device)
        pending, self._pending_generator_state = self._pending_generator_state, None
        if not _same_device(device, self.device):
            if device.type != "meta":
                try:
                    self.generator = torch.Generator(device=device).manual_seed(self.seed)
                except RuntimeError as e:
                    raise UserValueError(f"coords are on {device}, where torch cannot make a random generator "
                                         f"({str(e).splitlines()[0][:120]}); give make_sampler(..., device=...)") from None
            self.device = device
            for key, value in list(vars(self).items()):
                if key not in ("generator", "signal") and isinstance(value, (torch.Tensor, Selection, dict, list)):
                    setattr(self, key, _to_device(value, device))
        if pending is not None:
            self._restore_generator(pending)

    def check_values(self, coords, targets):
        """Once per tensor given (not at every step: on a GPU a read waits for the device): coords and
        targets are finite and, for a sampler whose units follow value_range, the targets lie in it
        (to 1% of its span). Tensors without values (the meta device) are not read."""
        if coords.device.type == "meta" or targets.device.type == "meta":
            return
        key = (_identity(coords), _identity(targets))
        if key in self._checked:
            return
        lo, hi = self.signal.get("value_range", (0.0, 1.0))
        finite_c, finite_t, low, high = torch.stack([
            torch.isfinite(coords).all().double(), torch.isfinite(targets).all().double(),
            targets.detach().min().double(), targets.detach().max().double()]).tolist()
        for what, finite in (("coords", finite_c), ("targets", finite_t)):
            if not finite:
                raise UserValueError(f"{what} hold NaN or inf values; a sampler needs finite {what}")
        slack = 0.01 * (hi - lo)
        if self.uses_value_range and (low < lo - slack or high > hi + slack):
            raise UserValueError(f"targets span [{low:g}, {high:g}] but value_range is ({lo:g}, {hi:g}); "
                                 f"give make_sampler(..., value_range=(lo, hi)) for the range your targets "
                                 f"are scaled to (the image= stays in [0, 1])")
        self._checked = (self._checked + [key])[-4:]

    def check_points(self, coords, targets):
        """UserValueError (a ValueError) naming the argument unless coords [N, in] and targets
        [N, C] are tensors with N = n_points and, for an image sampler, C = the image's channels."""
        for what, value in (("coords", coords), ("targets", targets)):
            if not isinstance(value, torch.Tensor) or value.ndim != 2:
                shape = tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
                raise UserValueError(f"{what} must be a 2D tensor [N, features], got {shape}")
            if value.shape[0] != self.n_points:
                raise UserValueError(f"{what} has {value.shape[0]} rows; this sampler was made for "
                                     f"n_points={self.n_points}")
        if coords.device != targets.device:
            raise UserValueError(f"coords are on {coords.device} but targets on {targets.device}; give both on "
                                 f"one device")
        for what, value in (("coords", coords), ("targets", targets)):
            if not value.is_floating_point():
                raise UserValueError(f"{what} must be a floating-point tensor, got {value.dtype}")
        image = self.signal.get("image")
        if image is not None and targets.shape[1] != image.shape[-1]:
            raise UserValueError(f"targets have {targets.shape[1]} channel(s) but the image given to the "
                                 f"sampler has {image.shape[-1]}")
        if self._channels is None:
            self._channels = targets.shape[1]
        elif targets.shape[1] != self._channels:
            raise UserValueError(f"targets have {targets.shape[1]} channel(s) but had {self._channels} at the "
                                 f"first select(); give the same targets' channels at every step")

    def next_selection(self, ctx: SelectionContext) -> Selection:
        """The selection rule shared by all samplers (subclasses with their own override this)."""
        if self.interval == "void":
            return Selection(torch.arange(self.n_points, device=ctx.coords.device))
        # The releases re-select only when the interval says so: between re-selections the
        # last batch is reused even when the scheduler has changed B meanwhile.
        resized = (self.reselect_on_resize and self._last is not None
                   and len(self._last.indices) != self.batch_size(ctx.step))
        if (self._last is None or resized
                or should_reselect(self.interval, ctx.step, self.total_steps, self.dense2_period)):
            self.selection_calls += 1
            self._last = self.choose(ctx, self.batch_size(ctx.step))
        return self._last

    def counts(self) -> dict:
        """What this sampler did so far (summary.json's `sampler` block).

        selections: re-selection calls (choose() runs); full_forwards: no-grad forward
        passes over all N points. Subclasses add the counts that define their method.
        """
        return {"selections": self.selection_calls, "full_forwards": self.full_forwards}

    def choose(self, ctx: SelectionContext, batch_size: int) -> Selection:
        raise NotImplementedError

    def training_loss(self, selection: Selection, predictions: torch.Tensor, targets: torch.Tensor, part=None):
        """(loss to minimise, per-point squared error [B]) on the chosen points.

        predictions, targets: [B, C] (or the rows of the slice `part` of the batch, for a
        chunked step of a `pointwise_loss` sampler). Default: the mean squared error over
        points and channels, weighted per point by `selection.weights` when given. A sampler
        whose loss depends on this very forward pass overrides it and sets
        `pointwise_loss = False` (EVOS adds a Laplacian term, Soft Mining derives its
        importance weights from the same predictions).
        """
        self.check_loss_inputs(selection, predictions, targets, part)
        if part is not None:
            selection = selection.part(part)
        loss, point_losses = mse_loss(predictions, targets)
        if selection.weights is None:
            return loss, point_losses
        return (selection.weights * point_losses).mean(), point_losses

    def check_loss_inputs(self, selection: Selection, predictions, targets, part=None):
        """UserValueError naming the argument unless predictions and targets are tensors of one
        shape [B, C], B the selection's points (or its `part`), C the channels of select()'s
        targets. Shapes only: nothing is read, at every call. The call select() waited for is done."""
        self._awaiting = tuple(call for call in self._awaiting if call != "training_loss")
        for what, value in (("predictions", predictions), ("targets", targets)):
            if not isinstance(value, torch.Tensor):
                raise UserValueError(f"{what} must be a tensor [B, C], got a {type(value).__name__} (a model that "
                                     f"returns a tuple: pass its prediction alone)")
        rows = len(selection.indices) if part is None else len(range(len(selection.indices))[part])
        if predictions.ndim != 2 or tuple(predictions.shape) != tuple(targets.shape) or predictions.shape[0] != rows:
            raise UserValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} must "
                                 f"both be [B, C] with B = {rows}, the selection's points")
        if self._channels is not None and targets.shape[1] != self._channels:
            raise UserValueError(f"targets have {targets.shape[1]} channel(s) but select() was given "
                                 f"{self._channels}")

    def check_feedback(self, selection: Selection, point_losses, coord_grads):
        """UserValueError naming the argument unless point_losses is [B] and, for a sampler that
        needs_coord_grads, coord_grads is [B, in] (x.grad after the backward). Shapes only."""
        self._awaiting = tuple(call for call in self._awaiting if call != "observe")
        rows = len(selection.indices)
        if not isinstance(point_losses, torch.Tensor) or tuple(point_losses.shape) != (rows,):
            shape = tuple(point_losses.shape) if hasattr(point_losses, "shape") else type(point_losses).__name__
            raise UserValueError(f"point_losses must be [B] = [{rows}] (the second value of training_loss), "
                                 f"got {shape}")
        if not self.needs_coord_grads:
            return
        if coord_grads is None:
            raise UserValueError(f"coord_grads is None; {self.name} needs x.grad, with x from selection.points(...) "
                                 f"(it requires grad) after loss.backward()")
        width = selection.coords.shape[1] if selection.coords is not None else None
        if (not isinstance(coord_grads, torch.Tensor) or coord_grads.ndim != 2 or coord_grads.shape[0] != rows
                or (width is not None and coord_grads.shape[1] != width)):
            shape = tuple(coord_grads.shape) if hasattr(coord_grads, "shape") else type(coord_grads).__name__
            raise UserValueError(f"coord_grads must be x.grad, [B, in] with B = {rows}, got {shape}")

    def observe(self, selection: Selection, point_losses: torch.Tensor, coord_grads: Optional[torch.Tensor]):
        """Feedback after the update for samplers that need it (default: none).

        point_losses: the chosen points' squared errors [B] (detached); coord_grads:
        d(loss)/d(x) [B, in] when the sampler `needs_coord_grads`, else None.
        """
        self.check_feedback(selection, point_losses, coord_grads)

    def save_figures(self, run_dir: str):
        """Write sampler-specific figures at the end of a run (default: none)."""

    # -- helpers for subclasses ---------------------------------------------------
    def randperm(self, n: int) -> torch.Tensor:
        """A random permutation of range(n) on the generator's device."""
        return torch.randperm(n, generator=self.generator, device=self.device)

    def random_indices(self, n: int, k: int, device) -> torch.Tensor:
        """k distinct indices out of range(n), drawn with the sampler's generator."""
        return self.randperm(n)[:k].to(device)

    # -- checkpointing -------------------------------------------------------------
    def _state_names(self) -> tuple:
        return ("_last", "selection_calls", "full_forwards") + tuple(self.state_keys)

    def state_dict(self) -> dict:
        """Everything a resumed sampler needs to go on as if never stopped: its type and size
        (`sampler`, `n_points`), what it keeps between steps (its `state_keys`), its counts and
        its generator's state. Tensors, numbers, strings, lists and dicts only (copies), so that
        torch.save writes it and torch.load(path, weights_only=True) reads it back."""
        state = {"sampler": self.name, "n_points": self.n_points}
        state.update({k: _plain(getattr(self, k)) for k in self._state_names()})
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict):
        """Restore a state_dict() (its argument is left as it is). Refused in one line, naming
        `state`, when it is another sampler type's or size's; states written before they named
        their type and size load as before."""
        if not isinstance(state, dict) or "generator" not in state:
            raise UserValueError(f"state must be a sampler's state_dict(), got a {type(state).__name__}"
                                 f"{' without a generator' if isinstance(state, dict) else ''}")
        kind, size = state.get("sampler", self.name), state.get("n_points", self.n_points)
        if kind != self.name:
            raise UserValueError(f"state is a {kind!r} sampler's state; this sampler is {self.name!r}")
        if size != self.n_points:
            raise UserValueError(f"state is for n_points={size}; this sampler has n_points={self.n_points}")
        expected = set(self._state_names())
        missing, extra = expected - set(state), set(state) - expected - {"sampler", "n_points", "generator"}
        if missing or extra:
            raise UserValueError(f"state does not fit a {self.name!r} sampler (" + "; ".join(
                part for part in (f"missing {', '.join(sorted(missing))}" if missing else "",
                                  f"unknown {', '.join(sorted(extra))}" if extra else "") if part) + ")")
        for k in expected:
            setattr(self, k, _to_device(_from_plain(state[k]), self.device))
        if self.follows_data:  # the device is chosen at the first select(): the generator's state waits
            self._pending_generator_state = state["generator"]
        else:
            self._restore_generator(state["generator"])

    def _restore_generator(self, generator_state: torch.Tensor):
        """The generator's saved state; one that torch cannot give this generator (saved on another
        kind of device) is said in one line and the generator reseeded from its seed and the
        selection count."""
        try:
            self.generator.set_state(generator_state.detach().to("cpu"))
        except (RuntimeError, TypeError, ValueError) as e:
            seed = (self.seed + self.selection_calls) % (1 << 63)
            warnings.warn(f"{self.name}: the saved generator state does not fit a generator on {self.device} "
                          f"({str(e).splitlines()[0][:100]}); reseeded with {seed} (the seed + the selections made)",
                          RuntimeWarning)
            self.generator.manual_seed(seed)
