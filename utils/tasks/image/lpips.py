"""LPIPS (Zhang et al., CVPR 2018), AlexNet variant v0.1, without torchvision.

The `lpips` package imports torchvision, which cannot be installed beside the
CPU torch this project pins. Its metric is small: AlexNet's five ReLU feature
maps, each unit-normalised over channels, squared differences weighted by a
learnt 1x1 layer, averaged over space and summed. We rebuild that stack here
with plain torch and load
  - the linear weights `weights/lpips/alex_v0.1_linear.pth` (6 KB, copied from
    the lpips 0.1.4 wheel, BSD-2-Clause), and
  - the AlexNet `features.*` weights from, in order: a path given in the config,
    the shipped `weights/lpips/alexnet_features.pth`, or torch's hub cache of
    torchvision's AlexNet (downloaded only if `allow_download`).
When none can be had, `load_lpips` returns None and the caller records LPIPS as null.
"""
import os

import torch
from torch import nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LINEAR_WEIGHTS = os.path.join(ROOT, "weights", "lpips", "alex_v0.1_linear.pth")
SHIPPED_BACKBONE = os.path.join(ROOT, "weights", "lpips", "alexnet_features.pth")
LPIPS_MIN_SIDE = 32  # smaller images vanish in AlexNet's strided convolutions and poolings
TORCHVISION_ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"

# Input normalisation of the LPIPS package (ScalingLayer), for inputs in [-1, 1].
_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


class AlexNetLPIPS(nn.Module):
    # (conv index in torchvision's alexnet.features, in, out, kernel, stride, padding, maxpool before)
    _CONVS = [(0, 3, 64, 11, 4, 2, False), (3, 64, 192, 5, 1, 2, True), (6, 192, 384, 3, 1, 1, True),
              (8, 384, 256, 3, 1, 1, False), (10, 256, 256, 3, 1, 1, False)]

    def __init__(self, backbone_state: dict, linear_state: dict):
        super().__init__()
        self.convs = nn.ModuleList()
        self.pool_before = []
        for idx, cin, cout, k, s, p, pool in self._CONVS:
            conv = nn.Conv2d(cin, cout, k, s, p)
            conv.weight.data.copy_(backbone_state[f"features.{idx}.weight"])
            conv.bias.data.copy_(backbone_state[f"features.{idx}.bias"])
            self.convs.append(conv)
            self.pool_before.append(pool)
        self.lins = nn.ParameterList(
            [nn.Parameter(linear_state[f"lin{i}.model.1.weight"].float(), requires_grad=False) for i in range(5)])
        self.register_buffer("shift", _SHIFT.clone())
        self.register_buffer("scale", _SCALE.clone())
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: [B, 3, H, W] in [-1, 1]. Returns the distance per image, [B] (0 = identical)."""
        fa, fb = (a - self.shift) / self.scale, (b - self.shift) / self.scale
        total = 0.0
        for conv, pool, lin in zip(self.convs, self.pool_before, self.lins):
            if pool:
                fa, fb = F.max_pool2d(fa, 3, 2), F.max_pool2d(fb, 3, 2)
            fa, fb = F.relu(conv(fa)), F.relu(conv(fb))
            na = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((na - nb) ** 2, lin).mean(dim=(2, 3))
        return total.view(-1)


def _backbone_state(backbone_path=None, allow_download=False):
    """AlexNet features.* weights from the first source that works, or (None, reasons)."""
    reasons = []
    for path in [backbone_path, SHIPPED_BACKBONE]:
        if not path:
            continue
        if not os.path.isfile(path):
            reasons.append(f"no file {path}")
            if path == backbone_path:
                print(f"note: TRAIN_CONFIGS.lpips_backbone {path} not found; trying the shipped AlexNet weights")
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            features = {k: v for k, v in state.items() if k.startswith("features.")}
            if all(f"features.{i}.weight" in features for i in (0, 3, 6, 8, 10)):
                return features, None
            reasons.append(f"{path} lacks AlexNet's features.* weights")
        except Exception as e:  # not a state dict: LPIPS is optional, never fatal
            reasons.append(f"cannot load {path} ({type(e).__name__})")
        if path == backbone_path:  # the user's own file is never passed over in silence
            print(f"note: TRAIN_CONFIGS.lpips_backbone {path} is not usable ({reasons[-1]}); "
                  f"trying the shipped AlexNet weights")
    try:
        hub = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(TORCHVISION_ALEXNET_URL))
        if os.path.isfile(hub) or allow_download:
            state = torch.hub.load_state_dict_from_url(TORCHVISION_ALEXNET_URL, map_location="cpu", progress=False)
            return {k: v for k, v in state.items() if k.startswith("features.")}, None
        reasons.append("no torchvision AlexNet in torch's hub cache")
    except Exception as e:  # network down, corrupt file: LPIPS is optional, never fatal
        reasons.append(f"hub download failed ({type(e).__name__})")
    return None, "; ".join(reasons)


def load_lpips(backbone_path=None, device="cpu", allow_download=False):
    """(model, None) or (None, reason) when the weights cannot be found."""
    if not os.path.isfile(LINEAR_WEIGHTS):
        return None, f"LPIPS linear weights missing ({LINEAR_WEIGHTS})"
    backbone, reason = _backbone_state(backbone_path, allow_download)
    if backbone is None:
        return None, f"AlexNet weights for LPIPS not found: {reason}"
    linear = torch.load(LINEAR_WEIGHTS, map_location="cpu", weights_only=True)
    return AlexNetLPIPS(backbone, linear).to(device), None


def lpips_distance(model: AlexNetLPIPS, prediction, target) -> float:
    """LPIPS between two images [H, W, C] with values in [0, 1] (numpy or torch). Lower is closer.

    Grayscale images are repeated to three channels. Returns None when the image is
    too small for AlexNet's pooling (under LPIPS_MIN_SIDE pixels on a side).
    """
    if min(target.shape[:2]) < LPIPS_MIN_SIDE:
        return None
    device = next(model.parameters()).device

    def to_input(img):
        t = torch.as_tensor(img, dtype=torch.float32, device=device).clamp(0, 1)
        if t.shape[-1] == 1:
            t = t.expand(*t.shape[:2], 3)
        return t.permute(2, 0, 1).unsqueeze(0) * 2 - 1

    with torch.no_grad():
        return float(model(to_input(prediction), to_input(target))[0])
