"""Sampler registry: `EXP_CONFIGS.strategy_type` picks one of SAMPLERS.

Adding a sampler is one new file in this folder plus one line here; its constants are
declared on its class (`section`, `params`), and the config schema, its validation and
config/reference.md are built from them (`config_sections`).

Two ways to build one:
- `build_sampler(cfg, n_points, generator, signal)`: from a run's configuration (the trainer);
- `make_sampler(name, n_points, total_steps, ratio=0.2, seed=0, image=None, **constants)`:
  from plain arguments, for your own training loop (README, "Use a sampler in your own loop").
"""
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


def build_sampler(cfg: dict, n_points: int, generator, signal=None) -> Sampler:
    """The sampler named by cfg['EXP_CONFIGS']['strategy_type'] for a signal of n_points."""
    cls = SAMPLERS[cfg["EXP_CONFIGS"]["strategy_type"]]
    return cls(n_points, int(cfg["TRAIN_CONFIGS"]["iterations"]), generator, signal=signal,
               **sampler_constants(cls, cfg))


def image_signal(image, value_range=(0.0, 1.0)) -> dict:
    """Task.signal of an image given as an array [H, W] or [H, W, C] with values in [0, 1]."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W] or [H, W, C], not of shape {tuple(image.shape)}")
    return {"modality": "image", "shape": tuple(image.shape[:2]), "image": image,
            "value_range": tuple(float(v) for v in value_range)}


def make_sampler(name: str, n_points: int = None, total_steps: int = 1000, ratio: float = 0.2, seed: int = 0,
                 image=None, value_range=(0.0, 1.0), device=None, **constants) -> Sampler:
    """A sampler for your own training loop, without config files or the trainer.

    name: one of SAMPLERS. n_points: the N coordinates it chooses from (with `image`, None =
    H * W). total_steps: your number of optimizer steps (the schedules depend on it).
    ratio: the starting batch ratio B/N (`nint.mt_ratio`). seed: seeds the sampler's own
    generator. image: the target image [H, W] or [H, W, C] in [0, 1], row-major like your
    coordinates, for the samplers that need its structure (evos, evos_no_cfs, expansive,
    egra, soft_mining); value_range: the range your targets are scaled to. device: where your
    coordinates live (default: the CPU); the sampler's generator and random draws are made
    there, so that on a GPU a step never waits for a host-to-device copy. constants: any of
    the sampler's declared constants by name (`xi=0.5`, `lambda_=1.0` for `lambda`), the
    rest keep their defaults (config/reference.md lists them all).
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; samplers: {', '.join(SAMPLERS)}")
    if image is None and SAMPLERS[name].modalities is not None:
        raise ValueError(f"sampler {name!r} needs the target's structure: make_sampler({name!r}, ..., image=...)")
    signal = image_signal(image, value_range) if image is not None else {"modality": None}
    if n_points is None:
        if image is None:
            raise ValueError("make_sampler needs n_points (or image=)")
        n_points = signal["shape"][0] * signal["shape"][1]
    generator = torch.Generator(device=device if device is not None else "cpu").manual_seed(int(seed))
    return SAMPLERS[name](n_points, total_steps, generator, signal=signal, mt_ratio=ratio, **constants)
