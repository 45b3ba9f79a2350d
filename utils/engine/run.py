"""One training run: what the loop carries, and each thing it does besides the step, as one call.

A Run builds the model, the optimizer, its learning-rate schedule and the sampler from
the configuration (seeded), restores them from checkpoint.pt on --resume, and writes
the run folder: metrics.csv and summary.json (utils/engine/run_logger.py), the wandb
log (utils/engine/wandb_logger.py), checkpoint.pt, snapshots and the final outputs.
The loop itself is utils/engine/trainer.py.

Time accounting (`Clock`): `train_seconds` sums sampling + update per step, with the
device synchronized before each clock read; evaluation, logging, snapshots and
checkpoints run off the clock and are summed in `eval_seconds`. `wall_seconds` is the
loop's elapsed wall time, evaluation and everything else included, summed over the
segments of a resumed run.

The NINT release's clock (`release_seconds`, a metrics.csv column of runs that evaluate at
every step, TRAIN_CONFIGS.eval_interval 1: `reproduce.py speedup --release-clock`). The
NINT release's loop computes PSNR and SSIM at every step on the prediction of all N points
its sampler already holds (`self.preds`), so its per-step evaluation costs the metrics, not
an extra forward. `release_seconds` = training seconds + what the release's loop would add
per step (RELEASE_EVAL_FORWARD):
  NINT, INT and Standard (the NINT release's loop): the metrics alone, at every step. Their
    samplers hold a prediction of all N at every step: NINT's and INT's from their last
    re-selection (the step's own with the dense interval; stale between re-selections with
    dense2 / incremental / decremental, as is the PSNR the release reports), Standard's from
    its training forward over all N (the release's Standard sampler keeps `self.preds = y`).
  EVOS: the metrics alone at a fitness step (its training forward is over all N), one
    forward plus the metrics at its sparse steps.
  Expansive, Uniform, EGRA, Soft Mining (the EVOS release's loop, which evaluates with a
    forward of its own): one forward plus the metrics, at every step.
The metrics' seconds are the evaluation's measured seconds less one forward's, timed once
per segment (the best of three).

TRAIN_CONFIGS.max_train_seconds > 0 ends training at the first step whose training
clock has passed it: that step is evaluated and the run completes there (summary.json's
`iterations` is that step, `stopped_by` says why); `iterations` still sets the schedules.
The stop setting (TRAIN_CONFIGS.stop_thresholds / stop_after_step / stop_step_cap,
utils/engine/stop.py) ends it the same way at an evaluation: `stopped_by` thresholds or cap.
"""
import dataclasses
import hashlib
import json
import math
import os
import time
from contextlib import contextmanager

import numpy as np
import torch

from models import build_model, count_parameters
from samplers import SAMPLERS, build_sampler
from utils.engine import checkpoint
from utils.engine.checkpoint import CheckpointUnreadable  # noqa: F401 (raised by Run on --resume)
from utils.engine.config import dump_config
from utils.engine.task_keys import COSINE_LR_MIN, LR_SCHEDULERS, MULTISTEP_GAMMA, MULTISTEP_MILESTONES
from utils.devices import chunk_points
from utils.engine.run_logger import RunLogger
from utils.engine.stop import StopRule
from utils.errors import UserError

TIME_ACCOUNTING = "training seconds only (sampling + update, device synchronized); evaluation excluded"
# The release's clock: which steps' evaluation costs a forward over all N besides the metrics.
# 'never': the metrics alone at every step, since the strategy's sampler in the NINT release's
# loop holds a prediction of all N at every step (NINT, INT: the last re-selection's; Standard:
# its training forward's, `self.preds = y`); 'sparse steps': all but EVOS's fitness steps (their
# training forward is over all N); every other strategy: every step (the EVOS release's loop).
RELEASE_EVAL_FORWARD = {"nint": "never", "nint_no_ntk": "never", "int": "never", "standard": "never",
                        "evos": "sparse steps", "evos_no_cfs": "sparse steps", "evos_no_crossover": "sparse steps"}


