"""Audio task: loading, coordinate grid, metrics, bad input and a tiny end-to-end run."""
import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from utils.tasks.audio.io import load_audio
from utils.tasks.audio.metrics import pesq_wb, si_snr, stoi
from utils.tasks.audio.plots import mel_spectrogram_db
from utils.engine.cli import main
from utils.engine.config import ROOT, load_config
from utils.errors import UserError
from utils.tasks.audio import AudioTask

CLIP = os.path.join(ROOT, "data", "audio", "00.flac")
# Uniform: the cheapest sampler; these tests are about the audio task, not the sampler.
BASE = ["EXP_CONFIGS.strategy_type=uniform"]
TINY = ["model_config.hidden_layers=2", "model_config.hidden_features=32", "TRAIN_CONFIGS.progress=0",
        "TRAIN_CONFIGS.device=cpu"]


def tone(freq_hz, secs, rate):
    t = np.arange(int(round(secs * rate))) / rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def make_task(path, *overrides, notify=None):
    cfg = load_config("audio", None, BASE + [f"DATASET_CONFIGS.file_path={path}", *overrides])
    return AudioTask(cfg, torch.device("cpu"), notify=notify or (lambda *_: None))


def peak_hz(wave, rate):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1.0 / rate)[np.argmax(spectrum)]


def test_default_config_is_the_papers_audio_setting():
    cfg = load_config("audio")
    data, nint, model = cfg["DATASET_CONFIGS"], cfg["nint"], cfg["model_config"]
    assert data["file_path"] == "data/audio/00.flac" and os.path.isfile(os.path.join(ROOT, data["file_path"]))
    assert (data["num_secs"], data["start_sec"], data["sample_rate"], data["resample"]) == (2.0, 0.0, 16000, 1)
    assert data["time_range"] == [-5, 5] and data["value_range"] == [-1, 1]
    assert (model["name"], model["hidden_layers"], model["hidden_features"], model["lr"]) == ("siren", 5, 256, 1e-4)
    assert cfg["EXP_CONFIGS"]["strategy_type"] == "nint"
    assert (nint["mt_ratio"], nint["xi"], nint["alpha"], nint["lambda"]) == (0.2, 0.7, 10, 1.0)


# ---- loading and the coordinate grid -------------------------------------------------------

def test_stereo_tone_is_mixed_down_and_resampled(tmp_path):
    path = str(tmp_path / "tone.wav")
    mono = tone(440.0, 1.0, 22050)
    sf.write(path, np.stack([mono, 0.5 * mono], axis=1), 22050, subtype="FLOAT")
    notes = []
    task = make_task(path, "DATASET_CONFIGS.num_secs=0.5", "DATASET_CONFIGS.start_sec=0.25", notify=notes.append)
    assert task.sample_rate == 16000 and task.wave.shape == (8000,)
    assert any("mixed down" in n for n in notes) and any("22050 Hz to 16000 Hz" in n for n in notes)
    assert abs(peak_hz(task.wave, 16000) - 440.0) < 3.0
    assert np.abs(task.wave).max() == pytest.approx(0.75 * 0.5, rel=0.02)  # channel mean
    # grid: T points linspace(-5, 5), one input feature; targets = amplitudes in [-1, 1]
    assert task.coords.shape == (8000, 1) and task.targets.shape == (8000, 1)
    assert task.coords[0, 0].item() == -5.0 and task.coords[-1, 0].item() == 5.0
    assert torch.all(task.coords[1:] > task.coords[:-1])
    assert torch.equal(task.targets[:, 0], torch.from_numpy(task.wave))


@pytest.mark.parametrize("suffix,fmt,subtype", [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"),
                                                ("ogg", "OGG", "VORBIS")])
