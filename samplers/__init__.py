"""Sampler registry: `EXP_CONFIGS.strategy_type` picks one of SAMPLERS.

Adding a sampler is one new file in this folder plus one line here; its constants are
declared on its class (`section`, `params`), and the config schema, its validation and
config/reference.md are built from them (`config_sections`).

Two ways to build one:
- `build_sampler(cfg, n_points, generator, signal)`: from a run's configuration (the trainer);
- `make_sampler(name, n_points, total_steps, ratio=0.2, seed=0, image=None, **constants)`:
  from plain arguments, for your own training loop (README, "Use a sampler in your own loop").
"""
import math
import numbers

import numpy as np
import torch

from samplers.base import Sampler, SelectionContext, Selection
from samplers.egra import EgraSampler
from samplers.evos import EvosNoCfsSampler, EvosNoCrossoverSampler, EvosSampler
from samplers.expansive import ExpansiveSampler
from samplers.int_sampler import IntSampler
from samplers.nint import NintNoNtkSampler, NintSampler
from samplers.soft_mining import SoftMiningSampler
from samplers.standard import StandardSampler
from samplers.uniform import UniformSampler
from utils.errors import UserValueError
from utils.params import python_name

SAMPLERS = {
    "standard": StandardSampler,
    "uniform": UniformSampler,
    "int": IntSampler,
    "nint": NintSampler,
    "nint_no_ntk": NintNoNtkSampler,
    "evos": EvosSampler,
    "evos_no_cfs": EvosNoCfsSampler,
    "evos_no_crossover": EvosNoCrossoverSampler,
    "expansive": ExpansiveSampler,
    "egra": EgraSampler,
    "soft_mining": SoftMiningSampler,
}


def runs_on(cls, modality) -> bool:
    """Whether sampler class `cls` is defined for `modality` (None: any modality counts)."""
    return modality is None or cls.modalities is None or modality in cls.modalities


def config_sections(modality: str = None) -> dict:
    """{section: {key: Param}}: every sampler constant a run on `modality` can set.

    The batch constants of every sampler first (section `nint`, Sampler.shared_params),
    then each section's keys as declared by the samplers that run on `modality` (None =
    all): on audio and SDF, `evos` holds only the constants of `evos_no_crossover`, the
    variant that runs there, and the image-only sections are absent.
    """
    sections = {Sampler.shared_section: dict(Sampler.shared_params)}
    for name, cls in SAMPLERS.items():
        if cls.section is None or not runs_on(cls, modality):
            continue
        section = sections.setdefault(cls.section, {})
        for key, param in cls.params.items():
            if section.get(key, param) is not param:
                raise RuntimeError(f"{name}: {cls.section}.{key} is declared twice, differently")
            section[key] = param
    return sections


def section_samplers(section: str) -> list:
    """The registered samplers with constants in config section `section` (`nint`: every one)."""
    return [name for name, cls in SAMPLERS.items() if section in (cls.section, Sampler.shared_section)]


def sampler_constants(cls, cfg: dict) -> dict:
    """The constants of sampler class `cls` from a run's config sections (declared defaults for missing ones)."""
    shared = cfg.get(Sampler.shared_section) or {}
    own = (cfg.get(cls.section) or {}) if cls.section else {}
    constants = {k: shared[k] for k in Sampler.shared_params if k in shared}
    constants.update({k: own[k] for k in cls.params if k in own})
    return constants


def build_sampler(cfg: dict, n_points: int, generator, signal=None, notify=print) -> Sampler:
    """The sampler named by cfg['EXP_CONFIGS']['strategy_type'] for a signal of n_points.
    notify: told once of each set constant the run cannot use (see `unused_settings`)."""
    cls = SAMPLERS[cfg["EXP_CONFIGS"]["strategy_type"]]
    sampler = cls(n_points, int(cfg["TRAIN_CONFIGS"]["iterations"]), generator, signal=signal,
                  **sampler_constants(cls, cfg))
    for note in unused_settings(cls, cfg, (signal or {}).get("modality")):
        notify(f"note: {note}")
    return sampler


