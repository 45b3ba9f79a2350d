"""The one training loop shared by every task.

Each step: the sampler chooses the points (`Selection`), the selection resolves them
to (x, y), one Adam step on the sampler's loss, and the sampler gets its feedback.
Only that is timed (device synchronized); snapshots, evaluation, logging and
checkpoints are one call each on the `Run` (utils/engine/run.py), off the clock.
"""
import math
import signal
from functools import partial

from samplers.base import SelectionContext, mse_loss
from utils.engine.run import Run


class TrainingDiverged(Exception):
    """The loss became NaN or inf."""


class Interrupted(Exception):
    """Ctrl-C (or a test's stop_at): a checkpoint was written; --resume continues."""


def optimization_step(model, optimizer, x, y, loss_fn=mse_loss, step=0):
    """One Adam step on loss_fn(model(x), y) -> (loss, per-point loss [B]).

    The trainer passes the sampler's `training_loss` (MSE, possibly weighted or with a
    sampler's extra term). Returns (loss as a float, per-point loss). Raises
    TrainingDiverged before updating when the loss is NaN or inf.
    """
    loss, point_loss = loss_fn(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    loss_value = loss.item()  # also a device sync
    if not math.isfinite(loss_value):
        raise TrainingDiverged(f"loss became {loss_value} at step {step}")
    optimizer.step()
    return loss_value, point_loss


class _InterruptFlag:
    """First Ctrl-C asks the loop to stop at the next step boundary; a second one aborts."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(cfg: dict, task, run_dir: str, device, resume: bool = False, stop_at: int = None, log=print) -> dict:
    """Train on `task` with `cfg`, writing outputs to `run_dir`. Returns summary.json's content.

    resume: continue from run_dir/checkpoint.pt. stop_at: behave as if Ctrl-C came
    before that step (tests use it to exercise the interrupt path deterministically).
    """
    run = Run(cfg, task, run_dir, device, resume, log)
    model, optimizer, sampler, clock, S = run.model, run.optimizer, run.sampler, run.clock, run.total_steps
    step = done = run.step
    clock.start_wall()
    with _InterruptFlag() as interrupt:
        try:
            for step in range(run.step, S):
                if interrupt.raised or (stop_at is not None and step >= stop_at):
                    raise Interrupted
                with clock.training():
                    coords, targets = task.batch(step, run.generator)
                    selection = sampler.select(SelectionContext(step, S, model, coords, targets, run.forward_chunk))
                    x, y = selection.points(coords, targets)
                    loss, point_loss = optimization_step(model, optimizer, x, y,
                                                         partial(sampler.training_loss, selection), step)
                    run.lr_scheduler.step()
                    sampler.observe(selection, point_loss.detach(), x.grad)
                done = step + 1
                run.take_snapshots(done)
                if run.evaluation_due(done):
                    with clock.off():
                        metrics = run.evaluate(done)
                        run.log(done, metrics, loss, len(x))
                        run.save_checkpoint(done)
                run.show_progress()
                if run.out_of_time():  # TRAIN_CONFIGS.max_train_seconds: evaluated above, done
                    break
        except Interrupted:
            run.save_checkpoint(step)
            run.write_summary("interrupted", step)
            raise
        except TrainingDiverged:
            run.write_summary("diverged", step)
            raise
        finally:
            run.close_progress()
    return run.finish(done)
