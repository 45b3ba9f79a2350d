"""Sampler registry: `EXP_CONFIGS.strategy_type` picks one of SAMPLERS.

Adding a sampler is one new file in this folder plus one line here.
"""
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


def build_sampler(cfg: dict, n_points: int, generator, signal=None) -> Sampler:
    """The sampler named by cfg['EXP_CONFIGS']['strategy_type'] for a signal of n_points."""
    cls = SAMPLERS[cfg["EXP_CONFIGS"]["strategy_type"]]
    return cls(cfg, n_points, int(cfg["TRAIN_CONFIGS"]["iterations"]), generator, signal=signal)
