"""checkpoint.pt and model.pt: written with CPU tensors, read on any device.

Every tensor is saved on the CPU, so that a file written on a GPU loads on a machine without
one (`torch.load(path, weights_only=True)`, the recipe of docs/training.md). A checkpoint is
read onto the CPU whatever device wrote it (checkpoints written before this change held
device tensors: map_location='cpu' reads them too), and each part then goes where it is used:
- the random states (torch's global one, the sampler's generator) stay CPU ByteTensors, the
  only form `torch.set_rng_state` and `Generator.set_state` take;
- the model's weights are copied into the model on the run's device, and the optimizer's state
  follows its parameters (torch's Optimizer.load_state_dict moves it, once, at load);
- the sampler's tensors go to the sampler's device.
The generator of the sampler (and of the task's draws) is rebuilt on the run's device: its
state is carried over when the checkpoint's generator was of the same kind; a CPU generator's
state does not fit a CUDA one, nor the other way round, so the run then says so in one line
and goes on with a generator seeded from the run's seed and the step (`reseed_value`).
On the same device, resume stays bit for bit what the uninterrupted run would have done.
"""
import dataclasses

import torch

from utils.errors import UserError

REQUIRED = ("model", "optimizer", "sampler", "logger", "torch_rng", "step")


class CheckpointUnreadable(UserError):
    """checkpoint.pt cannot be read (truncated, empty, not a checkpoint of this program)."""


def to_device(value, device, memo=None):
    """`value` with every tensor inside dicts, lists, tuples and dataclasses moved to `device`
    (a tensor met twice is moved once, so that aliases stay aliases)."""
    memo = {} if memo is None else memo
    if isinstance(value, torch.Tensor):
        if id(value) not in memo:
            memo[id(value)] = value.to(device)
        return memo[id(value)]
    if isinstance(value, dict):
        moved = type(value)((k, to_device(v, device, memo)) for k, v in value.items())
        if hasattr(value, "_metadata"):  # a module's state dict: its version record goes along
            moved._metadata = value._metadata
        return moved
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(to_device(v, device, memo) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: to_device(getattr(value, f.name), device, memo)
                                             for f in dataclasses.fields(value) if f.init})
    return value


def to_cpu(value):
    """`value` with every tensor inside it on the CPU (a CPU tensor is kept as it is)."""
    return to_device(value, torch.device("cpu"))


def save_model(model: torch.nn.Module, path: str):
    """model.pt: the plain state dict, CPU tensors (loads anywhere with weights_only=True)."""
    torch.save(to_cpu(model.state_dict()), path)


def write(state: dict, path: str):
    """checkpoint.pt from `state`, CPU tensors, written to a temporary file and renamed."""
    import os
    torch.save(to_cpu(state), path + ".tmp")
    os.replace(path + ".tmp", path)


def read(path: str, device) -> dict:
    """checkpoint.pt's content, read on the CPU, its sampler state moved to `device` (its random
    states stay CPU ByteTensors); CheckpointUnreadable naming the file when it is truncated,
    empty or not a checkpoint written by a run."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise CheckpointUnreadable(f"checkpoint {path} is unreadable (truncated, empty or not "
                                   f"a checkpoint: {type(e).__name__}{': ' + first if first else ''}); "
                                   f"start a new run instead") from None
    missing = [k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointUnreadable(f"checkpoint {path} is not a checkpoint of a training run "
                                   f"(missing {', '.join(missing)}); start a new run instead")
    if isinstance(ckpt["sampler"], dict):
        generator = ckpt["sampler"].get("generator")
        ckpt["sampler"] = to_device({k: v for k, v in ckpt["sampler"].items() if k != "generator"}, device)
        if generator is not None:
            ckpt["sampler"]["generator"] = generator
    return ckpt


def reseed_value(seed: int, step: int) -> int:
    """The seed of the generator a resumed run continues with when the checkpoint's state does not
    fit its generator: a function of the run's seed and the step, the same on every machine."""
    return (int(seed) * 1_000_003 + int(step)) % (2 ** 63)


def fitting_generator_state(generator: torch.Generator, state, seed: int, step: int, saved_on, log=print):
    """The generator state to restore into `generator`: `state` itself when it fits a generator of
    that kind; otherwise (a checkpoint written on another kind of device) `generator` reseeded
    (`reseed_value`) and its new state, with one line saying so."""
    if isinstance(state, torch.Tensor):
        state = state.cpu() if state.device.type != "meta" else None
    if state is not None:
        trial = torch.Generator(device=generator.device)
        try:
            trial.set_state(state)
            return state
        except (RuntimeError, TypeError, ValueError):
            pass
    where = f"on {saved_on}" if saved_on else "on another device"
    log(f"note: the checkpoint's random generator was {where}; its state does not fit a "
        f"{generator.device.type} generator, so the run continues with one seeded from the run's seed and "
        f"step {step} (its random draws from here differ from an uninterrupted run's)")
    generator.manual_seed(reseed_value(seed, step))
    return generator.get_state()


def restore_rng(state):
    """torch's global (CPU) random state from a checkpoint, as the CPU ByteTensor it takes."""
    torch.set_rng_state(state.to("cpu", torch.uint8) if isinstance(state, torch.Tensor) else state)


def base_lr(ckpt: dict):
    """The base learning rate (TRAIN_CONFIGS.lr, before the schedule) the checkpoint's run had;
    read from its optimizer for checkpoints written before they recorded it."""
    if "base_lr" in ckpt:
        return ckpt["base_lr"]
    groups = ckpt["optimizer"].get("param_groups") or [{}]
    return groups[0].get("initial_lr", groups[0].get("lr"))


def change_lr(optimizer, lr_scheduler, old: float, new: float) -> float:
    """Continue with base learning rate `new` instead of `old` (a resume with TRAIN_CONFIGS.lr
    changed): the rate in effect now is scaled by new / old, the schedule's base rates become `new`,
    and the schedule goes on from there (torch's schedulers step from the current rate).
    Returns the learning rate in effect now."""
    ratio = new / old
    for group in optimizer.param_groups:
        group["lr"] *= ratio
        if "initial_lr" in group:
            group["initial_lr"] = new
    if hasattr(lr_scheduler, "base_lrs"):
        lr_scheduler.base_lrs = [new for _ in lr_scheduler.base_lrs]
    if hasattr(lr_scheduler, "_last_lr"):
        lr_scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    return optimizer.param_groups[0]["lr"]


def resume_lr(ckpt: dict, lr: float, optimizer, lr_scheduler, step: int, log, record) -> str:
    """The learning rate for the start-up line of a resumed run: the one in effect. When the run's
    TRAIN_CONFIGS.lr `lr` (`--resume RUN_DIR TRAIN_CONFIGS.lr=...`, or config.yaml edited) differs from
    the checkpoint's, the optimizer takes it (`change_lr`), `record()` writes it to config.yaml, and a
    note says so. On a schedule whose current rate is not the base one, both are given."""
    old = base_lr(ckpt)
    if old is not None and old != lr:
        now = change_lr(optimizer, lr_scheduler, old, lr)
        record()
        log(f"note: learning rate {lr:g} from step {step} on (the run had {old:g}); config.yaml records it")
    else:
        now = optimizer.param_groups[0]["lr"]
    return lr if now == lr else f"{lr:g} (at step {step} on its schedule: {now:.3g})"
