"""Audio metrics (the paper's Table 6): SI-SNR in dB, STOI (pystoi) and wide-band PESQ (pesq).

Signals are mono float arrays [T] of amplitudes in [-1, 1]. STOI and PESQ are
defined for speech; on other sounds their values mean little. Each of them
returns (value, None) or (None, reason) when it cannot be computed, so that the
caller records null and can say why.
"""
import warnings

import numpy as np

PESQ_RATE = 16000  # wide-band PESQ (ITU-T P.862.2) is defined at 16 kHz only


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-noise ratio in dB (higher is better; unbounded).

    Both signals are made zero-mean; the estimate is split into its projection
    on the reference (s_t = <est, ref> ref / |ref|^2) and the rest (e = est - s_t);
    SI-SNR = 10 log10(|s_t|^2 / |e|^2). Scaling the estimate does not change it.
    Returns inf for an exact (scaled) copy, -inf for an estimate orthogonal to the
    reference or constant, and None for a constant (silent) reference.
    """
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise ValueError(f"si_snr: shapes differ, {est.shape} vs {ref.shape}")
    est = est - est.mean()
    ref = ref - ref.mean()
    ref_energy = float(ref @ ref)
    if ref_energy == 0.0:
        return None
    projection = (float(est @ ref) / ref_energy) * ref
    residual = est - projection
    signal_energy, noise_energy = float(projection @ projection), float(residual @ residual)
    if signal_energy == 0.0:  # constant (or orthogonal) estimate: nothing of the reference
        return float("-inf")
    if noise_energy == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal_energy / noise_energy))


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int):
    """Short-time objective intelligibility in [0, 1] (pystoi, classic STOI): (value, reason).

    pystoi resamples to 10 kHz itself and drops silent frames; under about 0.4 s of
    speech it has too few frames and the value is undefined (None, with the reason).
    """
    from pystoi import stoi as _stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(np.asarray(reference, np.float64), np.asarray(estimate, np.float64),
                            int(sample_rate), extended=False))
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            return None, "STOI needs more speech frames than this excerpt has (about 0.4 s of non-silent audio)"
    if not np.isfinite(value):
        return None, "STOI is undefined for this signal"
    return value, None


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate: int):
    """Wide-band PESQ (MOS-LQO, about 1.0 to 4.64; higher is better): (value, reason)."""
    if int(sample_rate) != PESQ_RATE:
        return None, (f"wide-band PESQ is defined at {PESQ_RATE} Hz only and the signal is at {sample_rate} Hz "
                      f"(set DATASET_CONFIGS.sample_rate={PESQ_RATE} resample=1)")
    from pesq import pesq as _pesq

    try:
        value = _pesq(PESQ_RATE, np.asarray(reference, np.float32), np.asarray(estimate, np.float32), "wb")
    except Exception as e:  # pesq's BufferTooShortError, NoUtterancesError, ...
        message = str(e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else e).strip()
        return None, f"PESQ failed: {type(e).__name__}: {message}"
    return float(value), None