def unused_settings(cls, cfg: dict, modality: str = None) -> list:
    """Why each sampler constant set away from its default does nothing in this run: a constant of
    another sampler, selection maps off images, or map steps past the run's last step."""
    notes, name = [], cfg["EXP_CONFIGS"]["strategy_type"]
    own = cls.all_params()
    for section, declared in config_sections(modality).items():
        for key, param in declared.items():
            value = (cfg.get(section) or {}).get(key, param.default)
            if (section, key) not in own and value != param.default:
                owners = [n for n, c in SAMPLERS.items() if (section, key) in c.all_params()]
                notes.append(f"{section}.{key}={value!r} is a constant of {', '.join(owners)}; "
                             f"the {name} sampler ignores it")
    if ("nint", "save_selection_maps") in own and (cfg.get("nint") or {}).get("save_selection_maps"):
        if modality not in (None, "image"):
            notes.append(f"nint.save_selection_maps=1 draws maps over an image; an {modality} run saves none")
        else:
            total = int(cfg["TRAIN_CONFIGS"]["iterations"])
            past = [s for s in (cfg["nint"].get("selection_map_steps") or []) if s >= total]
            if past:
                notes.append(f"nint.selection_map_steps {past} lie past the run's last step ({total - 1}); "
                             f"no map is drawn for them")
    return notes


def image_signal(image, value_range=(0.0, 1.0)) -> dict:
    """Task.signal of an image given as an array [H, W] or [H, W, C] (C = 1..4, channels last) with
    finite values in [0, 1]; UserValueError (a ValueError) naming `image` for anything else."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    try:
        image = np.asarray(image, dtype=np.float32)
    except (TypeError, ValueError):
        raise UserValueError(f"image must be an array [H, W] or [H, W, C], not a {type(image).__name__}") from None
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise UserValueError(f"image must be [H, W] or [H, W, C], not of shape {tuple(image.shape)}")
    if image.shape[0] in (1, 3, 4) and image.shape[-1] > 4:
        raise UserValueError(f"image of shape {tuple(image.shape)} looks channels-first (C, H, W); give it as "
                             f"[H, W, C], e.g. image.permute(1, 2, 0)")
    if not 1 <= image.shape[-1] <= 4 or min(image.shape[:2]) < 1:
        raise UserValueError(f"image must be [H, W, C] with 1 to 4 channels, not of shape {tuple(image.shape)}")
    if not np.all(np.isfinite(image)):
        raise UserValueError("image holds NaN or inf values; give a finite image in [0, 1]")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise UserValueError(f"image values span [{lo:g}, {hi:g}]; give the image in [0, 1]"
                             f"{' (divide by 255)' if hi > 1.0 and hi <= 255.0 and lo >= 0.0 else ''}")
    if (not isinstance(value_range, (list, tuple)) or len(value_range) != 2
            or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in value_range)
            or not value_range[0] < value_range[1]):
        raise UserValueError(f"value_range must be (lo, hi) with finite numbers lo < hi, not {value_range!r}")
    return {"modality": "image", "shape": tuple(image.shape[:2]), "image": image,
            "value_range": tuple(float(v) for v in value_range)}


def _whole_number(value, what: str, least: int) -> int:
    """value as an int >= least; UserValueError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise UserValueError(f"{what} must be a whole number >= {least}, got {value!r}")
    return int(value)


