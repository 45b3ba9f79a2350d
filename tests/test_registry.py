"""Constants declared once (utils/params.py): the schema of every task, the generated reference,
and samplers built without config files (make_sampler)."""
import inspect
import os
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import ROOT
from models import MODELS
from samplers import SAMPLERS, build_sampler, make_sampler
from utils.engine.config import load_config, schema
from utils.engine.task_keys import TASKS, task_params
from utils.engine.reference import REFERENCE_PATH, reference_markdown
from utils.errors import UserError
from utils.params import Param

IMAGE = os.path.join(ROOT, "images", "01.png")


# -- Param -------------------------------------------------------------------------------------------
def test_param_rules():
    ratio = Param(0.2, "a ratio", "(0, 1]")
    assert ratio.problem(1) is None and ratio.problem(0.5) is None
    assert "out of range; allowed: (0, 1]" in ratio.problem(0)
    assert "out of range" in ratio.problem(1.0001) and "out of range" in ratio.problem(float("nan"))
    assert ratio.problem("a") == "expected a number" and "must not be null" in ratio.problem(None)
    steps = Param(10, "steps", "[1, inf)")
    assert steps.problem(10 ** 9) is None and "out of range" in steps.problem(0)
    assert "expected an int" in steps.problem(2.5) and steps.coerce(3.0) == 3
    mode = Param("release", "a mode", choices=("release", "paper"))
    assert mode.problem("paper") is None and "valid: release, paper" in mode.problem("other")
    flag = Param(0, "a flag", choices=(0, 1))
    assert flag.problem(True) is not None and flag.problem(1) is None
    assert Param(None, "optional", "(0, inf)", kind=float).problem(None) is None
    with pytest.raises(ValueError):
        Param(2.0, "a default outside its own range", "[0, 1]")
    with pytest.raises(ValueError):
        Param(1, "a bad interval", "0..1")


def test_every_constant_has_a_meaning():
    for name, cls in SAMPLERS.items():
        for (section, key), param in cls.all_params().items():
            assert isinstance(param, Param) and len(param.meaning) > 10, (name, section, key)
    for name, cls in MODELS.items():
        for key, param in cls.params.items():
            assert isinstance(param, Param) and len(param.meaning) > 10, (name, key)


def test_model_signatures_agree_with_their_declarations():
    # A model built in Python with no arguments gets the same constants as from a config.
    for name, cls in MODELS.items():
        signature = inspect.signature(cls.__init__).parameters
        for key, param in cls.params.items():
            assert signature[key].default == param.default, (name, key)


# -- the schema of every task -----------------------------------------------------------------------
def test_sections_per_task():
    image, audio, sdf = (load_config(t) for t in ("image", "audio", "sdf"))
    assert {"nint", "evos", "expansive", "egra", "soft_mining"} <= set(image)
    for cfg in (audio, sdf):  # only the EVOS variant that runs there; no image-only section
        assert set(cfg["evos"]) == {"fitness_interval_start", "fitness_interval_end", "fitness_rule", "mutation_ratio",
                                    "cfs_steps"}
        assert not {"expansive", "egra", "soft_mining"} & set(cfg)
    assert sdf["nint"]["mt_ratio"] == 0.4 and image["nint"]["mt_ratio"] == audio["nint"]["mt_ratio"] == 0.2
    # The paper README's keys, as written there.
    cfg = load_config("image", overrides=["nint.mt_ratio=0.5", "nint.batch_size_scheduler=step",
                                          "nint.sample_interval=incremental", "nint.xi=0.5", "nint.lambda=2"])
    assert (cfg["nint"]["mt_ratio"], cfg["nint"]["batch_size_scheduler"], cfg["nint"]["sample_interval"],
            cfg["nint"]["xi"], cfg["nint"]["lambda"]) == (0.5, "step", "incremental", 0.5, 2.0)


def test_evos_constants_on_audio_reach_the_sampler():
    cfg = load_config("audio", overrides=["EXP_CONFIGS.strategy_type=evos_no_crossover",
                                          "evos.mutation_ratio=0.3", "evos.fitness_interval_start=7",
                                          "evos.fitness_interval_end=7", "TRAIN_CONFIGS.iterations=30"])
    sampler = build_sampler(cfg, 1000, torch.Generator().manual_seed(0), signal={"modality": "audio"})
    assert sampler.mutation_ratio == 0.3 and sorted(sampler.fitness_at) == [0, 7, 14, 21, 28]
    assert sampler.mutation_count(200) == int(0.3 * 0.2 * 1000)
    with pytest.raises(UserError, match="evos.mutation_ratio=2.0 is out of range"):
        load_config("sdf", overrides=["evos.mutation_ratio=2"])


@pytest.mark.parametrize("override,needle", [
    ("evos.cfs_loss_weight=0.1", "a constant of evos only, not defined for audio"),
    ("expansive.xi=0.3", "holds the constants of expansive, not defined for audio"),
    ("soft_mining.a=1", "unknown config section 'soft_mining'"),
])
def test_image_only_constants_on_audio_are_one_line_errors(override, needle):
    with pytest.raises(UserError) as e:
        load_config("audio", overrides=[override])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_reference_is_current():
    with open(REFERENCE_PATH) as f:
        assert f.read() == reference_markdown(), "config/reference.md is stale: run `make reference`"


