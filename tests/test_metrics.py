"""PSNR, SSIM and LPIPS on inputs whose values are known."""
import os

import imageio.v3 as iio
import numpy as np
import pytest

from utils.tasks.image import lpips as lpips_module
from utils.tasks.image.lpips import load_lpips, lpips_distance
from utils.tasks.image.metrics import psnr, ssim

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_psnr_of_known_noise_level(rng):
    target = rng.uniform(0.2, 0.8, size=(64, 64, 3))
    noisy = target + 0.01 * np.sign(rng.standard_normal(target.shape))  # MSE exactly 1e-4
    assert psnr(noisy, target) == pytest.approx(40.0, abs=1e-6)


def test_psnr_clamps_prediction():
    target = np.ones((8, 8, 3))
    assert psnr(np.full((8, 8, 3), 2.0), target) == float("inf")


def ssim_by_hand(x, y, data_range=1.0, win=7, k1=0.01, k2=0.03):
    """SSIM of Wang et al. (2004) written out window by window, with scikit-image's defaults:
    7x7 uniform windows fully inside the image, sample (ddof 1) variances and covariance,
    C1 = (0.01 L)^2, C2 = (0.03 L)^2; the mean over windows, then over channels."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    per_channel = []
    for ch in range(x.shape[2]):
        values = []
        for i in range(x.shape[0] - win + 1):
            for j in range(x.shape[1] - win + 1):
                a = x[i:i + win, j:j + win, ch].ravel()
                b = y[i:i + win, j:j + win, ch].ravel()
                ma, mb = a.mean(), b.mean()
                va, vb = a.var(ddof=1), b.var(ddof=1)
                cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
        per_channel.append(np.mean(values))
    return float(np.mean(per_channel))


def test_ssim_identical_is_one(rng):
    img = rng.uniform(size=(32, 32, 3))
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img[..., :1], img[..., :1]) == pytest.approx(1.0)


def test_ssim_matches_an_independent_computation(rng):
    target = rng.uniform(size=(16, 12, 3))
    noisy = np.clip(target + 0.2 * rng.standard_normal(target.shape), 0, 1)
    reference = ssim_by_hand(noisy, target)
    assert 0.05 < reference < 0.95  # a pair that is neither identical nor unrelated
    assert ssim(noisy, target) == pytest.approx(reference, abs=1e-9)
    assert ssim(noisy[..., 1:2], target[..., 1:2]) == pytest.approx(ssim_by_hand(noisy[..., 1:2], target[..., 1:2]),
                                                                      abs=1e-9)
    # the prediction is clamped to [0, 1] first, as for PSNR
    assert ssim(noisy * 1.5 - 0.2, target) == pytest.approx(ssim_by_hand(np.clip(noisy * 1.5 - 0.2, 0, 1), target),
                                                            abs=1e-9)
    # a structured pair: a ramp against the same ramp shifted by 0.1 (means differ, structure the same)
    ramp = np.tile(np.linspace(0, 0.8, 10), (10, 1))[..., None]
    assert ssim(ramp + 0.1, ramp) == pytest.approx(ssim_by_hand(ramp + 0.1, ramp), abs=1e-9)


def _read(name):
    return iio.imread(os.path.join(DATA, name)).astype(np.float32) / 255.0


def test_lpips_matches_the_lpips_package_values():
    model, reason = load_lpips()
    assert model is not None, reason
    ref, p0, p1 = _read("ex_ref.png"), _read("ex_p0.png"), _read("ex_p1.png")
    # Published values of lpips.LPIPS(net='alex', version='0.1') on its example images.
    assert lpips_distance(model, ref, p0) == pytest.approx(0.722, abs=5e-4)
    assert lpips_distance(model, ref, p1) == pytest.approx(0.138, abs=5e-4)
    assert lpips_distance(model, ref, ref) == pytest.approx(0.0, abs=1e-6)


def test_lpips_unavailable_path(tmp_path, monkeypatch):
    monkeypatch.setattr(lpips_module, "SHIPPED_BACKBONE", str(tmp_path / "missing.pth"))
    monkeypatch.setattr(lpips_module.torch.hub, "get_dir", lambda: str(tmp_path))
    model, reason = load_lpips(backbone_path=str(tmp_path / "also_missing.pth"))
    assert model is None and "not found" in reason


def test_lpips_config_path_is_used_first(tmp_path, monkeypatch):
    import torch
    state = torch.load(lpips_module.SHIPPED_BACKBONE, map_location="cpu", weights_only=True)
    copy = tmp_path / "alex.pth"
    torch.save(state, copy)
    monkeypatch.setattr(lpips_module, "SHIPPED_BACKBONE", str(tmp_path / "missing.pth"))
    model, reason = load_lpips(backbone_path=str(copy))
    assert model is not None, reason


def test_lpips_bad_weight_file_is_not_fatal(tmp_path, monkeypatch):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    monkeypatch.setattr(lpips_module, "SHIPPED_BACKBONE", str(bad))
    monkeypatch.setattr(lpips_module.torch.hub, "get_dir", lambda: str(tmp_path))
    model, reason = load_lpips()
    assert model is None and "cannot load" in reason
