"""The task keys, declared once: DATASET_CONFIGS, TRAIN_CONFIGS, EXP_CONFIGS, the task's part of
model_config (name, hidden_layers, hidden_features) and WANDB_CONFIGS.

Written like the samplers' and models' constants (utils/params.py `Param`: default, meaning,
what is allowed). `task_params(task)` gives the sections of one task: DATASET_CONFIGS is the
task's own, TRAIN_CONFIGS leaves out the keys of other tasks (`ONLY_ON`). A value that
differs for one task (the SDF setting's 10,000 iterations) is written in that task's YAML,
config/train_<task>.yaml, which holds nothing else. The configuration loader
(utils/engine/config.py) validates every key through its Param, and config/reference.md
(utils/engine/reference.py) lists them all.
"""
from models import MODELS
from samplers import SAMPLERS
from utils.params import Param

TASKS = ("image", "audio", "sdf")

# The learning-rate schedules (TRAIN_CONFIGS.lr_scheduler), over TRAIN_CONFIGS.iterations steps.
COSINE_LR_MIN = 1e-6                   # cosine: the lr annealed to this at the last step
MULTISTEP_MILESTONES = (0.5, 0.75)     # multistep: the lr multiplied by MULTISTEP_GAMMA at these
MULTISTEP_GAMMA = 0.1                  # fractions of the steps
LR_SCHEDULERS = ("constant", "cosine", "multistep")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size_check(value):
    if value is None or (_is_count(value) and value > 0):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_count(v) and v > 0 for v in value):
        return None
    return "must be null, a positive integer, or [H, W] with positive integers"


def _value_range_check(value):
    if (isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
            and [float(v) for v in value] in ([0.0, 1.0], [-1.0, 1.0])):
        return None
    return "must be [0, 1] or [-1, 1]"


def _time_range_check(value):
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value) \
            and value[0] < value[1]:
        return None
    return "must be [t0, t1] with numbers t0 < t1"


def _chunk_check(value):
    if value == "auto" or (_is_count(value) and value >= 0):
        return None
    return "must be auto, 0 (one piece) or a number of points"


def _out_dir_check(value):
    if value is None or (isinstance(value, str) and value.strip() and value not in (".", "..")):
        return None
    return "must be null or a folder name"


def _seconds_check(value):
    if isinstance(value, list) and all(_is_number(v) and v >= 0 and v == v for v in value):
        return None
    return "must be a list of training seconds >= 0, e.g. [5, 30]"


def _thresholds_check(value):
    if isinstance(value, list) and all(isinstance(v, str) and "_" in v for v in value):
        try:
            [float(v.rpartition("_")[2]) for v in value]
            return None
        except ValueError:
            pass
    return "must be a list of thresholds named <metric>_<value>, e.g. [psnr_30] or [psnr_30, ssim_0.9]"


def _value_range(default, what):
    return Param(default, f"{what} mapped to this range", kind=list, check=_value_range_check,
                 rule="[0, 1] | [-1, 1]")


DATASET_PARAMS = {
    "image": {
        "file_path": Param("images/01.png", "the image: PNG/JPEG/TIFF; grayscale, RGB or RGBA (alpha dropped); "
                           "8 or 16 bit"),
        "img_size": Param(None, "null = native size; 256 = 256x256; [H, W] = that size (bilinear, anti-aliased)",
                          check=_size_check, rule="null | N | [H, W]"),
        "value_range": _value_range([0, 1], "pixel values"),
        "eval_file_path": Param(None, "super-resolution: evaluate against this (larger) image instead", kind=str),
        "eval_size": Param(None, "evaluation grid size when it differs from the training grid",
                           check=_size_check, rule="null | N | [H, W]"),
    },
    "audio": {
        "file_path": Param("data/audio/00.flac", "the clip: any file libsndfile reads (WAV/FLAC/OGG/...); "
                           "stereo is mixed down to mono"),
        "num_secs": Param(2.0, "excerpt length in seconds; null = to the end of the clip", "(0, inf)",
                          nullable=True),
        "start_sec": Param(0.0, "excerpt start in seconds", "[0, inf)"),
        "sample_rate": Param(16000, "Hz; the excerpt is resampled to it when resample=1", "[1, inf)"),
        "resample": Param(1, "1 = resample to sample_rate, 0 = keep the clip's native rate", choices=(0, 1)),
        "time_range": Param([-5, 5], "sample times linspace(t0, t1, T), as in the INT release",
                            check=_time_range_check, rule="[t0, t1], t0 < t1"),
        "value_range": _value_range([-1, 1], "amplitudes (as decoded: [-1, 1]; the INT release: [0, 1])"),
    },
    "sdf": {
        "file_path": Param("data/meshes/armadillo.obj", "the shape: a mesh (OBJ/PLY/STL/OFF) or an oriented "
                           "point cloud (.xyz: x y z nx ny nz), normalized into [-0.5, 0.5]^3 (longest side 0.9)"),
        "num_samples": Param(50000, "fresh points per iteration (the candidates the sampler chooses from)",
                             "[2, inf)"),
        "coarse_scale": Param(0.1, "Laplace noise scale around surface samples, first half of the points",
                              "(0, inf)"),
        "fine_scale": Param(0.001, "the same for the second half", "(0, inf)"),
        "render_resolution": Param(128, "evaluation grid size per axis (IoU, marching cubes); the paper used 512",
                                   "[8, inf)"),
        "pool_size": Param(1000000, "points with precomputed signed distances that each step draws from",
                           "[2, inf)"),
        "chamfer_samples": Param(100000, "surface points per side for the Chamfer distance", "[1, inf)"),
        "sign_method": Param("auto", "how a point's sign is decided: auto = exact for watertight meshes, else normal",
                             choices=("auto", "exact", "normal")),
        "cache_dir": Param(".cache/sdf", "pool and ground-truth occupancy, keyed by a hash of the mesh file"),
    },
}