def sampler_constants_of(strategy: str):
    """{'SECTION.key': declared default} of every constant sampler `strategy` takes (None: no such
    sampler). For code above the engine (utils/reproduce) that must not import samplers/ itself."""
    cls = SAMPLERS.get(strategy)
    if cls is None:
        return None
    return {f"{section}.{key}": param.default for (section, key), param in cls.all_params().items()}


def release_eval_needs_forward(strategy: str, sampler, step: int) -> bool:
    """Whether the release's loop pays a forward over all N to evaluate after 0-based `step`."""
    rule = RELEASE_EVAL_FORWARD.get(strategy, "every step")
    if rule == "never":
        return False
    if rule == "sparse steps":
        return step not in getattr(sampler, "fitness_at", ())
    return True


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("TRAIN_CONFIGS.device=cuda but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_AUTO_THREADS = None  # the automatic thread count, decided once per process
_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice (one per core), before any run changes it


def busy_cores(seconds: float = 0.25):
    """How many cores other programs keep busy now: the non-idle share of all cores' time over
    `seconds` (Linux /proc/stat), times the core count; None where that cannot be read. Not the
    load average, which still counts a run that ended a minute ago (a sweep's previous run)."""
    def read():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait
    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1.0 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def thread_count(setting: int, log=print) -> int:
    """CPU threads torch uses for this run (>= 1); sets them. setting: TRAIN_CONFIGS.num_threads.

    > 0: that many. 0 (automatic): OMP_NUM_THREADS or MKL_NUM_THREADS when set (torch already
    follows them); else the cores this process may use minus the cores other programs keep busy
    at start (`busy_cores`), at least 1 and at most torch's default, decided once per process.
    Why: torch's default of one thread per core makes every thread wait for the slowest when
    other programs share the cores, and a run can become tens of times slower.
    """
    global _AUTO_THREADS
    if setting:
        torch.set_num_threads(int(setting))
    elif not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        if _AUTO_THREADS is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            busy = busy_cores()
            _AUTO_THREADS = max(1, min(_DEFAULT_THREADS, cores - round(busy or 0.0)))
            if _AUTO_THREADS < min(_DEFAULT_THREADS, cores):
                log(f"note: other programs keep {busy:.1f} of {cores} cores busy; training with "
                    f"{_AUTO_THREADS} thread(s) (TRAIN_CONFIGS.num_threads sets the number)")
        torch.set_num_threads(_AUTO_THREADS)
    return torch.get_num_threads()


def signal_fingerprint(task, dataset_cfg: dict) -> str:
    """SHA-256 of the loaded signal (the task's `fingerprint_tensors`) and the DATASET_CONFIGS that
    define it: --resume refuses a checkpoint whose signal differs (a replaced or edited file)."""
    digest = hashlib.sha256(json.dumps(dataset_cfg, sort_keys=True, default=str).encode())
    for tensor in task.fingerprint_tensors():
        digest.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).tobytes())
    return digest.hexdigest()


class TrainingDiverged(Exception):
    """The loss, the parameters, the optimizer's state or the sampler's state became NaN or inf.
    `step`: the steps completed when it was found (the loss is read before its update);
    `checkpoint_step`: the step of the last checkpoint written (every one is checked finite
    before it is written), None when none was."""

    checkpoint_step = None

    def __init__(self, message: str, step: int = None):
        super().__init__(message)
        self.step = step


