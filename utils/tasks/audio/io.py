"""Reading an audio excerpt and writing 16-bit WAV files (soundfile / libsndfile).

Amplitudes are float32 in [-1, 1], as libsndfile decodes integer PCM (a 16-bit
sample k becomes k / 32768). Any format libsndfile reads works: WAV, FLAC, OGG,
AIFF, MP3, ...
"""
import math
import os
from fractions import Fraction

import numpy as np
import soundfile as sf

from utils.errors import UserError, require_file

# Extra native-rate samples read on each side of the excerpt before resampling, so
# that the polyphase filter sees real signal at the excerpt's edges (not zeros).
_RESAMPLE_MARGIN_SECS = 0.05


def load_audio(path: str, num_secs=2.0, start_sec=0.0, sample_rate=16000, resample=True,
               notify=print):
    """The excerpt [start_sec, start_sec + num_secs) of a clip: (float32 mono [T], rate in Hz).

    num_secs: excerpt length in seconds, or None for "to the end of the clip".
    start_sec: excerpt start in seconds (>= 0).
    sample_rate / resample: with resample, the excerpt is brought to `sample_rate` Hz
    (scipy's polyphase resampler); without, the clip's native rate is kept and
    `sample_rate` is ignored.
    Multi-channel audio is mixed down to mono (channel mean), with a notice.
    Missing, unreadable or too short files raise UserError.
    """
    require_file(path, "audio file")
    try:
        info = sf.info(path)
    except Exception as e:  # libsndfile's "format not recognised" and the like
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"cannot read audio {path}: {first_line or type(e).__name__}") from None
    native = int(info.samplerate)
    if info.frames <= 0 or native <= 0:
        raise UserError(f"{path}: no audio samples in the file")
    duration = info.frames / native
    if start_sec < 0:
        raise UserError(f"start_sec={start_sec} must be >= 0")
    end_sec = duration if num_secs is None else start_sec + num_secs
    # Half a native sample of tolerance: a 2.0 s clip holds exactly a 2.0 s excerpt.
    if end_sec > duration + 0.5 / native or start_sec >= duration:
        raise UserError(f"{path} is {duration:.3f} s long; the excerpt needs {start_sec:g} s to {end_sec:g} s "
                        f"(DATASET_CONFIGS.start_sec + num_secs)")

    rate = int(sample_rate) if resample else native
    n_out = int(round((end_sec - start_sec) * rate))
    if n_out < 2:
        raise UserError(f"{path}: the excerpt has {n_out} sample(s) at {rate} Hz; choose a longer num_secs")

    margin = int(math.ceil(_RESAMPLE_MARGIN_SECS * native)) if rate != native else 0
    first = int(round(start_sec * native))
    lo, hi = max(0, first - margin), min(info.frames, first + int(math.ceil((end_sec - start_sec) * native)) + margin)
    try:
        data, _ = sf.read(path, start=lo, stop=hi, dtype="float32", always_2d=True)
    except Exception as e:
        raise UserError(f"cannot decode audio {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not np.all(np.isfinite(data)):
        raise UserError(f"{path}: {int(np.sum(~np.isfinite(data)))} sample(s) of the excerpt are NaN or inf; "
                        f"a target must be finite")
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        # A float file beyond full scale would be clipped in silence: refuse it instead
        raise UserError(f"{path}: samples reach {peak:g}, beyond full scale [-1, 1]; normalise the clip "
                        f"(divide by its peak) first")
    if data.shape[1] > 1:
        notify(f"note: {os.path.basename(path)} has {data.shape[1]} channels; mixed down to mono (channel mean)")
    wave = data.mean(axis=1).astype(np.float64)

    if rate != native:
        from scipy.signal import resample_poly  # imported here: scipy.signal takes ~2 s to import
        ratio = Fraction(rate, native)
        wave = resample_poly(wave, ratio.numerator, ratio.denominator)
        notify(f"note: {os.path.basename(path)} resampled from {native} Hz to {rate} Hz")
    skip = int(round((first - lo) * rate / native))
    wave = wave[skip: skip + n_out]
    if len(wave) < n_out:  # rounding at the very end of the file: pad the last sample(s)
        wave = np.pad(wave, (0, n_out - len(wave)), mode="edge")
    return np.clip(wave, -1.0, 1.0).astype(np.float32), rate  # clip: the resampler's overshoot only


def write_wav(path: str, wave: np.ndarray, sample_rate: int):
    """Write mono float audio in [-1, 1] (clipped) as 16-bit PCM WAV."""
    sf.write(path, np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0), int(sample_rate), subtype="PCM_16")
