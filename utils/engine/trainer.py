"""The one training loop shared by every task.

    for step in range(S):
        selection = sampler.select(ctx)              # which points to train on
        loss on those points, one Adam step          # the only thing the clock times,
        every eval_interval: task.evaluate(model)    # ...evaluation is excluded

Time accounting: `train_seconds` sums sampling + update per step, with the device
synchronized before each clock read; evaluation, logging and checkpoints are
outside the clock.
"""
import json
import math
import os
import signal
import time

import numpy as np
import torch

from models import build_model, count_parameters
from samplers import build_sampler
from samplers.base import SelectionContext, mse_loss
from utils.engine.config import dump_config
from utils.errors import UserError
from utils.engine.run_logger import RunLogger


class TrainingDiverged(Exception):
    """The loss became NaN or inf."""


class Interrupted(Exception):
    """Ctrl-C (or a test's stop_at): a checkpoint was written; --resume continues."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("TRAIN_CONFIGS.device=cuda but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


def make_lr_scheduler(name: str, optimizer, total_steps: int):
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=1e-6)
    if name == "multistep":
        milestones = [total_steps // 2, (3 * total_steps) // 4]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    return None


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


def save_snapshot(task, model, run_dir: str, seconds: float, step: int, train_seconds: float):
    """The task's reconstruction after `seconds` of training, indexed in snapshots.json with the
    step and the exact training seconds at which it was taken (the first step past `seconds`)."""
    name = task.save_snapshot(model, run_dir, seconds)
    if name is None:
        return
    path = os.path.join(run_dir, "snapshots.json")
    index = {}
    if os.path.isfile(path):
        with open(path) as f:
            index = json.load(f)
    index[f"{seconds:g}"] = {"file": name, "step": step, "train_seconds": round(train_seconds, 4)}
    with open(path, "w") as f:
        json.dump(index, f, indent=1)


def train(cfg: dict, task, run_dir: str, device: torch.device, resume: bool = False,
          stop_at: int = None, log=print) -> dict:
    """Train on `task` with `cfg`, writing outputs to `run_dir`. Returns summary.json's content.

    resume: continue from run_dir/checkpoint.pt. stop_at: behave as if Ctrl-C came
    before that step (tests use it to exercise the interrupt path deterministically).
    """
    train_cfg = cfg["TRAIN_CONFIGS"]
    S = int(train_cfg["iterations"])
    seed = int(train_cfg["seed"])
    if train_cfg.get("num_threads"):
        torch.set_num_threads(int(train_cfg["num_threads"]))
    torch.manual_seed(seed)
    np.random.seed(seed)

    model_cfg = cfg["model_config"]
    model = build_model(model_cfg, task.in_features, task.out_features).to(device)
    n_params = count_parameters(model)
    lr = train_cfg["lr"] if train_cfg["lr"] is not None else float(model_cfg.get("lr", 1e-4))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    lr_scheduler = make_lr_scheduler(train_cfg["lr_scheduler"], optimizer, S)
    generator = torch.Generator().manual_seed(seed)
    sampler = build_sampler(cfg, task.n_points, generator, signal=task.signal)
    logger = RunLogger(run_dir, task.metrics, task.thresholds)
    ckpt_path = os.path.join(run_dir, "checkpoint.pt")

    start_step, train_seconds, eval_seconds = 0, 0.0, 0.0
    if resume:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if lr_scheduler is not None:
            lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        sampler.load_state_dict(ckpt["sampler"])
        logger.load_state_dict(ckpt["logger"])
        torch.set_rng_state(ckpt["torch_rng"])
        start_step, train_seconds, eval_seconds = ckpt["step"], ckpt["train_seconds"], ckpt["eval_seconds"]
        log(f"resuming {run_dir} at step {start_step} of {S}")
    else:
        dump_config(cfg, os.path.join(run_dir, "config.yaml"))

    log(f"signal: {task.describe()} | model: {model_cfg['name']} "
        f"{model_cfg['hidden_layers']}x{model_cfg['hidden_features']} ({n_params:,} parameters) | "
        f"sampler: {cfg['EXP_CONFIGS']['strategy_type']} | device: {device} | lr {lr:g}")

    wandb_logger = None
    if cfg["WANDB_CONFIGS"]["use_wandb"]:
        from utils.engine.wandb_logger import WandbLogger
        wandb_logger = WandbLogger(cfg, run_dir, os.path.basename(run_dir))

    def save_checkpoint(step):
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "lr_scheduler": lr_scheduler.state_dict() if lr_scheduler is not None else None,
                 "sampler": sampler.state_dict(), "logger": logger.state_dict(),
                 "torch_rng": torch.get_rng_state(), "step": step,
                 "train_seconds": train_seconds, "eval_seconds": eval_seconds}
        torch.save(state, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    def summary_extra(status, step):
        return {"status": status, "iterations": step, "train_seconds": train_seconds,
                "eval_seconds": eval_seconds, "parameters": n_params, "device": str(device),
                "strategy": cfg["EXP_CONFIGS"]["strategy_type"], "model": model_cfg["name"],
                "signal": task.describe(), "sampler": sampler.counts(),
                "time_accounting": "training seconds only (sampling + update, device synchronized); "
                                   "evaluation excluded"}

    progress = None
    if train_cfg["progress"]:
        from tqdm import tqdm
        progress = tqdm(total=S, initial=start_step, desc=cfg["EXP_CONFIGS"]["strategy_type"],
                        dynamic_ncols=True, mininterval=0.5)
    eval_interval = int(train_cfg["eval_interval"])
    last_metric = None
    # Reconstructions at fixed training times (the paper's Fig. 3 compares samplers at equal time).
    pending_snapshots = sorted(t for t in set(train_cfg.get("snapshot_seconds") or [])
                               if not resume or t > train_seconds)
    step = start_step
    with _InterruptFlag() as interrupt:
        try:
            for step in range(start_step, S):
                if interrupt.raised or (stop_at is not None and step >= stop_at):
                    raise Interrupted
                synchronize(device)
                t0 = time.perf_counter()

                coords, targets = task.batch(step, generator)
                ctx = SelectionContext(step, S, model, coords, targets, forward_chunk=int(train_cfg["forward_chunk"]))
                selection = sampler.select(ctx)
                x = selection.coords if selection.coords is not None else coords[selection.indices]
                y = selection.targets if selection.targets is not None else targets[selection.indices]
                if sampler.needs_coord_grads:
                    x = x.detach().requires_grad_(True)
                loss_value, point_loss = optimization_step(
                    model, optimizer, x, y, lambda p, t: sampler.training_loss(selection, p, t), step)
                if lr_scheduler is not None:
                    lr_scheduler.step()
                sampler.observe(selection, point_loss.detach(), x.grad if sampler.needs_coord_grads else None)

                synchronize(device)
                train_seconds += time.perf_counter() - t0

                done = step + 1
                while pending_snapshots and train_seconds >= pending_snapshots[0]:
                    t_snap = time.perf_counter()
                    save_snapshot(task, model, run_dir, pending_snapshots.pop(0), done, train_seconds)
                    eval_seconds += time.perf_counter() - t_snap
                if done % eval_interval == 0 or done == S:
                    t_eval = time.perf_counter()
                    metrics = task.evaluate(model)
                    row = {"step": done, "train_seconds": round(train_seconds, 4), **metrics,
                           "batch_size": int(len(x)), "loss": loss_value}
                    logger.log(row)
                    task.after_evaluation(done, metrics, run_dir)
                    last_metric = metrics.get(task.progress_metric)
                    if wandb_logger is not None:
                        wandb_logger.log_metrics(done, train_seconds, dict(metrics, loss=loss_value, batch_size=len(x)))
                        first_media = not wandb_logger.media_logged  # the ground truth goes with the first
                        if first_media or done % wandb_logger.log_images_every < eval_interval or done == S:
                            wandb_logger.log_media(done, task.wandb_media(model, first=first_media))
                    save_checkpoint(done)
                    eval_seconds += time.perf_counter() - t_eval
                if progress is not None:
                    progress.update(1)
                    if last_metric is not None:
                        progress.set_postfix_str(f"{task.progress_metric} {last_metric:.2f} | train {train_seconds:.1f}s",
                                                 refresh=False)
        except Interrupted:
            save_checkpoint(step)
            logger.write_summary(summary_extra("interrupted", step))
            if progress is not None:
                progress.close()
            raise
        except TrainingDiverged:
            logger.write_summary(summary_extra("diverged", step))
            if progress is not None:
                progress.close()
            raise
    if progress is not None:
        progress.close()

    torch.save(model.state_dict(), os.path.join(run_dir, "model.pt"))
    task.save_outputs(model, run_dir)
    sampler.save_figures(run_dir)
    summary = logger.write_summary(summary_extra("completed", S))
    if wandb_logger is not None:
        wandb_logger.finish()
    return summary
