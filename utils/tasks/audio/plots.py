"""Mel spectrogram (numpy/scipy) and the target-vs-reconstruction figure (paper Fig. 6)."""
import numpy as np
from scipy.signal import stft


def hz_to_mel(hz):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, equally spaced in mel from 0 Hz to Nyquist."""
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_spectrogram_db(wave: np.ndarray, sample_rate: int, n_mels: int = 80, floor_db: float = -80.0):
    """Log-power mel spectrogram in dB: (values [n_mels, frames], frame times s, mel centre freqs Hz).

    Frames of 25 ms (Hann), hop 10 ms, as is usual for speech. 0 dB is a full-scale
    sine's power per band; values are floored at `floor_db`.
    """
    n_fft = max(16, int(round(0.025 * sample_rate)))
    hop = max(1, int(round(0.010 * sample_rate)))
    n_fft = min(n_fft, len(wave))
    hop = min(hop, n_fft - 1) if n_fft > 1 else 1
    _, times, spec = stft(np.asarray(wave, np.float64), fs=sample_rate, window="hann", nperseg=n_fft,
                          noverlap=n_fft - hop, boundary=None, padded=False)
    power = np.abs(spec) ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels) @ power
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    centres = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2.0), n_mels + 2)[1:-1])
    return np.maximum(db, floor_db), times, centres


def waveform_spectrogram_figure(target: np.ndarray, reconstruction: np.ndarray, sample_rate: int,
                                title: str = ""):
    """A 2x2 matplotlib figure: waveform (top) and mel spectrogram (bottom), target | reconstruction."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed; files only
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 5.5), sharex="col", constrained_layout=True)
    seconds = np.arange(len(target)) / sample_rate
    specs = [mel_spectrogram_db(w, sample_rate) for w in (target, reconstruction)]
    vmax = max(s[0].max() for s in specs)
    vmin = max(min(s[0].min() for s in specs), vmax - 80.0)
    for col, (name, wave, (db, _, _)) in enumerate(
            zip(("target", "reconstruction"), (target, reconstruction), specs)):
        ax = axes[0, col]
        ax.plot(seconds, wave, linewidth=0.4, color="tab:blue" if col == 0 else "tab:orange")
        ax.set_ylim(-1.05 * max(np.abs(target).max(), 1e-3), 1.05 * max(np.abs(target).max(), 1e-3))
        ax.set_title(name)
        ax.set_ylabel("amplitude")
        ax = axes[1, col]
        # Mel bands are evenly spaced on the y axis (the mel scale itself), labelled in Hz.
        n_mels = db.shape[0]
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                          extent=(0.0, len(wave) / sample_rate, 0.0, n_mels), interpolation="nearest")
        top_mel = hz_to_mel(sample_rate / 2.0)
        ticks_hz = [f for f in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if f <= sample_rate / 2.0]
        # Band k (0-based) is centred at mel (k + 1) * top / (n_mels + 1), drawn at row k + 0.5.
        ax.set_yticks([float(np.clip(hz_to_mel(f) / top_mel * (n_mels + 1) - 0.5, 0, n_mels)) for f in ticks_hz])
        ax.set_yticklabels([f"{f:g}" for f in ticks_hz])
        ax.set_ylabel("frequency (Hz, mel scale)")
        ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=axes[1, :], label="dB", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


def figure_to_rgb(fig) -> np.ndarray:
    """The rendered figure as uint8 RGB [H, W, 3] (for wandb)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