def test_wav_flac_ogg_load(tmp_path, suffix, fmt, subtype):
    path = str(tmp_path / f"tone.{suffix}")
    sf.write(path, tone(300.0, 0.6, 16000), 16000, format=fmt, subtype=subtype)
    wave, rate = load_audio(path, num_secs=0.5, notify=lambda *_: None)
    assert rate == 16000 and wave.shape == (8000,) and wave.dtype == np.float32
    assert abs(peak_hz(wave, rate) - 300.0) < 3.0


def test_native_rate_excerpt_is_exact_slice(tmp_path):
    path = str(tmp_path / "ramp.wav")
    ramp = np.linspace(-0.9, 0.9, 22050, dtype=np.float32)
    sf.write(path, ramp, 22050, subtype="FLOAT")
    wave, rate = load_audio(path, num_secs=0.5, start_sec=0.2, resample=False, notify=lambda *_: None)
    first = int(round(0.2 * 22050))
    assert rate == 22050
    np.testing.assert_array_equal(wave, ramp[first: first + int(round(0.5 * 22050))])
    # num_secs=None runs to the end of the clip
    wave, _ = load_audio(path, num_secs=None, start_sec=0.5, resample=False, notify=lambda *_: None)
    assert len(wave) == 22050 - int(round(0.5 * 22050))


def test_value_range_and_time_range_options(tmp_path):
    path = str(tmp_path / "tone.wav")
    sf.write(path, tone(200.0, 0.5, 16000), 16000, subtype="FLOAT")
    task = make_task(path, "DATASET_CONFIGS.num_secs=0.5", "DATASET_CONFIGS.value_range=[0,1]",
                     "DATASET_CONFIGS.time_range=[-1,1]")
    assert task.coords.min().item() == -1.0 and task.coords.max().item() == 1.0
    np.testing.assert_allclose(task.targets[:, 0].numpy(), (task.wave + 1) / 2, atol=1e-7)


def test_shipped_clip_first_two_seconds():
    task = make_task(CLIP)
    raw, rate = sf.read(CLIP, dtype="float32")
    assert rate == 16000 and task.sample_rate == 16000
    assert task.n_points == 32000 and task.coords.shape == (32000, 1)
    np.testing.assert_array_equal(task.wave, raw[:32000])  # 16 kHz clip: no resampling, exact samples
    assert task.signal["modality"] == "audio" and task.signal["shape"] == (32000,)


# ---- metrics --------------------------------------------------------------------------------

def test_si_snr_of_scaled_noisy_signal():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(16000)
    s -= s.mean()
    n = rng.standard_normal(16000)
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s                     # noise orthogonal to the signal
    n *= np.sqrt(0.09 * (s @ s) / (n @ n))          # |n|^2 = 0.09 |s|^2
    estimate = 3.0 * s + n + 0.7                    # scaled, noisy and offset
    expected = 10 * np.log10(9.0 * (s @ s) / (n @ n))  # = 20 dB
    assert si_snr(estimate, s) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(20.0)
    assert si_snr(0.25 * estimate, s) == pytest.approx(expected, abs=1e-6)   # scale invariance
    assert si_snr(-0.25 * estimate, s) == pytest.approx(expected, abs=1e-6)  # sign too
    assert si_snr(2.0 * s, s) > 100.0                # a scaled copy
    assert si_snr(np.zeros_like(s), s) == float("-inf")
    assert si_snr(s, np.zeros_like(s)) is None       # silent reference: undefined


def test_stoi_and_pesq_identical_signals():
    wave, rate = load_audio(CLIP, num_secs=2.0)
    value, reason = stoi(wave, wave, rate)
    assert reason is None and value == pytest.approx(1.0, abs=1e-6)
    value, reason = pesq_wb(wave, wave, rate)
    assert reason is None and value > 4.5           # wide-band PESQ tops out near 4.64
    noisy = wave + 0.02 * np.random.default_rng(0).standard_normal(len(wave)).astype(np.float32)
    assert pesq_wb(noisy, wave, rate)[0] < value
    assert stoi(noisy, wave, rate)[0] < 1.0


