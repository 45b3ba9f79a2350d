"""Nothing lost, nothing silently wrong (issue 21): divergence, interruption, resume, odd inputs.

Each test is one class of odd input or misuse; each asserts the one-line answer (or the
documented behaviour) and would fail if that behaviour broke. Tiny signals throughout.
"""
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from conftest import ROOT, run_tiny, stderr_lines, tiny_config
from utils.engine.cli import main
from utils.errors import UserError, UserValueError

TINY = ["TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.lpips=0", "model_config.hidden_layers=1",
        "model_config.hidden_features=8"]


_err = stderr_lines



def _args(image, out_root, *more, iterations=6, eval_interval=2):
    return [f"DATASET_CONFIGS.file_path={image}", f"TRAIN_CONFIGS.out_root={out_root}",
            f"TRAIN_CONFIGS.iterations={iterations}", f"TRAIN_CONFIGS.eval_interval={eval_interval}", *TINY, *more]


def _interrupted_run(image, out_root, stop_at=4):
    """An image run stopped (as by Ctrl-C) before step `stop_at`: its folder."""
    from utils.engine.trainer import Interrupted
    from utils.engine.config import load_config
    cfg = load_config("image", overrides=_args(image, out_root, iterations=10))
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=stop_at)
    return os.path.join(out_root, "run")


# -- case 1: divergence never leaves a non-finite checkpoint --------------------------------------

def _poison_after(monkeypatch, calls: int):
    """Adam's update number `calls` (1-based) and every later one leave a NaN in the weights
    (the loss before that update is finite, so only a check of the parameters can tell)."""
    original, count = torch.optim.Adam.step, {"n": 0}

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        count["n"] += 1
        if count["n"] >= calls:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out
    monkeypatch.setattr(torch.optim.Adam, "step", step)


def test_divergence_keeps_the_last_finite_checkpoint(tmp_path, image8, monkeypatch, capsys):
    _poison_after(monkeypatch, 6)  # the update of step 5: evaluation and checkpoint due right after it (step 6)
    code = main("image", _args(image8, tmp_path, iterations=20))
    err = _err(capsys)
    run_dir = os.path.join(tmp_path, "image_a_nint_siren")
    assert code == 3 and len(err) == 1, err
    assert "non-finite at step 6" in err[0] and "last good checkpoint" in err[0] and "(step 4" in err[0]
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert ckpt["step"] == 4 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not os.path.exists(os.path.join(run_dir, "model.pt"))
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "diverged"
    assert [int(r.split(",")[0]) for r in open(os.path.join(run_dir, "metrics.csv")).read().split()[1:]] == [2, 4]


def _floating(value):
    """Every floating tensor inside a checkpoint's nested dicts, lists and Selections."""
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in _floating(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _floating(v)]
    if hasattr(value, "__dataclass_fields__"):
        return [t for name in value.__dataclass_fields__ for t in _floating(getattr(value, name))]
    return []


def test_an_overflow_in_the_optimizer_state_is_never_saved(tmp_path, image8, monkeypatch, capsys):
    # lr 1e6 on a 2x16 SIREN: Adam's second moment overflows to inf within a few steps, while the
    # weights and the loss stay finite (an update of m / sqrt(inf) is 0), so a weights-only check passes.
    written, save = [], torch.save

    def record(obj, path, *args, **kwargs):
        save(obj, path, *args, **kwargs)
        written.append((str(path), torch.load(path, weights_only=False)))
    monkeypatch.setattr(torch, "save", record)
    code = main("image", _args(image8, tmp_path, "TRAIN_CONFIGS.lr=1e6", "model_config.hidden_layers=2",
                               "model_config.hidden_features=16", iterations=20, eval_interval=1))
    err = _err(capsys)
    run_dir = os.path.join(tmp_path, "image_a_nint_siren")
    assert code == 3 and len(err) == 1, err
    assert "optimizer state became non-finite at step" in err[0] and "exp_avg_sq of net." in err[0], err
    assert written and all(path.endswith("checkpoint.pt.tmp") for path, _ in written)  # no model.pt
    for path, state in written:
        tensors = _floating(state)
        assert len(tensors) > 10 and all(bool(torch.isfinite(t).all()) for t in tensors), (path, state["step"])
    last = written[-1][1]
    assert f"(step {last['step']};" in err[0] and "optimizer and sampler state all finite" in err[0]
    assert torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)["step"] == last["step"]
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "diverged"


