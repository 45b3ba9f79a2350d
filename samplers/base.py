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

Every sampler counts what it did (`counts()`, written to summary.json's `sampler`
block): re-selection calls, no-grad forward passes over all N points, and whatever
defines the method (NTK scores, fitness steps, ...).
"""
from dataclasses import dataclass
from typing import Optional

import torch

from samplers.schedules import batch_size, should_reselect
from utils.errors import UserError


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
            with torch.no_grad():
                if self.forward_chunk and self.n_points > self.forward_chunk:
                    self._predictions = torch.cat([self.model(c) for c in self.coords.split(self.forward_chunk)])
                else:
                    self._predictions = self.model(self.coords)
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

    Subclasses implement `choose(ctx, batch_size) -> Selection` and list any extra
    mutable attributes in `state_keys` so that checkpoints capture them.
    """

    name = "base"
    state_keys: tuple = ()
    # Modalities ('image', 'audio', 'sdf') the sampler is defined for; None = every one.
    modalities = None
    # True for samplers whose observe() needs d(loss)/d(coords) of the chosen points.
    needs_coord_grads = False
    # True when training_loss is a mean of per-point terms, so that the loss of a part of the
    # batch (part=slice) is the same formula on that part: the trainer then accumulates the
    # step chunk by chunk in one pass. False (EVOS, Soft Mining: the loss needs the whole batch,
    # or has side effects): a chunked step first runs a no-grad forward over the batch.
    pointwise_loss = True

    def __init__(self, cfg: dict, n_points: int, total_steps: int, generator: torch.Generator, signal=None):
        nint_cfg = cfg["nint"]
        self.cfg = cfg
        self.n_points = n_points
        self.total_steps = total_steps
        self.generator = generator
        self.signal = signal or {}  # the task's signal description (modality, shape, target); see Task.signal
        if self.modalities is not None and self.signal.get("modality") not in self.modalities:
            raise UserError(f"sampler '{self.name}' is not defined for the {self.signal.get('modality')} modality "
                            f"(it needs {' or '.join(self.modalities)} structure)")
        self.start_ratio = float(nint_cfg["mt_ratio"])
        self.scheduler = nint_cfg["batch_size_scheduler"]
        self.interval = nint_cfg["sample_interval"]
        self.dense2_period = int(nint_cfg["dense2_period"])
        self.reselect_on_resize = bool(int(nint_cfg.get("reselect_on_resize", 0)))
        self._last = None  # the last Selection, reused between re-selections
        self.selection_calls = 0  # how many times choose() has run
        self.full_forwards = 0    # no-grad forward passes over all N points, all steps together

    def batch_size(self, step: int) -> int:
        return batch_size(self.scheduler, step, self.total_steps, self.start_ratio, self.n_points)

    def select(self, ctx: SelectionContext) -> Selection:
        """Indices (and optional weights) of the points to train on at ctx.step."""
        forwards_before = ctx.full_forwards
        selection = self.next_selection(ctx)
        self.full_forwards += ctx.full_forwards - forwards_before
        selection.coord_grads = self.needs_coord_grads
        return selection

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
    def random_indices(self, n: int, k: int, device) -> torch.Tensor:
        """k distinct indices out of range(n), drawn with the sampler's generator."""
        return torch.randperm(n, generator=self.generator)[:k].to(device)

    # -- checkpointing -------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {k: getattr(self, k) for k in ("_last", "selection_calls", "full_forwards") + tuple(self.state_keys)}
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict):
        self.generator.set_state(state.pop("generator"))
        for k, v in state.items():
            setattr(self, k, v)