def make_sampler(name: str, n_points: int = None, total_steps: int = 1000, ratio: float = 0.2, seed: int = 0,
                 image=None, value_range=(0.0, 1.0), device=None, **constants) -> Sampler:
    """A sampler for your own training loop, without config files or the trainer.

    name: one of SAMPLERS. n_points: the N coordinates it chooses from (with `image`, None =
    H * W). total_steps: your number of optimizer steps (the schedules depend on it).
    ratio: the starting batch ratio B/N (`nint.mt_ratio`), in (0, 1] with ratio * N >= 1.
    seed: seeds the sampler's own generator. image: the target image [H, W] or [H, W, C]
    (channels last) in [0, 1], row-major like your coordinates, for the samplers that need its
    structure (evos, evos_no_cfs, expansive, egra, soft_mining); value_range: the range your
    targets are scaled to. device: where your coordinates live; the sampler's generator, its
    random draws and every tensor it keeps are there, so that on a GPU a step never waits for
    a host-to-device copy (default None: the device of the first coordinates given to select()).
    constants: any of the sampler's declared constants by name (`xi=0.5`,
    `lambda_=1.0` for `lambda`), the rest keep their defaults (config/reference.md lists them all).

    Every bad value is a ValueError (utils.errors.UserValueError) in one sentence naming its
    argument; an unknown constant is a TypeError listing the sampler's constants.
    """
    if name not in SAMPLERS:
        raise UserValueError(f"unknown sampler {name!r}; samplers: {', '.join(SAMPLERS)}")
    cls = SAMPLERS[name]
    if image is None and cls.modalities is not None:
        raise UserValueError(f"sampler {name!r} needs the target's structure: make_sampler({name!r}, ..., image=...)")
    signal = image_signal(image, value_range) if image is not None else {"modality": None}
    if n_points is None:
        if image is None:
            raise UserValueError("make_sampler needs n_points (or image=)")
        n_points = signal["shape"][0] * signal["shape"][1]
    n_points = _whole_number(n_points, "n_points", 1)
    if image is not None and n_points != signal["shape"][0] * signal["shape"][1]:
        h, w = signal["shape"]
        raise UserValueError(f"n_points={n_points} but image is {h}x{w} = {h * w} pixels; give one point per pixel")
    total_steps = _whole_number(total_steps, "total_steps", 1)
    seed = _whole_number(seed, "seed", 0)
    if seed >= 1 << 64:
        raise UserValueError(f"seed must be below 2**64 (a torch generator's seed), got {seed}")
    device = _generator_device(device)
    # Range errors name the keyword the caller wrote (`ratio`, `xi`), not the config key.
    problem = Sampler.shared_params["mt_ratio"].problem(ratio)
    if problem:
        raise UserValueError(f"ratio={ratio!r} {problem}")
    if cls.batch_from_ratio and ratio * n_points < 1:
        raise UserValueError(f"ratio={ratio!r} gives a batch of {ratio * n_points:.3g} points out of {n_points}; "
                             f"the smallest ratio is 1/n_points = {1 / n_points:.3g}")
    declared = {python_name(key): param for (_, key), param in cls.all_params().items()}
    for keyword, value in constants.items():
        param = declared.get(keyword) or declared.get(python_name(keyword))
        problem = param.problem(value) if param is not None else None
        if problem:
            raise UserValueError(f"{keyword}={value!r} {problem}")
    # Without device=: the sampler's own CPU generator, moved to the data's device at the first select()
    generator = torch.Generator(device=device).manual_seed(seed) if device is not None else None
    # An unknown constant is a TypeError, as for any unexpected keyword (utils/params.py names the ones there are)
    return cls(n_points, total_steps, generator, signal=signal, seed=seed, mt_ratio=ratio, **constants)


def _generator_device(device):
    """`device` as a torch.device on which a generator can be made (None stays None);
    UserValueError naming `device` otherwise."""
    if device is None:
        return None
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserValueError(f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserValueError(f"device={str(device)!r} but torch finds no CUDA GPU here "
                             f"(torch.cuda.is_available() is False)")
    try:
        torch.Generator(device=device)
    except RuntimeError as e:
        raise UserValueError(f"device={str(device)!r} cannot hold a random generator "
                             f"({str(e).splitlines()[0][:100]}); leave device out to follow the data") from None
    return device