def test_divergence_before_any_checkpoint_says_so(tmp_path, image8, monkeypatch, capsys):
    _poison_after(monkeypatch, 2)
    assert main("image", _args(image8, tmp_path)) == 3
    err = _err(capsys)
    assert "no checkpoint was written" in err[0]
    assert not os.path.exists(os.path.join(tmp_path, "image_a_nint_siren", "checkpoint.pt"))


# -- case 3 and resume: the checkpoint belongs to its signal, task and file ------------------------

def test_resume_refuses_a_changed_signal(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    iio.imwrite(image8, 255 - iio.imread(image8))  # the file replaced by another image
    rows = open(os.path.join(run_dir, "metrics.csv")).read()
    assert main("image", ["--resume", run_dir]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "signal differs" in err[0] and image8 in err[0]
    assert open(os.path.join(run_dir, "metrics.csv")).read() == rows  # nothing mixed in


def test_resume_on_the_same_signal_still_works(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    assert main("image", ["--resume", run_dir]) == 0
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "completed"


def test_a_garbage_summary_is_named_on_resume(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    path = os.path.join(run_dir, "summary.json")
    for content in (b"", b'{"status": "interr', b"[1, 2]", b"\xff\xfe\x00"):
        open(path, "wb").write(content)
        assert main("image", ["--resume", run_dir]) == 2
        err = _err(capsys)
        assert len(err) == 1 and path in err[0] and "not a run's summary" in err[0], err
    os.remove(path)  # as the line says: the run then resumes and writes a new one
    assert main("image", ["--resume", run_dir]) == 0
    assert json.load(open(path))["status"] == "completed"


def test_a_checkpoint_without_a_fingerprint_resumes_with_a_note(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    path = os.path.join(run_dir, "checkpoint.pt")
    state = torch.load(path, weights_only=False)
    del state["signal_fingerprint"]  # as written before checkpoints had one
    torch.save(state, path)
    assert main("image", ["--resume", run_dir]) == 0
    assert "records no signal fingerprint" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", "truncated"])
def test_an_unreadable_checkpoint_is_named(tmp_path, image8, capsys, content):
    run_dir = _interrupted_run(image8, str(tmp_path))
    path = os.path.join(run_dir, "checkpoint.pt")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2] if content == "truncated" else content)
    assert main("image", ["--resume", run_dir]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "unreadable" in err[0] and path in err[0], err


def test_a_checkpoint_of_another_kind_is_named(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    torch.save({"weights": 1}, os.path.join(run_dir, "checkpoint.pt"))
    assert main("image", ["--resume", run_dir]) == 2
    assert "not a checkpoint of a training run" in _err(capsys)[0]


def test_resume_with_the_wrong_script_names_the_task(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    assert main("audio", ["--resume", run_dir]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "is an image run" in err[0] and "train_image.py --resume" in err[0]


def test_print_config_with_resume_prints_the_runs_configuration(tmp_path, image8, capsys):
    run_dir = _interrupted_run(image8, str(tmp_path))
    assert main("image", ["--print-config", "--resume", run_dir]) == 0
    lines = [line.split("#")[0].strip() for line in capsys.readouterr().out.splitlines()]
    assert f"file_path: {image8}" in lines and "iterations: 10" in lines and "hidden_features: 8" in lines


# -- SIGTERM: like Ctrl-C, with a real signal to a real process ------------------------------------

def test_sigterm_checkpoints_and_prints_a_quoted_resume_command(tmp_path, image8):
    out_root = tmp_path / "my runs"  # a space: the printed command must survive pasting
    argv = [sys.executable, os.path.join(ROOT, "train_image.py"),
            *_args(image8, out_root, iterations=1_000_000, eval_interval=5)]
    proc, ckpt = _training_started(argv, out_root, dict(os.environ, OMP_NUM_THREADS="1"))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = json.load(open(out_root / "image_a_nint_siren" / "summary.json"))
    assert summary["status"] == "interrupted"
    state = torch.load(ckpt, weights_only=False)
    assert state["step"] == summary["iterations"] > 0
    line = err.strip().splitlines()[-1]
    assert "SIGTERM" in line
    command = shlex.split(line.split("Continue with: ", 1)[1])
    assert command[-2:] == ["--resume", str(out_root / "image_a_nint_siren")]


def _slowed_training(image, out_root, *, summary_pause=0.0, exit_pause=0.0):
    """train_image.py as a subprocess whose interrupted summary.json takes `summary_pause` s more to
    write and whose exit takes `exit_pause` s more (an atexit pause): windows a second signal can hit."""
    prelude = (f"import atexit, sys, time; sys.path.insert(0, {ROOT!r}); from utils.engine import run; "
               f"write = run.Run.write_summary; "
               f"run.Run.write_summary = lambda self, status, step: "
               f"(time.sleep({summary_pause}) if status == 'interrupted' else None, write(self, status, step))[1]; "
               f"atexit.register(time.sleep, {exit_pause}); "
               f"from utils.engine.cli import main; sys.exit(main('image'))")
    argv = [sys.executable, "-c", prelude, *_args(image, out_root, iterations=1_000_000, eval_interval=5)]
    return _training_started(argv, out_root, dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1"))


def _training_started(argv, out_root, env):
    """(process, checkpoint path) of a training subprocess, once its first checkpoint is written."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = out_root / "image_a_nint_siren" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert ckpt.exists(), proc.communicate()
    return proc, ckpt


def _assert_interrupted_and_saved(proc, ckpt, err):
    assert proc.returncode == 130, (proc.returncode, err)
    summary = json.load(open(ckpt.parent / "summary.json"))
    assert summary["status"] == "interrupted"
    assert torch.load(ckpt, weights_only=False)["step"] == summary["iterations"] > 0
    assert "interrupted by SIGTERM: checkpoint saved" in err


def test_a_second_sigterm_does_not_cut_the_checkpoint_short(tmp_path, image8):
    # A group signal (`timeout`, Slurm) and reproduce.py's forwarded one: two SIGTERMs 30 ms apart,
    # the second while summary.json is being written (slowed down here, so that it always is).
    proc, ckpt = _slowed_training(image8, tmp_path, summary_pause=0.5)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.03)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    _assert_interrupted_and_saved(proc, ckpt, err)


def test_a_sigterm_after_the_checkpoint_keeps_the_exit_status(tmp_path, image8):
    # The second SIGTERM once everything is written, while the process exits: still 130 (not 143).
    proc, ckpt = _slowed_training(image8, tmp_path, exit_pause=1.0)
    proc.send_signal(signal.SIGTERM)
    lines = []
    while not any("checkpoint saved" in line for line in lines):
        line = proc.stderr.readline()
        assert line, (proc.wait(), lines)
        lines.append(line)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    _assert_interrupted_and_saved(proc, ckpt, "".join(lines) + err)


# -- odd signal files -----------------------------------------------------------------------------

@pytest.mark.parametrize("values,problem", [
    (lambda: np.full((8, 8, 3), 2.0, np.float32), "outside [0, 1]"),
    (lambda: np.full((8, 8, 3), -0.5, np.float32), "outside [0, 1]"),
    (lambda: np.where(np.eye(8)[..., None] > 0, np.nan, 0.5).repeat(3, 2).astype(np.float32), "NaN or inf"),
    (lambda: np.where(np.eye(8)[..., None] > 0, np.inf, 0.5).repeat(3, 2).astype(np.float32), "NaN or inf"),
])
def test_float_images_are_never_clipped_in_silence(tmp_path, values, problem):
    from utils.tasks.image.io import load_image
    path = str(tmp_path / "float.tif")
    iio.imwrite(path, values())
    with pytest.raises(UserError, match="float.tif") as e:
        load_image(path)
    assert problem in str(e.value)
    iio.imwrite(path, np.full((8, 8, 3), 0.25, np.float32))
    assert load_image(path).max() == pytest.approx(0.25)  # a float image in [0, 1] is read as it is


@pytest.mark.parametrize("content,problem", [(b"", "the file is empty"),
                                             (b"\x00garbage" * 30, "not a format any installed reader knows")])
def test_an_image_file_that_is_not_an_image(tmp_path, content, problem):
    from utils.tasks.image.io import load_image
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(UserError, match=problem):
        load_image(str(path))


def test_audio_beyond_full_scale_or_nan_is_refused(tmp_path):
    import soundfile as sf
    from utils.tasks.audio.io import load_audio
    path = str(tmp_path / "loud.wav")
    sf.write(path, np.full(1600, 1.5, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(UserError, match="beyond full scale"):
        load_audio(path, num_secs=0.05)
    sf.write(path, np.r_[np.zeros(10), np.nan, np.zeros(1589)].astype(np.float32), 16000, subtype="FLOAT")
    with pytest.raises(UserError, match="NaN or inf"):
        load_audio(path, num_secs=0.05)


@pytest.mark.parametrize("lines,problem", [
    ("v nan 0 0", "non-finite vertices (line 1"),
    ("v inf 0 0", "non-finite vertices (line 1"),
    ("v 1e300 0 0", "reach 1e+300"),
])
def test_meshes_with_non_finite_or_huge_vertices(tmp_path, capfd, lines, problem):
    from utils.tasks.sdf.io import load_shape
    path = tmp_path / "bad.obj"
    path.write_text(f"{lines}\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    with pytest.raises(UserError) as e:
        load_shape(str(path))
    assert problem in str(e.value) and "\n" not in str(e.value)
    assert "readOBJ" not in capfd.readouterr().err  # libigl's own complaint is not printed beside ours


def test_upscaling_and_large_images_are_said(tmp_path, image8, monkeypatch):
    from utils.tasks.image import task as image_task
    from utils.tasks.image.io import load_image
    notes = []
    load_image(image8, 32, notify=notes.append)
    assert any("upscaled 4x to 32x32" in n for n in notes)
    notes.clear()
    load_image(image8, 4, notify=notes.append)
    assert not any("upscaled" in n for n in notes)
    monkeypatch.setattr(image_task, "LARGE_IMAGE_POINTS", 32)
    cfg = tiny_config(image8, str(tmp_path))
    image_task.ImageTask(cfg, "cpu", notify=notes.append)
    assert any("8x8 = 0.0M points" in n and "DATASET_CONFIGS.img_size" in n for n in notes)


def test_a_relative_path_from_another_directory_gets_a_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main("image", ["TRAIN_CONFIGS.iterations=1", *TINY]) == 2  # the default images/01.png
    err = _err(capsys)
    assert len(err) == 1 and "images/01.png" in err[0] and "run from the repository root" in err[0]


# -- output folders -------------------------------------------------------------------------------

def test_out_root_that_is_a_file(tmp_path, image8, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main("image", _args(image8, blocker)) == 2
    err = _err(capsys)
    assert len(err) == 1 and str(blocker) in err[0] and "is a file, not a folder" in err[0]


@pytest.mark.parametrize("out_dir", ["../x", "a/../../x", "a/.."])
def test_a_relative_out_dir_stays_inside_out_root(tmp_path, image8, capsys, out_dir):
    assert main("image", _args(image8, tmp_path / "root", f"TRAIN_CONFIGS.out_dir={out_dir}")) == 2
    assert "leads outside TRAIN_CONFIGS.out_root" in _err(capsys)[0]
    assert not (tmp_path / "x").exists()


def test_an_absolute_out_dir_is_used_as_given(tmp_path, image8):
    assert main("image", _args(image8, tmp_path / "root", f"TRAIN_CONFIGS.out_dir={tmp_path / 'elsewhere'}")) == 0
    assert (tmp_path / "elsewhere" / "summary.json").exists()


# -- config values --------------------------------------------------------------------------------

@pytest.mark.parametrize("override", ["TRAIN_CONFIGS.lr=.inf", "TRAIN_CONFIGS.max_train_seconds=.inf",
                                      "TRAIN_CONFIGS.iterations=.inf", "nint.dense2_period=.inf",
                                      "nint.lambda=.inf", "TRAIN_CONFIGS.lr=-.inf"])
def test_infinite_values_are_out_of_range(override):
    from utils.engine.config import load_config
    with pytest.raises(UserError, match="out of range|expected"):
        load_config("image", overrides=[override])


def test_a_ratio_below_one_point_is_refused(tmp_path, image8, capsys):
    assert main("image", _args(image8, tmp_path, "nint.mt_ratio=1e-9")) == 2
    err = _err(capsys)
    assert len(err) == 1 and "nint.mt_ratio=1e-09 gives a batch of" in err[0] and "1/64" in err[0]


def test_settings_that_cannot_apply_are_said(image8, tmp_path):
    from samplers import SAMPLERS, unused_settings
    from utils.engine.config import load_config
    cfg = tiny_config(image8, str(tmp_path), "EXP_CONFIGS.strategy_type=uniform", "nint.save_selection_maps=1",
                      "nint.xi=0.5")
    notes = unused_settings(SAMPLERS["uniform"], cfg, "image")
    assert any("nint.save_selection_maps=1" in n and "uniform sampler ignores it" in n for n in notes)
    assert any("nint.xi=0.5" in n for n in notes)
    cfg = tiny_config(image8, str(tmp_path), "nint.save_selection_maps=1", "nint.selection_map_steps=[0,10,100]")
    assert unused_settings(SAMPLERS["nint"], cfg, "image") == [
        "nint.selection_map_steps [100] lie past the run's last step (29); no map is drawn for them"]
    assert unused_settings(SAMPLERS["nint"], tiny_config(image8, str(tmp_path)), "image") == []
    audio = load_config("audio", overrides=["nint.save_selection_maps=1"])
    assert any("an audio run saves none" in n
               for n in unused_settings(SAMPLERS["nint"], audio, "audio"))


def test_an_lpips_backbone_that_is_not_weights_is_said(tmp_path, capsys):
    from utils.tasks.image.lpips import load_lpips
    bad = tmp_path / "weights.pth"
    bad.write_text("not weights")
    load_lpips(str(bad))
    out = capsys.readouterr().out
    assert "lpips_backbone" in out and str(bad) in out and "not usable" in out


# -- the sampler API ------------------------------------------------------------------------------

def _sampler_error(call):
    with pytest.raises(ValueError) as e:
        call()
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)  # the scripts still exit 2
    return str(e.value)


@pytest.mark.parametrize("kwargs,named", [
    (dict(n_points=0), "n_points"), (dict(n_points=-3), "n_points"), (dict(n_points=2.5), "n_points"),
    (dict(n_points=True), "n_points"), (dict(total_steps=0), "total_steps"), (dict(seed=-1), "seed"),
    (dict(ratio=0), "ratio=0"), (dict(ratio=1.5), "ratio=1.5"), (dict(ratio=float("nan")), "ratio=nan"),
    (dict(ratio=1e-9), "ratio=1e-09 gives a batch"), (dict(xi=2), "xi=2 is out of range"),
    (dict(alpha=float("inf")), "alpha=inf"),
])
def test_make_sampler_names_the_bad_argument(kwargs, named):
    from samplers import make_sampler
    args = dict(n_points=64, total_steps=10)
    args.update(kwargs)
    message = _sampler_error(lambda: make_sampler("nint", **args))
    assert message.startswith(named) or named in message, message
    assert "nint." not in message.split("=")[0]  # the keyword, not the config key


@pytest.mark.parametrize("image,named", [
    (np.zeros((3, 8, 8)), "channels-first"), (np.zeros((1, 8, 8)), "channels-first"),
    (np.full((8, 8, 3), 255.0), "divide by 255"), (np.full((8, 8), np.nan), "NaN"),
    (np.zeros((8, 8, 7)), "1 to 4 channels"), (np.zeros((2, 8, 8, 3)), "[H, W] or [H, W, C]"),
    ("image.png", "[H, W] or [H, W, C]"),
])
def test_make_sampler_refuses_a_bad_image(image, named):
    from samplers import make_sampler
    assert named in _sampler_error(lambda: make_sampler("egra", 64, 10, image=image))


def test_make_sampler_refuses_an_image_of_another_size():
    from samplers import make_sampler
    assert "8x8 = 64 pixels" in _sampler_error(lambda: make_sampler("egra", 100, 10, image=np.zeros((8, 8, 3))))


@pytest.mark.parametrize("coords,targets,named", [
    (torch.zeros(63, 2), torch.zeros(63, 3), "coords has 63 rows"),
    (torch.zeros(64, 2), torch.zeros(60, 3), "targets has 60 rows"),
    (torch.zeros(64, 2), torch.zeros(64, 1), "targets have 1 channel(s) but the image"),
    (torch.zeros(64), torch.zeros(64, 3), "coords must be a 2D tensor"),
    (np.zeros((64, 2)), torch.zeros(64, 3), "coords must be a 2D tensor"),
])
def test_select_names_the_bad_argument(coords, targets, named):
    from samplers import make_sampler
    sampler = make_sampler("egra", image=np.zeros((8, 8, 3)), total_steps=10)
    model = torch.nn.Linear(2, 3)
    assert named in _sampler_error(lambda: sampler.select(0, model, coords, targets))


@pytest.mark.parametrize("name", ["int", "nint", "uniform"])
def test_select_refuses_targets_whose_channels_change(name):
    # No image= to compare with: the channel count of the first select() is the reference. Before,
    # INT broadcast [64, 3] - [64, 1] in silence and NINT raised torch's own RuntimeError.
    from samplers import make_sampler
    sampler = make_sampler(name, 64, 10)
    model, coords = torch.nn.Linear(2, 3), torch.rand(64, 2)
    sampler.select(0, model, coords, torch.rand(64, 3))
    message = _sampler_error(lambda: sampler.select(1, model, coords, torch.rand(64, 1)))
    assert message.startswith("targets have 1 channel(s) but had 3 at the first select()"), message
    assert len(sampler.select(1, model, coords, torch.rand(64, 3)).indices) == 12  # the same channels: fine


@pytest.mark.parametrize("step", [-1, 10, 11, 2.0, True, "3"])
def test_select_refuses_a_step_outside_the_run(step):
    from samplers import make_sampler
    sampler = make_sampler("nint", 64, 10)
    model, coords, targets = torch.nn.Linear(2, 3), torch.rand(64, 2), torch.rand(64, 3)
    message = _sampler_error(lambda: sampler.select(step, model, coords, targets))
    assert message.startswith(f"step must be a whole number in [0, total_steps) = [0, 10), got {step!r}")
    assert len(sampler.select(np.int64(9), model, coords, targets).indices) > 0  # the last step is one


def test_standard_takes_every_point_whatever_the_ratio():
    from samplers import make_sampler
    sampler = make_sampler("standard", 1, 10)  # ratio 0.2 of one point: no batch to speak of, none needed
    assert sampler.select(0, torch.nn.Linear(2, 1), torch.rand(1, 2), torch.rand(1, 1)).indices.tolist() == [0]
    assert len(make_sampler("standard", 64, 10, ratio=1e-3).select(
        0, torch.nn.Linear(2, 1), torch.rand(64, 2), torch.rand(64, 1)).indices) == 64
    assert "ratio=0.001 gives a batch" in _sampler_error(lambda: make_sampler("uniform", 64, 10, ratio=1e-3))


# -- reproduce.py ---------------------------------------------------------------------------------

def test_reproduce_answers_in_one_line(tmp_path, capsys, monkeypatch):
    import reproduce
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert reproduce.main(["table9", "--preset", "cpu", "--results", str(blocker), "--table-only"]) == 2
    assert "is a file, not a folder" in _err(capsys)[0]
    assert reproduce.main(["list", "--preset", "bogus"]) == 2
    assert "no sweep has that preset" in _err(capsys)[0]
    for command in ("claims", "report"):
        assert reproduce.main([command, "--preset", "bogus", "--results", str(tmp_path / "res")]) == 2
        err = _err(capsys)
        assert len(err) == 1 and "--preset bogus: no sweep has that preset" in err[0], err
        assert not (tmp_path / "res").exists()  # no claims_bogus.md written
        assert reproduce.main([command, "--preset", "cpu", "--results", str(blocker)]) == 2
        err = _err(capsys)
        assert len(err) == 1 and f"--results {blocker}" in err[0] and "is a file, not a folder" in err[0], err
    for jobs in ("0", "-2"):
        assert reproduce.main(["table2", "--preset", "cpu", "--jobs", jobs, "--dry-run"]) == 2
        err = _err(capsys)
        assert len(err) == 1 and f"--jobs {jobs}:" in err[0], err
    assert reproduce.main(["speedup", "--preset", "cpu", "--image", "/missing.png", "--dry-run"]) == 2
    err = _err(capsys)
    assert err[0].startswith("error: --image /missing.png")
    monkeypatch.setattr(reproduce, "run_table", lambda *a: 1 / 0)
    monkeypatch.delenv("NINT_TRACEBACK", raising=False)
    assert reproduce.main(["table2", "--preset", "cpu"]) == 1
    err = _err(capsys)
    assert len(err) == 1 and "unexpected ZeroDivisionError" in err[0] and "NINT_TRACEBACK=1" in err[0]
    monkeypatch.setenv("NINT_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        reproduce.main(["table2", "--preset", "cpu"])


def test_table_only_without_run_folders_keeps_the_committed_table(tmp_path, capsys):
    """A fresh machine has results/<stem>.md but no run folders: rebuilding would write 'not run'
    over every committed number, so --table-only refuses in one line and leaves the file as it is."""
    import reproduce
    results = tmp_path / "res"
    results.mkdir()
    table = results / "table9_cpu.md"
    table.write_text("the committed table\n")
    assert reproduce.main(["table9", "--preset", "cpu", "--results", str(results), "--table-only"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "none of the" in err[0] and "is kept as it is" in err[0], err
    assert table.read_text() == "the committed table\n"
    table.unlink()  # without a committed table there is nothing to lose: it writes one
    assert reproduce.main(["table9", "--preset", "cpu", "--results", str(results), "--table-only",
                           "--no-figures"]) == 0
    assert "not run" in table.read_text()


def _sweep_file(tmp_path, image, runs, columns):
    import yaml
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"task": "image", "presets": {"tiny": {"overrides": {}, "images": image}},
                                    "runs": runs, "columns": columns}))
    return str(path)


def test_a_threshold_the_runs_do_not_record_is_refused(tmp_path, image8):
    from utils.reproduce.sweep import load_sweep
    runs = [{"name": "nint", "overrides": {"EXP_CONFIGS.strategy_type": "nint"}}]
    for column, named in (({"time_to": "psnr_5"}, "threshold 'psnr_5'"), ({"iters_to": "ssim_0.5"}, "'ssim_0.5'"),
                          ({"final": "si_snr"}, "no metric 'si_snr'")):
        with pytest.raises(UserError, match=named) as e:
            load_sweep(_sweep_file(tmp_path, image8, runs, [column]), "tiny", results_dir=str(tmp_path))
        assert "recorded: psnr_20" in str(e.value) or "metrics: psnr" in str(e.value)
    load_sweep(_sweep_file(tmp_path, image8, runs, [{"time_to": "psnr_20"}]), "tiny", results_dir=str(tmp_path))


def test_dry_run_checks_every_run(tmp_path, image8, capsys):
    import reproduce
    runs = [{"name": "good", "overrides": {"EXP_CONFIGS.strategy_type": "nint"}},
            {"name": "typo", "overrides": {"nint.mt_ration": 0.1}}]
    path = _sweep_file(tmp_path, image8, runs, [{"final": "psnr"}])
    assert reproduce.main([path, "--preset", "tiny", "--results", str(tmp_path), "--dry-run"]) == 2
    err = _err(capsys)
    assert "run 'typo' would fail: unknown config key 'nint.mt_ration'" in err[0] and "1 of 2 run(s)" in err[-1]


# -- threads --------------------------------------------------------------------------------------

def test_thread_count(monkeypatch):
    from utils.engine import run
    before, measure = torch.get_num_threads(), run.busy_cores
    try:
        assert run.thread_count(1, log=lambda *_: None) == 1
        # OMP_NUM_THREADS set: the count is left as it is (torch followed the variable at start-up);
        # 2 here, not the variable's 1, shows that thread_count set nothing itself
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(2)
        assert run.thread_count(0, log=lambda *_: None) == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        monkeypatch.setattr(run, "_AUTO_THREADS", None)
        monkeypatch.setattr(run, "_DEFAULT_THREADS", 2)
        monkeypatch.setattr(run.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
        monkeypatch.setattr(run, "busy_cores", lambda seconds=0.25: 5.0)
        notes = []
        assert run.thread_count(0, log=notes.append) == 1 and "busy" in notes[0]  # a loaded machine: one thread
        monkeypatch.setattr(run, "_AUTO_THREADS", None)
        monkeypatch.setattr(run, "busy_cores", lambda seconds=0.25: 0.2)
        assert run.thread_count(0, log=notes.append) == 2  # an idle one: every core
        busy = measure(0.05)  # the real measurement: a share of the cores
        assert busy is None or 0.0 <= busy <= os.cpu_count()
    finally:
        torch.set_num_threads(before)