def test_pesq_and_stoi_null_with_reason():
    wave, _ = load_audio(CLIP, num_secs=1.0, sample_rate=22050)
    value, reason = pesq_wb(wave, wave, 22050)
    assert value is None and "16000" in reason
    short, _ = load_audio(CLIP, num_secs=0.1, start_sec=0.3)
    value, reason = stoi(short, short, 16000)
    assert value is None and "STOI" in reason
    value, reason = pesq_wb(short, short, 16000)
    assert value is None and "PESQ failed" in reason


def test_mel_spectrogram_finds_the_tone():
    db, times, centres = mel_spectrogram_db(tone(1000.0, 0.5, 16000), 16000, n_mels=64)
    assert db.shape[0] == 64 and db.shape[1] == len(times)
    assert abs(centres[np.argmax(db.mean(axis=1))] - 1000.0) < 100.0


# ---- bad input: one line on stderr, exit status 2 -------------------------------------------

def _bad_cases(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    short = str(tmp_path / "short.wav")
    sf.write(short, tone(300.0, 0.5, 16000), 16000)
    return [
        (["DATASET_CONFIGS.file_path=" + str(tmp_path / "missing.flac")], "not found"),
        (["DATASET_CONFIGS.file_path=" + str(text)], "cannot read audio"),
        (["DATASET_CONFIGS.file_path=" + short], "0.500 s long"),
        (["DATASET_CONFIGS.file_path=" + short, "DATASET_CONFIGS.num_secs=0.2",
          "DATASET_CONFIGS.start_sec=0.4"], "0.500 s long"),
        (["DATASET_CONFIGS.num_secs=0"], "num_secs"),
        (["DATASET_CONFIGS.start_sec=-1"], "start_sec"),
        (["DATASET_CONFIGS.resample=2"], "resample"),
        (["DATASET_CONFIGS.time_range=[5,-5]"], "time_range"),
        (["DATASET_CONFIGS.sample_rate=fast"], "sample_rate"),
    ]


def test_bad_input_is_one_line(tmp_path, capsys):
    for overrides, expected in _bad_cases(tmp_path):
        code = main("audio", BASE + TINY + [f"TRAIN_CONFIGS.out_root={tmp_path / 'out'}"] + overrides)
        err = capsys.readouterr().err.strip()
        assert code == 2, overrides
        assert err.startswith("error:") and "\n" not in err and expected in err, (overrides, err)
        assert "Traceback" not in err


def test_load_audio_raises_user_error_directly(tmp_path):
    empty = str(tmp_path / "empty.wav")
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(UserError):
        load_audio(empty)


# ---- end to end through the shared CLI and training loop -----------------------------------

def _run(tmp_path, name, *extra):
    argv = BASE + TINY + [f"DATASET_CONFIGS.file_path={CLIP}", "DATASET_CONFIGS.num_secs=0.3",
                          "DATASET_CONFIGS.start_sec=0.25", "TRAIN_CONFIGS.iterations=60",
                          "TRAIN_CONFIGS.eval_interval=10", f"TRAIN_CONFIGS.out_root={tmp_path}",
                          f"TRAIN_CONFIGS.out_dir={name}", *extra]
    assert main("audio", argv) == 0
    return os.path.join(str(tmp_path), name)


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_end_to_end_si_snr_rises_and_outputs(tmp_path, capsys):
    run_dir = _run(tmp_path, "a")
    out = capsys.readouterr().out
    rows = _rows(run_dir)
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    first, last = float(rows[0]["si_snr"]), float(rows[-1]["si_snr"])
    assert last > first + 3.0, (first, last)
    assert all(r["pesq"] != "" for r in rows)               # 0.3 s at 16 kHz: PESQ defined
    assert all(r["stoi"] == "" for r in rows)               # too short for STOI: null ...
    assert out.count("stoi recorded as null") == 1          # ... and said once
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["status"] == "completed" and summary["final_stoi"] is None
    assert summary["best_si_snr"] == pytest.approx(max(float(r["si_snr"]) for r in rows))
    assert set(summary["time_to"]) == {"si_snr_0", "si_snr_5", "si_snr_10", "si_snr_20"}
    info = sf.info(os.path.join(run_dir, "reconstruction.wav"))
    assert (info.subtype, info.samplerate, info.frames, info.channels) == ("PCM_16", 16000, 4800, 1)
    assert os.path.getsize(os.path.join(run_dir, "waveform_spectrogram.png")) > 10_000

    # a fixed seed gives the same run twice on the CPU (its first 20 steps here)
    again = _rows(_run(tmp_path, "b", "TRAIN_CONFIGS.iterations=20"))
    assert [r["si_snr"] for r in again] == [r["si_snr"] for r in rows[:2]]


def test_snapshot_at_a_training_time_is_a_wav(tmp_path):
    run_dir = _run(tmp_path, "snap", "TRAIN_CONFIGS.iterations=20", "TRAIN_CONFIGS.snapshot_seconds=[0, 1.0e9]")
    index = json.load(open(os.path.join(run_dir, "snapshots.json")))
    assert list(index) == ["0"] and index["0"]["step"] == 1 and index["0"]["file"] == "reconstruction_at_0s.wav"
    snap, rate = sf.read(os.path.join(run_dir, "reconstruction_at_0s.wav"))
    final, _ = sf.read(os.path.join(run_dir, "reconstruction.wav"))
    assert rate == 16000 and snap.shape == final.shape == (4800,) and not np.array_equal(snap, final)


def test_interrupt_and_resume(tmp_path):
    from utils.engine.trainer import Interrupted, train
    cfg = load_config("audio", None, BASE + TINY + [
        f"DATASET_CONFIGS.file_path={CLIP}", "DATASET_CONFIGS.num_secs=0.3", "TRAIN_CONFIGS.iterations=30",
        "TRAIN_CONFIGS.eval_interval=10"])
    task = AudioTask(cfg, torch.device("cpu"), notify=lambda *_: None)
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    with pytest.raises(Interrupted):
        train(cfg, task, run_dir, torch.device("cpu"), stop_at=15, log=lambda *_: None)
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "interrupted"
    assert main("audio", ["--resume", run_dir]) == 0
    assert [int(r["step"]) for r in _rows(run_dir)] == [10, 20, 30]
    assert json.load(open(os.path.join(run_dir, "summary.json")))["status"] == "completed"


def test_wandb_logs_audio_media(tmp_path, monkeypatch):
    """What goes to wandb (disabled mode, same calls): at step 10 the reconstruction and the ground
    truth as 16 kHz sounds beside the waveform figure, at step 20 (log_images_every) the reconstruction."""
    pytest.importorskip("wandb")
    from utils.engine import wandb_logger
    monkeypatch.setenv("WANDB_MODE", "disabled")
    logged, log_media = [], wandb_logger.WandbLogger.log_media
    monkeypatch.setattr(wandb_logger.WandbLogger, "log_media",
                        lambda self, step, media: (logged.append((step, media)), log_media(self, step, media))[-1])
    _run(tmp_path, "w", "WANDB_CONFIGS.use_wandb=1", "WANDB_CONFIGS.log_images_every=20", "TRAIN_CONFIGS.iterations=20")
    assert [(step, sorted(media)) for step, media in logged] == [
        (10, ["ground_truth", "reconstruction", "waveform_spectrogram"]), (20, ["reconstruction", "waveform_spectrogram"])]
    for _, media in logged:
        sound = media["reconstruction"]
        assert sound["sample_rate"] == 16000 and sound["audio"].shape == (4800,)
        assert media["waveform_spectrogram"].ndim == 3
    assert np.abs(logged[0][1]["ground_truth"]["audio"]).max() > 0.01
