"""The Fig.-2 tool: patch indices, the explicit 9x9 NTK, and the command end to end."""
import os

import numpy as np
import torch

from models import build_model
from samplers.ntk import ntk_scores
from benchmarks.ntk_patches import explicit_ntk, main, patch_indices


def test_patch_indices_clamped_inside():
    assert patch_indices(5, 5, 10, 10) == [44, 45, 46, 54, 55, 56, 64, 65, 66]
    assert patch_indices(0, 0, 10, 10)[0] == 0 and patch_indices(9, 9, 10, 10)[-1] == 99


def test_explicit_ntk_is_symmetric_psd_and_consistent_with_scores():
    torch.manual_seed(0)
    model = build_model({"name": "siren", "hidden_layers": 2, "hidden_features": 16}, 2, 1)
    x = torch.rand(9, 2)
    K = explicit_ntk(model, x)
    assert np.allclose(K, K.T, atol=1e-4) and np.linalg.eigvalsh(K).min() > -1e-3
    g = torch.randn(9, 1)
    expected = (torch.from_numpy(K).double() @ g.double()).pow(2).squeeze(1)
    assert torch.allclose(ntk_scores(model, x, g).double(), expected, rtol=1e-4)


def test_command_writes_figure(tmp_path, tiny_image):
    main(["--image", tiny_image, "--pixels", "5,5", "0,31", "--img-size", "32", "--steps", "2",
          "--layers", "2", "--width", "16", "--out", str(tmp_path)])
    assert os.path.isfile(tmp_path / "ntk_patches.png")
    data = np.load(tmp_path / "ntk_patches.npz")
    assert data["before"].shape == (2, 9, 9) and data["after"].shape == (2, 9, 9)
