"""Audio fitting (the paper's Table 6): time coordinates -> waveform amplitude.

Signal: the excerpt [start_sec, start_sec + num_secs) of one clip, mono, at
`sample_rate` Hz (the paper: the first 2 s of a LibriSpeech clip at 16 kHz,
T = 32,000 samples). Coordinates: linspace(t0, t1, T) with (t0, t1) =
DATASET_CONFIGS.time_range, [-5, 5] as in the INT release: a range wider than
[-1, 1] lets a SIREN with omega_0 = 30 reach the high frequencies of speech.
Targets: [T, 1], amplitudes as decoded (in [-1, 1], not peak-normalized) mapped
to DATASET_CONFIGS.value_range ([-1, 1] by default; [0, 1] is the INT release's
choice). Metrics and outputs use amplitudes in [-1, 1], the prediction clipped
to that range (what a listener of reconstruction.wav hears).
"""
import os

import numpy as np
import torch

from utils.tasks.audio.io import load_audio, write_wav
from utils.tasks.audio.metrics import pesq_wb, si_snr, stoi
from utils.tasks.base import Task
from utils.devices import chunk_points, forward_in_chunks
from utils.errors import UserError


def time_grid(n_samples: int, time_range=(-5.0, 5.0)) -> torch.Tensor:
    """[T, 1] sample times, linspace(t0, t1, T)."""
    t0, t1 = (float(v) for v in time_range)
    return torch.linspace(t0, t1, n_samples).reshape(-1, 1)


class AudioTask(Task):
    modality = "audio"
    in_features = 1
    out_features = 1
    metrics = {"si_snr": True, "stoi": True, "pesq": True}
    thresholds = {"si_snr": (0, 5, 10, 20)}  # dB; the paper's Table 6 values are -5 to 4 dB after 3 s
    progress_metric = "si_snr"

    def __init__(self, cfg: dict, device, notify=print):
        data = cfg["DATASET_CONFIGS"]
        self.path = data["file_path"]
        self.notify = notify
        self.wave, self.sample_rate = load_audio(
            self.path, num_secs=data["num_secs"], start_sec=float(data["start_sec"]),
            sample_rate=int(data["sample_rate"]), resample=bool(data["resample"]), notify=notify)
        self.start_sec = float(data["start_sec"])
        if float(np.ptp(self.wave)) == 0.0:  # SI-SNR (and STOI, PESQ) are undefined against a constant target
            raise UserError(f"{self.path}: the excerpt ({self.start_sec:g} s, DATASET_CONFIGS.num_secs="
                            f"{data['num_secs']}) is silent: every sample is {float(self.wave[0]):g}, so there is "
                            f"nothing to fit and no SI-SNR to measure; choose another start_sec or file")
        lo, hi = (float(v) for v in data["value_range"])
        # amplitude a in [-1, 1] <-> target a * scale + offset (exact for the default [-1, 1])
        self.value_scale, self.value_offset = (hi - lo) / 2.0, (hi + lo) / 2.0
        self.device = device
        self.forward_chunk = chunk_points(cfg["TRAIN_CONFIGS"]["forward_chunk"], torch.device(device).type, "forward")
        self.coords = time_grid(len(self.wave), data["time_range"]).to(device)
        self.targets = (torch.from_numpy(self.wave).reshape(-1, 1) * self.value_scale + self.value_offset).to(device)
        self._reasons_said = set()  # why a metric is null, each said once per run

    def describe(self):
        return (f"{os.path.basename(self.path)} {len(self.wave) / self.sample_rate:g} s from {self.start_sec:g} s "
                f"at {self.sample_rate} Hz ({len(self.wave)} samples)")

    @property
    def signal(self):
        return {"modality": "audio", "shape": (len(self.wave),), "waveform": self.wave,
                "sample_rate": self.sample_rate}

    def reconstruct(self, model) -> np.ndarray:
        """The model's waveform [T], amplitudes clipped to [-1, 1]."""
        out = forward_in_chunks(model, self.coords, self.forward_chunk)[:, 0]
        amplitude = (out - self.value_offset) / self.value_scale
        return amplitude.clamp(-1.0, 1.0).cpu().numpy()

    def _null_because(self, metric: str, reason: str):
        if reason not in self._reasons_said:
            self._reasons_said.add(reason)
            self.notify(f"{metric} recorded as null: {reason}")
        return None

    def evaluate(self, model) -> dict:
        recon = self.reconstruct(model)
        value = si_snr(recon, self.wave)
        result = {"si_snr": value if value is not None else self._null_because("si_snr", "the target is silent")}
        for name, metric in (("stoi", stoi), ("pesq", pesq_wb)):
            value, reason = metric(recon, self.wave, self.sample_rate)
            result[name] = value if reason is None else self._null_because(name, reason)
        return result

    def figure(self, model, recon=None):
        from utils.tasks.audio.plots import waveform_spectrogram_figure
        recon = self.reconstruct(model) if recon is None else recon
        return waveform_spectrogram_figure(self.wave, recon, self.sample_rate, title=self.describe())

    def save_outputs(self, model, run_dir):
        import matplotlib.pyplot as plt
        recon = self.reconstruct(model)
        write_wav(os.path.join(run_dir, "reconstruction.wav"), recon, self.sample_rate)
        write_wav(os.path.join(run_dir, "target.wav"), self.wave, self.sample_rate)
        fig = self.figure(model, recon)
        fig.savefig(os.path.join(run_dir, "waveform_spectrogram.png"), dpi=120)
        plt.close(fig)

    def save_snapshot(self, model, run_dir, seconds):
        """reconstruction_at_<T>s.wav: the waveform after `seconds` of training (Fig. 6 compares at equal time)."""
        name = f"reconstruction_at_{seconds:g}s.wav"
        write_wav(os.path.join(run_dir, name), self.reconstruct(model), self.sample_rate)
        return name

    def wandb_media(self, model, first):
        import matplotlib.pyplot as plt
        from utils.tasks.audio.plots import figure_to_rgb
        recon = self.reconstruct(model)
        fig = self.figure(model, recon)
        media = {"reconstruction": {"audio": recon, "sample_rate": self.sample_rate},
                 "waveform_spectrogram": figure_to_rgb(fig)}
        plt.close(fig)
        if first:
            media["ground_truth"] = {"audio": self.wave, "sample_rate": self.sample_rate}
        return media