def _leaves(value, name: str):
    """(name, leaf) of every value inside dicts, lists, tuples and dataclasses (a Selection)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{name}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _leaves(getattr(value, field.name), f"{name}.{field.name}")
    else:
        yield name, value


def non_finite_entries(named: list) -> list:
    """The names, in order, of the (name, value) pairs of `named` whose value holds a NaN or inf:
    any floating (or complex) tensor, NumPy array or float inside it (dicts, lists, dataclasses
    searched). The tensors' verdicts are read together: one device sync on a GPU."""
    names, flags = [], []
    for name, value in named:
        for leaf_name, leaf in _leaves(value, name):
            if isinstance(leaf, torch.Tensor):
                if leaf.is_floating_point() or leaf.is_complex():
                    names.append(leaf_name)
                    flags.append(torch.isfinite(leaf).all())
            elif isinstance(leaf, np.ndarray):
                if leaf.dtype.kind in "fc":
                    names.append(leaf_name)
                    flags.append(bool(np.isfinite(leaf).all()))
            elif isinstance(leaf, (float, np.floating)):
                names.append(leaf_name)
                flags.append(math.isfinite(leaf))
    devices = [f.device for f in flags if isinstance(f, torch.Tensor)]
    if devices:  # every tensor verdict to one device, then one read
        on = [i for i, f in enumerate(flags) if isinstance(f, torch.Tensor)]
        read = torch.stack([flags[i].to(devices[0]) for i in on]).cpu().tolist()
        for i, ok in zip(on, read):
            flags[i] = ok
    return [name for name, ok in zip(names, flags) if not ok]


class _ConstantLR:
    """TRAIN_CONFIGS.lr_scheduler=constant: nothing to step, nothing to checkpoint."""

    def step(self):
        pass

    def state_dict(self):
        return None

    def load_state_dict(self, state):
        pass


def make_lr_scheduler(name: str, optimizer, total_steps: int):
    """TRAIN_CONFIGS.lr_scheduler over `total_steps` steps; its constants: utils/engine/task_keys.py."""
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=COSINE_LR_MIN)
    if name == "multistep":
        milestones = [int(total_steps * m) for m in MULTISTEP_MILESTONES]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=MULTISTEP_GAMMA)
    if name == "constant":
        return _ConstantLR()
    raise ValueError(f"unknown lr_scheduler {name!r}; valid: {', '.join(LR_SCHEDULERS)}")


class Clock:
    """Training seconds and the seconds spent off the training clock."""

    def __init__(self, device: torch.device):
        self.device = device
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.wall_before = 0.0       # wall seconds of the earlier segments of a resumed run
        self._wall_start = None

    def start_wall(self):
        """The training loop starts (or resumes) now."""
        self._wall_start = time.perf_counter()

    @property
    def wall_seconds(self) -> float:
        """The loop's elapsed wall time so far, evaluation and everything else included."""
        running = time.perf_counter() - self._wall_start if self._wall_start is not None else 0.0
        return self.wall_before + running

    @contextmanager
    def training(self):
        """Time the block as training (sampling + update), the device synchronized at both ends;
        a block that raises (a diverged step) adds nothing."""
        synchronize(self.device)
        t0 = time.perf_counter()
        yield
        synchronize(self.device)
        self.train_seconds += time.perf_counter() - t0

    @contextmanager
    def off(self):
        """Time the block as work off the training clock (evaluation, logging, snapshots, checkpoints)."""
        t0 = time.perf_counter()
        yield
        self.eval_seconds += time.perf_counter() - t0