def test_reference_lists_every_declared_constant():
    with open(REFERENCE_PATH) as f:
        text = f.read()
    for cls in SAMPLERS.values():
        for (section, key), param in cls.all_params().items():
            row = next(line for line in text.splitlines() if line.startswith(f"| `{section}.{key}` |"))
            assert param.meaning.replace("|", "\\|") in row
    for cls in MODELS.values():
        for key in cls.params:
            assert f"| `model_config.{key}` |" in text
    assert "| `nint.mt_ratio` | `0.2` (sdf: 0.4) | (0, 1] | every task |" in text
    assert "| `evos.cfs_loss_weight` | `1.0e-05` | [0, inf) | image |" in text
    for task in TASKS:  # the task keys, each under its task
        for section, declared in task_params(task).items():
            for key, param in declared.items():
                rows = [line for line in text.splitlines() if line.startswith(f"| `{section}.{key}` |")]
                assert any(param.meaning.replace("|", "\\|") in row for row in rows), (task, section, key)
    assert "| `TRAIN_CONFIGS.iterations` | `5000` (sdf: 10000) | [1, inf) | every task |" in text
    assert "| `TRAIN_CONFIGS.lpips` | `1` | 0 \\| 1 | image |" in text


def test_task_yamls_hold_only_what_differs_from_the_declarations():
    for task in TASKS:
        with open(os.path.join(ROOT, "config", f"train_{task}.yaml")) as f:
            written = yaml.safe_load(f) or {}
        params = schema(task, "siren")
        for section, entries in written.items():
            for key, value in entries.items():
                assert value != params[section][key].default, f"train_{task}.yaml repeats {section}.{key}'s default"
    assert load_config("sdf")["TRAIN_CONFIGS"]["iterations"] == 10000  # what the SDF file says
    assert load_config("image")["TRAIN_CONFIGS"]["iterations"] == 5000  # the declaration


def test_print_config_is_the_resolved_config_with_meanings():
    r = subprocess.run([sys.executable, "train_audio.py", "--print-config", "evos.mutation_ratio=0.25"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout) == load_config("audio", overrides=["evos.mutation_ratio=0.25"])
    assert "mutation_ratio: 0.25" in r.stdout and "allowed: [0, 1]" in r.stdout
    assert "# optimizer steps" in r.stdout  # the task YAML's own comments


# -- make_sampler: a sampler without config files or trainer -----------------------------------------
def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def test_make_sampler_is_the_configured_sampler():
    """The same constants give the same selections as a run's build_sampler."""
    n, steps = 400, 40
    coords, targets = torch.rand(n, 2) * 2 - 1, torch.rand(n, 3)
    cfg = load_config("image", overrides=["EXP_CONFIGS.strategy_type=nint", f"TRAIN_CONFIGS.iterations={steps}",
                                          "nint.xi=0.5", "nint.alpha=3", "nint.lambda=0.5", "nint.mt_ratio=0.3"])
    configured = build_sampler(cfg, n, torch.Generator().manual_seed(5), signal={"modality": "image"})
    own = make_sampler("nint", n_points=n, total_steps=steps, ratio=0.3, seed=5, xi=0.5, alpha=3, lambda_=0.5)
    assert own.constants == configured.constants
    model = _model()
    for step in range(12):
        a = configured.select(step, model, coords, targets).indices
        b = own.select(step, model, coords, targets).indices
        assert torch.equal(a, b), step
    assert own.counts()["ntk_scores"] == configured.counts()["ntk_scores"] == 5  # calls 1, 3, 6, 9, 12
    assert len(a) == int(0.3 * n)


def test_make_sampler_arguments():
    with pytest.raises(TypeError, match="did you mean 'xi'"):
        make_sampler("nint", 100, 10, xii=0.5)
    with pytest.raises(TypeError, match="mt_ratio"):  # the shared constants are listed too
        make_sampler("uniform", 100, 10, alpha=3)
    with pytest.raises(ValueError, match=r"^xi=2 is out of range"):  # the keyword, not the config key
        make_sampler("nint", 100, 10, xi=2)
    with pytest.raises(ValueError, match="image="):
        make_sampler("egra", 100, 10)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("nnt", 100, 10)
    s = make_sampler("uniform", 100, 10, ratio=0.5, sample_interval="dense2", dense2_period=3)
    assert (s.interval, s.dense2_period, s.batch_size(0)) == ("dense2", 3, 50)


def test_image_samplers_in_a_plain_loop():
    """Every image sampler through the README's loop: select, points, training_loss, update, observe."""
    import imageio.v3 as iio
    image = torch.tensor(iio.imread(IMAGE)[200:224, 200:224, :3], dtype=torch.float32) / 255  # [24, 24, 3]
    targets = image.reshape(-1, 3)
    axis = torch.linspace(-1, 1, 24)
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    for name in ("evos", "evos_no_cfs", "expansive", "egra", "soft_mining"):
        model = _model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        sampler = make_sampler(name, total_steps=12, ratio=0.25, seed=0, image=image,
                               **({"fitness_interval_start": 4, "fitness_interval_end": 4} if "evos" in name else {}))
        assert sampler.n_points == 576
        for step in range(12):
            selection = sampler.select(step, model, coords, targets)
            x, y = selection.points(coords, targets)
            loss, point_losses = sampler.training_loss(selection, model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sampler.observe(selection, point_losses.detach(), x.grad)
        counts = sampler.counts()
        if name.startswith("evos"):
            assert counts["fitness_steps"] == 3 and counts["cfs_loss_steps"] == (12 if name == "evos" else 0)
        if name == "soft_mining":
            assert counts["langevin_steps"] == 11  # every step after the first moved the points