_CHUNK_RULE = "auto | 0 | N"
TRAIN_PARAMS = {
    "iterations": Param(5000, "optimizer steps", "[1, inf)"),
    "max_train_seconds": Param(0.0, ">0: stop at the first step past this many training seconds (evaluated "
                               "there, status completed); iterations still sets the schedules", "[0, inf)"),
    # The stop setting: a run that ends once it has what it is for (utils/engine/stop.py)
    "stop_thresholds": Param([], "end the run at the first evaluation where every one of these thresholds "
                             "(<metric>_<value> of the task's metrics, e.g. psnr_30) has been reached and "
                             "stop_after_step has been passed (status completed, stopped_by thresholds); "
                             "[] = off; iterations still sets the schedules", check=_thresholds_check,
                             rule="a list such as [psnr_30]"),
    "stop_after_step": Param(0, "stop_thresholds end the run no earlier than this step (e.g. 250, so that "
                             "the evaluation at 250 is made)", "[0, inf)"),
    "stop_step_cap": Param(0, ">0: end the run at this step (evaluated there, status completed, stopped_by "
                           "cap) unless stop_thresholds ended it before; 0 = off", "[0, inf)"),
    "lr": Param(None, "Adam's learning rate; null = the model's default (model_config.lr)", "(0, inf)",
                kind=float),
    "lr_scheduler": Param("constant", f"the learning-rate schedule over the iterations: cosine anneals to "
                          f"{COSINE_LR_MIN:g} at the last step; multistep multiplies by {MULTISTEP_GAMMA:g} at "
                          f"{' and '.join(f'{m:.0%}' for m in MULTISTEP_MILESTONES)} of the steps", choices=LR_SCHEDULERS),
    "seed": Param(42, "seeds the model, the data draws and the sampler", "[0, 4294967295]"),
    "device": Param("auto", "where to train; auto = CUDA when present", choices=("auto", "cpu", "cuda")),
    "eval_interval": Param(50, "full-signal evaluation every this many steps (clock paused)", "[1, inf)"),
    "out_root": Param("outputs", "runs are written under this folder"),
    "out_dir": Param(None, "the run folder's name; null = <task>_<file stem>_<strategy>_<model>",
                     check=_out_dir_check, rule="null | a folder name"),
    "num_threads": Param(0, "CPU threads for torch; 0 = automatic: OMP_NUM_THREADS when set, else the cores "
                         "not busy at start (docs/running.md). Parallel runs: cores / jobs",
                         "[0, inf)"),
    "forward_chunk": Param("auto", "no-grad forwards over many points (samplers, evaluation) in chunks of this "
                           "many points: auto (by device, utils/devices.py) | 0 (one piece) | N", kind=object,
                           check=_chunk_check, rule=_CHUNK_RULE),
    "step_chunk": Param("auto", "the training step accumulated over chunks of this many points (same "
                        "gradient): auto | 0 (one piece) | N", kind=object, check=_chunk_check, rule=_CHUNK_RULE),
    "lpips": Param(1, "1 = compute LPIPS at every evaluation, 0 = skip (recorded as null)", choices=(0, 1)),
    "lpips_backbone": Param(None, "path to AlexNet `features.*` weights; null = the shipped copy", kind=str),
    "progress": Param(1, "1 = tqdm progress bar", choices=(0, 1)),
    "snapshot_seconds": Param([], "save the reconstruction when the training clock passes each of these "
                              "seconds (equal training time, the paper's Fig. 3)", check=_seconds_check,
                              rule="a list of seconds >= 0"),
}
# Keys of some tasks only: {(section, key): tasks}; every other key is on every task.
ONLY_ON = {("TRAIN_CONFIGS", "lpips"): ("image",), ("TRAIN_CONFIGS", "lpips_backbone"): ("image",)}

EXP_PARAMS = {
    "strategy_type": Param("nint", "the sampler (samplers/; docs/methods.md)", choices=tuple(SAMPLERS)),
}

# The task's part of model_config; each model adds its own keys and lr (models/, `params`).
MODEL_PARAMS = {
    "name": Param("siren", "the network (models/); its own keys follow", choices=tuple(MODELS)),
    "hidden_layers": Param(5, "hidden activation layers, the first included", "[1, inf)"),
    "hidden_features": Param(256, "width of every hidden layer", "[1, inf)"),
}

WANDB_PARAMS = {
    "use_wandb": Param(0, "1 = log metrics and media to Weights & Biases", choices=(0, 1)),
    "wandb_project": Param("nint", "the wandb project"),
    "wandb_entity": Param(None, "the wandb entity (user or team); null = your default", kind=str),
    "log_images_every": Param(500, "steps between reconstructions sent to wandb", "[1, inf)"),
}


def task_params(task: str) -> dict:
    """{section: {key: Param}} of the task keys of `task` ('image', 'audio' or 'sdf'), in the
    order a configuration lists them (the samplers' sections go after model_config)."""
    train = {k: p for k, p in TRAIN_PARAMS.items() if task in ONLY_ON.get(("TRAIN_CONFIGS", k), TASKS)}
    return {"DATASET_CONFIGS": DATASET_PARAMS[task], "TRAIN_CONFIGS": train, "EXP_CONFIGS": EXP_PARAMS,
            "model_config": MODEL_PARAMS, "WANDB_CONFIGS": WANDB_PARAMS}