class Run:
    """The parts of one training run and the calls the loop makes on them between steps.

    resume: restore model, optimizer, schedule, sampler, logged rows, random state and
    clock from run_dir/checkpoint.pt; `step` is then the first step still to run.
    """

    def __init__(self, cfg: dict, task, run_dir: str, device: torch.device, resume: bool = False, log=print):
        train_cfg, model_cfg = cfg["TRAIN_CONFIGS"], cfg["model_config"]
        self.cfg, self.task, self.run_dir, self.device, self._log = cfg, task, run_dir, device, log
        self.total_steps = int(train_cfg["iterations"])
        self.max_train_seconds = float(train_cfg["max_train_seconds"])
        self.stop_rule = StopRule(train_cfg, task.metrics)
        self.stopped_by = None  # 'thresholds' | 'cap' once the stop setting has ended the run
        self.eval_interval = int(train_cfg["eval_interval"])
        # 'auto' chunk sizes become numbers here, so that config.yaml records what the run used
        train_cfg["forward_chunk"] = self.forward_chunk = chunk_points(train_cfg["forward_chunk"], device.type, "forward")
        train_cfg["step_chunk"] = self.step_chunk = chunk_points(train_cfg["step_chunk"], device.type, "step")
        seed = int(train_cfg["seed"])
        self.checkpoint_path = os.path.join(run_dir, "checkpoint.pt")
        saved = checkpoint.read(self.checkpoint_path, device) if resume else None
        # A resumed run keeps the thread count it started with (same arithmetic, bit for bit).
        self.num_threads = thread_count(int(train_cfg["num_threads"]) or (saved or {}).get("num_threads", 0),
                                        log)
        torch.manual_seed(seed)
        np.random.seed(seed)

        self.model = build_model(model_cfg, task.in_features, task.out_features).to(device)
        self.n_params = count_parameters(self.model)
        self.lr = lr = train_cfg["lr"] if train_cfg["lr"] is not None else model_cfg["lr"]  # null: the model's
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.lr_scheduler = make_lr_scheduler(train_cfg["lr_scheduler"], self.optimizer, self.total_steps)
        # On the training device: the samplers' draws then need no host-to-device copy
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.sampler = build_sampler(cfg, task.n_points, self.generator, signal=task.signal,
                                     notify=(lambda *_: None) if resume else log)
        self.logger = RunLogger(run_dir, task.metrics, task.thresholds)
        self.fingerprint = signal_fingerprint(task, cfg["DATASET_CONFIGS"])
        self.clock = Clock(device)
        # The release's clock (see the module text): kept when every step is evaluated
        self.release_clock = self.eval_interval == 1
        self.release_eval_seconds = 0.0  # what the release's per-step evaluation added, all steps so far
        self._forward_seconds = None     # one evaluation forward, timed once per segment
        if self.release_clock:
            self.logger.columns.insert(self.logger.columns.index("wall_seconds") + 1, "release_seconds")
        # Reading the loss to check it is finite waits for a GPU: there it is read at evaluation
        # steps only (a NaN is then reported at the first evaluation step after it appeared)
        self.check_loss_every_step = device.type != "cuda"
        self.step = 0
        self.checkpoint_step = None  # the step of the checkpoint on disk (every one written is finite)
        if resume:
            self._load_checkpoint(saved)
            # A run the stop setting had already ended (its summary lost): nothing left to train
            self.stopped_by = self.stop_rule.reason(self.step, self.logger) if self.logger.rows else None
            log(f"resuming {run_dir} at step {self.step} of {self.total_steps}")
            # TRAIN_CONFIGS.lr changed (--resume RUN_DIR TRAIN_CONFIGS.lr=..., or config.yaml edited): Adam takes it
            lr = checkpoint.resume_lr(saved, self.lr, self.optimizer, self.lr_scheduler, self.step, log,
                                      lambda: dump_config(cfg, os.path.join(run_dir, "config.yaml")))
        else:
            dump_config(cfg, os.path.join(run_dir, "config.yaml"))

        log(f"signal: {task.describe()} | model: {model_cfg['name']} "
            f"{model_cfg['hidden_layers']}x{model_cfg['hidden_features']} ({self.n_params:,} parameters) | "
            f"sampler: {cfg['EXP_CONFIGS']['strategy_type']} | device: {device}"
            f"{f' ({self.num_threads} threads)' if device.type == 'cpu' else ''} | lr {lr if isinstance(lr, str) else f'{lr:g}'}")

        self.wandb = None
        if cfg["WANDB_CONFIGS"]["use_wandb"]:
            from utils.engine.wandb_logger import WandbLogger
            self.wandb = WandbLogger(cfg, run_dir, os.path.basename(run_dir))
        self.progress = None
        if train_cfg["progress"]:
            from tqdm import tqdm
            self.progress = tqdm(total=self.total_steps, initial=self.step, desc=cfg["EXP_CONFIGS"]["strategy_type"],
                                 dynamic_ncols=True, mininterval=0.5)
        self.last_metric = None
        # Reconstructions at fixed training times (the paper's Fig. 3 compares samplers at equal time).
        self.pending_snapshots = sorted(t for t in set(train_cfg["snapshot_seconds"])
                                        if not resume or t > self.clock.train_seconds)

    # -- between steps ----------------------------------------------------------------
    def out_of_time(self) -> bool:
        """TRAIN_CONFIGS.max_train_seconds > 0 and the training clock has passed it."""
        return 0.0 < self.max_train_seconds <= self.clock.train_seconds

    def evaluation_due(self, done: int) -> bool:
        """Every eval_interval steps, after the last one, at the step that runs out of time and at
        the stop setting's step cap."""
        return (done % self.eval_interval == 0 or done == self.total_steps or self.out_of_time()
                or self.stop_rule.is_cap(done))

    def stop_due(self, done: int) -> bool:
        """After an evaluation: whether the stop setting ends the run here (sets `stopped_by`)."""
        self.stopped_by = self.stop_rule.reason(done, self.logger) if self.stop_rule.active else None
        return self.stopped_by is not None

    def evaluate(self, done: int) -> dict:
        """The task's metrics of the model after `done` steps (and its per-evaluation files)."""
        if not self.release_clock:
            metrics = self.task.evaluate(self.model)
        else:
            metrics = self._evaluate_on_release_clock(done)
        self.task.after_evaluation(done, metrics, self.run_dir)
        return metrics

    def _evaluate_on_release_clock(self, done: int) -> dict:
        """The metrics, adding to release_eval_seconds what the release's loop would pay for them."""
        synchronize(self.device)
        t0 = time.perf_counter()
        metrics = self.task.evaluate(self.model)
        synchronize(self.device)
        seconds = time.perf_counter() - t0
        strategy = self.cfg["EXP_CONFIGS"]["strategy_type"]
        if not release_eval_needs_forward(strategy, self.sampler, done - 1):
            seconds = max(0.0, seconds - self._evaluation_forward_seconds())
        self.release_eval_seconds += seconds
        return metrics

    def _evaluation_forward_seconds(self) -> float:
        """Seconds of one evaluation forward (the task's reconstruction), the best of three, timed once."""
        if self._forward_seconds is None:
            reconstruct = getattr(self.task, "reconstruct", None)
            best = float("inf") if reconstruct is not None else 0.0
            for _ in range(3 if reconstruct is not None else 0):
                synchronize(self.device)
                t0 = time.perf_counter()
                with torch.no_grad():
                    reconstruct(self.model)
                synchronize(self.device)
                best = min(best, time.perf_counter() - t0)
            self._forward_seconds = best
        return self._forward_seconds

    @property
    def release_seconds(self) -> float:
        """The release's clock: training seconds plus its per-step evaluation (see the module text)."""
        return self.clock.train_seconds + self.release_eval_seconds

    def log(self, done: int, metrics: dict, loss: float, batch_size: int):
        """One metrics.csv row; the metrics (and, when due, media) to wandb; the progress bar's metric."""
        row = {"step": done, "train_seconds": round(self.clock.train_seconds, 4),
               "wall_seconds": round(self.clock.wall_seconds, 4), **metrics,
               "batch_size": int(batch_size), "loss": loss}
        if self.release_clock:
            row["release_seconds"] = round(self.release_seconds, 4)
        self.logger.log(row)
        self.last_metric = metrics.get(self.task.progress_metric)
        if self.wandb is not None:
            self.wandb.log_metrics(done, self.clock.train_seconds, dict(metrics, loss=loss, batch_size=batch_size))
            first_media = not self.wandb.media_logged  # the ground truth goes with the first
            if (first_media or done % self.wandb.log_images_every < self.eval_interval
                    or done == self.total_steps):
                self.wandb.log_media(done, self.task.wandb_media(self.model, first=first_media))

    def snapshot_due(self) -> bool:
        """A TRAIN_CONFIGS.snapshot_seconds entry the training clock has just passed."""
        return bool(self.pending_snapshots) and self.clock.train_seconds >= self.pending_snapshots[0]

    def take_snapshots(self, done: int):
        """The task's reconstruction for each TRAIN_CONFIGS.snapshot_seconds the clock has just passed."""
        while self.snapshot_due():
            with self.clock.off():
                self._save_snapshot(self.pending_snapshots.pop(0), done)

    def _save_snapshot(self, seconds: float, step: int):
        """Indexed in snapshots.json with the step and the exact training seconds at which it was
        taken (the first step past `seconds`)."""
        name = self.task.save_snapshot(self.model, self.run_dir, seconds)
        if name is None:
            return
        path = os.path.join(self.run_dir, "snapshots.json")
        index = {}
        if os.path.isfile(path):
            with open(path) as f:
                index = json.load(f)
        index[f"{seconds:g}"] = {"file": name, "step": step, "train_seconds": round(self.clock.train_seconds, 4)}
        with open(path, "w") as f:
            json.dump(index, f, indent=1)

    def show_progress(self):
        if self.progress is not None:
            self.progress.update(1)
            if self.last_metric is not None:
                self.progress.set_postfix_str(f"{self.task.progress_metric} {self.last_metric:.2f} | "
                                              f"train {self.clock.train_seconds:.1f}s", refresh=False)

    def close_progress(self):
        if self.progress is not None:
            self.progress.close()

    # -- checkpoint and summary -------------------------------------------------------
    def non_finite_state(self) -> dict:
        """{'parameters' | 'optimizer state' | 'sampler state': [names]} of every floating tensor
        (and float) of the model (parameters and buffers), the optimizer's state (Adam's moments,
        named after their parameter) and the sampler's state_dict that holds a NaN or inf; {} when
        all are finite."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        optimizer = [(f"{key} of {names.get(id(p), '?')}", value)
                     for p, state in self.optimizer.state.items() for key, value in state.items()]
        found = {"parameters": non_finite_entries(list(self.model.state_dict().items())),
                 "optimizer state": non_finite_entries(optimizer),
                 "sampler state": non_finite_entries(list(self.sampler.state_dict().items()))}
        return {kind: bad for kind, bad in found.items() if bad}

    def check_finite(self, step: int):
        """TrainingDiverged when the model, the optimizer's state or the sampler's state holds a
        NaN or inf after `step` steps: nothing is evaluated or saved from such a run (the loss is
        read before the update, and an overflow of Adam's second moment, e.g. at lr 1e6, leaves
        the weights and the loss finite)."""
        bad = self.non_finite_state()
        if bad:
            names = [n for found in bad.values() for n in found]
            raise TrainingDiverged(f"{' and '.join(bad)} became non-finite at step {step} ({', '.join(names[:3])}"
                                   f"{', ...' if len(names) > 3 else ''})", step)

    def save_checkpoint(self, step: int):
        """checkpoint.pt: everything --resume needs to continue bit for bit from `step`; checked
        finite first (TrainingDiverged, nothing written, otherwise)."""
        self.check_finite(step)
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "lr_scheduler": self.lr_scheduler.state_dict(),
                 "sampler": self.sampler.state_dict(), "logger": self.logger.state_dict(),
                 "torch_rng": torch.get_rng_state(), "step": step,
                 "train_seconds": self.clock.train_seconds, "eval_seconds": self.clock.eval_seconds,
                 "wall_seconds": self.clock.wall_seconds, "release_eval_seconds": self.release_eval_seconds,
                 "task": self.task.modality, "signal_fingerprint": self.fingerprint, "num_threads": self.num_threads,
                 "device": str(self.device), "base_lr": self.lr}
        checkpoint.write(state, self.checkpoint_path)
        self.checkpoint_step = step

    def _load_checkpoint(self, ckpt: dict):
        if ckpt.get("task", self.task.modality) != self.task.modality:
            raise UserError(f"{self.run_dir} is an {ckpt['task']} run; resume it with "
                            f"python train_{ckpt['task']}.py --resume ...")
        if "signal_fingerprint" not in ckpt:
            self._log(f"note: {self.checkpoint_path} records no signal fingerprint (written before checkpoints "
                      f"had one); the signal cannot be checked against it")
        elif ckpt["signal_fingerprint"] != self.fingerprint:
            raise UserError(f"cannot resume {self.run_dir}: the signal differs from the one it was trained on "
                            f"({self.task.describe()}: the file {self.cfg['DATASET_CONFIGS']['file_path']} changed "
                            f"since); start a new run, or put the original file back")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise CheckpointUnreadable(f"checkpoint {self.checkpoint_path} does not fit this run's model "
                                       f"({str(e).splitlines()[0][:200]})") from None
        self.optimizer.load_state_dict(ckpt["optimizer"])  # its state follows the parameters' device
        if ckpt["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        sampler_state = dict(ckpt["sampler"])
        sampler_state["generator"] = checkpoint.fitting_generator_state(
            self.generator, sampler_state.get("generator"), self.cfg["TRAIN_CONFIGS"]["seed"], ckpt["step"],
            ckpt.get("device"), self._log)
        self.sampler.load_state_dict(sampler_state)
        self.logger.load_state_dict(ckpt["logger"])
        checkpoint.restore_rng(ckpt["torch_rng"])
        self.step = self.checkpoint_step = ckpt["step"]
        self.clock.train_seconds, self.clock.eval_seconds = ckpt["train_seconds"], ckpt["eval_seconds"]
        self.clock.wall_before = ckpt.get("wall_seconds", 0.0)  # checkpoints from before wall_seconds: 0
        self.release_eval_seconds = ckpt.get("release_eval_seconds", 0.0)

    def stop_reason(self, status: str, step: int) -> str:
        """Why the run ended, summary.json's `stopped_by`: interrupted | diverged (its status), else
        thresholds | cap (the stop setting), max_train_seconds, or iterations (all steps run)."""
        if status in ("interrupted", "diverged"):
            return status
        if self.stopped_by:
            return self.stopped_by
        return "max_train_seconds" if step < self.total_steps and self.out_of_time() else "iterations"

    def write_summary(self, status: str, step: int) -> dict:
        """summary.json with `status` (completed | interrupted | diverged) after `step` steps."""
        cfg, model_cfg = self.cfg, self.cfg["model_config"]
        return self.logger.write_summary({
            "status": status, "iterations": step, "train_seconds": self.clock.train_seconds,
            "eval_seconds": self.clock.eval_seconds, "wall_seconds": self.clock.wall_seconds,
            **({"release_seconds": self.release_seconds} if self.release_clock else {}),
            "stopped_by": self.stop_reason(status, step),
            "parameters": self.n_params, "device": str(self.device), "num_threads": self.num_threads,
            "strategy": cfg["EXP_CONFIGS"]["strategy_type"], "model": model_cfg["name"],
            "signal": self.task.describe(), "sampler": self.sampler.counts(), "time_accounting": TIME_ACCOUNTING})

    def finish(self, step: int = None) -> dict:
        """model.pt (the plain state dict), the task's outputs, the sampler's figures, summary.json;
        `step`: the steps run (fewer than `iterations` when max_train_seconds or the stop setting ended the run).
        TrainingDiverged, nothing written, when the model or its training state is not finite."""
        self.check_finite(self.total_steps if step is None else step)
        checkpoint.save_model(self.model, os.path.join(self.run_dir, "model.pt"))
        self.task.save_outputs(self.model, self.run_dir)
        self.sampler.save_figures(self.run_dir)
        summary = self.write_summary("completed", self.total_steps if step is None else step)
        if self.wandb is not None:
            self.wandb.finish()
        return summary
