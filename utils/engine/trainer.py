"""The one training loop shared by every task.

Each step: the sampler chooses the points (`Selection`), the selection resolves them
to (x, y), one Adam step on the sampler's loss, and the sampler gets its feedback.
Only that is timed (device synchronized); snapshots, evaluation, logging and
checkpoints are one call each on the `Run` (utils/engine/run.py), off the clock.
"""
import math
import os
import signal
from functools import partial

import torch

from samplers.base import SelectionContext, mse_loss
from utils.devices import chunk_slices, forward_in_chunks
from utils.engine import warmup
from utils.engine.run import Run, TrainingDiverged  # noqa: F401 (TrainingDiverged: raised here too)
from utils.errors import stopping
from utils.locks import lock_folder


class Interrupted(Exception):
    """Ctrl-C, SIGTERM (or a test's stop_at): a checkpoint was written; --resume continues.
    `signal_name`: SIGINT, SIGTERM or None (stop_at)."""

    def __init__(self, signal_name=None):
        super().__init__(signal_name or "stop_at")
        self.signal_name = signal_name


def optimization_step(model, optimizer, x, y, loss_fn=mse_loss, step=0, chunk=0, pointwise=True,
                      check_finite=True):
    """One Adam step on loss_fn(model(x), y) -> (loss [0-dim tensor], per-point loss [B]), detached.

    The trainer passes the sampler's `training_loss` (MSE, possibly weighted or with a
    sampler's extra term). chunk: points per chunk (0 = one piece); the gradient is the
    same to float rounding, but on a CPU cache-sized chunks are much faster. With
    `pointwise` (a loss that is a mean of per-point terms) each chunk's loss, weighted
    by its share of the batch, is back-propagated in turn. Otherwise (a loss that needs
    the whole batch) a no-grad forward gives all predictions first, the loss and its
    gradient with respect to them are computed once, and each chunk's forward is then
    back-propagated with its part of that gradient. check_finite: read the loss and raise
    TrainingDiverged before updating when it is NaN or inf; on a GPU that read waits for
    the device, so the trainer checks at every step on a CPU and at evaluation steps on a GPU.
    """
    optimizer.zero_grad(set_to_none=True)
    pieces = chunk_slices(len(x), chunk)
    if len(pieces) == 1:
        loss, point_loss = loss_fn(model(x), y)
        loss.backward()
    elif pointwise:
        loss, point_loss = 0.0, []
        for piece in pieces:
            part_loss, part_points = loss_fn(model(x[piece]), y[piece], piece)
            part_loss = part_loss * ((piece.stop - piece.start) / len(x))
            part_loss.backward()
            loss, point_loss = loss + part_loss.detach(), point_loss + [part_points.detach()]
        point_loss = torch.cat(point_loss)
    else:
        predictions = forward_in_chunks(model, x, chunk)
        predictions.requires_grad_(True)
        loss, point_loss = loss_fn(predictions, y)
        loss.backward()
        for piece in pieces:
            model(x[piece]).backward(predictions.grad[piece])
    loss = loss.detach()
    if check_finite and not math.isfinite(loss_value := float(loss)):  # float(): a device sync on a GPU
        raise TrainingDiverged(f"loss became {loss_value} at step {step}", step)
    optimizer.step()
    return loss, point_loss.detach()


class _InterruptFlag:
    """The first Ctrl-C (SIGINT) or SIGTERM (what Slurm, Ray and `timeout` send) asks the loop to
    stop at the next step boundary, checkpoint and summary written. A second Ctrl-C aborts; a
    repeated SIGTERM is ignored (utils.errors.stopping: a group signal and reproduce.py's
    forwarded one reach a training process both)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.raised = None      # the name of the signal received, None while none came
        self._previous = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.raised:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: the user will not wait
            return
        stopping(now=True)  # from now on, until the process exits, a SIGTERM is ignored
        self.raised = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def train(cfg: dict, task, run_dir: str, device, resume: bool = False, stop_at: int = None, log=print) -> dict:
    """Train on `task` with `cfg`, writing outputs to `run_dir`. Returns summary.json's content.

    resume: continue from run_dir/checkpoint.pt. stop_at: behave as if Ctrl-C came
    before that step (tests use it to exercise the interrupt path deterministically).
    The run folder is locked meanwhile (utils/locks.py): a second process training or
    resuming it is refused in one line.
    """
    os.makedirs(run_dir, exist_ok=True)
    with lock_folder(run_dir, "training it"):
        return _train(cfg, task, run_dir, device, resume, stop_at, log)


def _train(cfg, task, run_dir, device, resume, stop_at, log) -> dict:
    run = Run(cfg, task, run_dir, device, resume, log)
    model, optimizer, sampler, clock, S = run.model, run.optimizer, run.sampler, run.clock, run.total_steps
    step = done = run.step
    if warmup.needed(device):  # the first kernel loads off the clock; model, optimizer and generators untouched
        warmup.warm_up(model, task.in_features, task.n_points, device, run.step_chunk, run.forward_chunk)
    clock.start_wall()
    with _InterruptFlag() as interrupt:
        try:
            # A resumed run the stop setting had already ended trains no further step
            for step in range(run.step, run.step if run.stopped_by else S):
                if interrupt.raised or (stop_at is not None and step >= stop_at):
                    raise Interrupted(interrupt.raised)
                with clock.training():
                    coords, targets = task.batch(step, run.generator)
                    selection = sampler.select(SelectionContext(step, S, model, coords, targets, run.forward_chunk))
                    x, y = selection.points(coords, targets)
                    loss, point_loss = optimization_step(model, optimizer, x, y, partial(sampler.training_loss, selection),
                                                         step, run.step_chunk, sampler.pointwise_loss,
                                                         run.check_loss_every_step or run.evaluation_due(step + 1))
                    run.lr_scheduler.step()
                    sampler.observe(selection, point_loss, x.grad)
                done = step + 1
                if run.snapshot_due():
                    with clock.off():  # bookkeeping, not training: off the training clock
                        run.check_finite(done)  # no picture of a diverged model either
                    run.take_snapshots(done)
                if run.evaluation_due(done):
                    with clock.off():
                        run.check_finite(done)  # model, optimizer and sampler state: nothing logged or saved otherwise
                        metrics = run.evaluate(done)
                        run.log(done, metrics, float(loss), len(x))
                        run.save_checkpoint(done)
                run.show_progress()
                if run.out_of_time():  # TRAIN_CONFIGS.max_train_seconds: evaluated above, done
                    break
                if run.evaluation_due(done) and run.stop_due(done):  # the stop setting: evaluated above
                    break
        except Interrupted:
            try:
                run.save_checkpoint(step)  # checked finite first: a non-finite state is never checkpointed
            except TrainingDiverged as e:
                raise _diverged(run, step, e) from None
            run.write_summary("interrupted", step)
            raise
        except TrainingDiverged as e:
            raise _diverged(run, step, e)
        finally:
            run.close_progress()
    try:
        return run.finish(done)  # checked finite first: model.pt never holds a NaN or inf
    except TrainingDiverged as e:
        raise _diverged(run, done, e)


def _diverged(run, step: int, error: TrainingDiverged) -> TrainingDiverged:
    """summary.json `diverged` (its `iterations`: the steps completed when the divergence was
    found); the error, told the step of the last (finite) checkpoint on disk."""
    run.write_summary("diverged", step if error.step is None else error.step)
    error.checkpoint_step = run.checkpoint_step
    return error
