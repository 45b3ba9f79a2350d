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
from dataclasses import dataclass
from typing import Optional

import torch

from samplers.schedules import BATCH_SIZE_SCHEDULERS, SAMPLE_INTERVALS, batch_size, should_reselect
from utils.devices import forward_in_chunks
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
            self.full_forwards += 1
            self._predictions = forward_in_chunks(self.model, self.coords, self.forward_chunk)
        return self._predictions

    def set_predictions(self, predictions: torch.Tensor):
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
    or `seed` seeds every random draw; `signal` describes the target for samplers that
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
        self.generator = generator if generator is not None else torch.Generator().manual_seed(int(seed))
        # Random draws are made where the generator lives (the trainer's is on the training
        # device), so that a step on a GPU never waits for a host-to-device copy.
        self.device = self.generator.device
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
        self.selection_calls = 0  # how many times choose() has run
        self.full_forwards = 0    # no-grad forward passes over all N points, all steps together

    @classmethod
    def all_params(cls) -> dict:
        """{(section, key): Param} of every constant this sampler takes."""
        return {**{(cls.shared_section, k): p for k, p in cls.shared_params.items()},
                **{(cls.section, k): p for k, p in cls.params.items()}}

    def batch_size(self, step: int) -> int:
        return batch_size(self.scheduler, step, self.total_steps, self.start_ratio, self.n_points)

    def select(self, step, model=None, coords=None, targets=None, forward_chunk: int = 0) -> Selection:
        """The points to train on at `step` (0-based): a Selection (`.indices` [B] into the N points).

        Own loop: `select(step, model, coords, targets)` with coords [N, in] and targets [N, C]
        on the training device (the model is only run, without gradients, by samplers that
        look at errors or scores). The trainer passes a ready SelectionContext as `step` instead.
        """
        if isinstance(step, SelectionContext):
            ctx = step
        else:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step < self.total_steps:
                raise UserValueError(f"step must be a whole number in [0, total_steps) = [0, {self.total_steps}), "
                                     f"got {step!r}")
            self.check_points(coords, targets)
            ctx = SelectionContext(int(step), self.total_steps, model, coords, targets, forward_chunk)
        forwards_before = ctx.full_forwards
        selection = self.next_selection(ctx)
        self.full_forwards += ctx.full_forwards - forwards_before
        selection.coord_grads = self.needs_coord_grads
        return selection

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
        if part is not None:
            selection = selection.part(part)
        loss, point_losses = mse_loss(predictions, targets)
        if selection.weights is None:
            return loss, point_losses
        return (selection.weights * point_losses).mean(), point_losses

    def observe(self, selection: Selection, point_losses: torch.Tensor, coord_grads: Optional[torch.Tensor]):
        """Feedback after the update for samplers that need it (default: none).

        point_losses: the chosen points' squared errors [B] (detached); coord_grads:
        d(loss)/d(x) [B, in] when the sampler `needs_coord_grads`, else None.
        """

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
    def state_dict(self) -> dict:
        state = {k: getattr(self, k) for k in ("_last", "selection_calls", "full_forwards") + tuple(self.state_keys)}
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict):
        self.generator.set_state(state.pop("generator"))
        for k, v in state.items():
            setattr(self, k, v)
