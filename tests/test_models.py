"""The seven INR architectures (issue 6): shapes, sizes, initialization, defaults,
a short image fit for every model, and the NTK scores against an explicit Jacobian.

Tiny sizes throughout (32x32 image, 3x64 networks, 100 steps) so the file runs in
seconds on two CPU cores.
"""
import json
import math
import os

import pytest
import torch
from torch.func import functional_call, jacrev, jvp, vjp

from models import MODELS, build_model, count_parameters
from models.ffn import FFN
from models.finer import FinerLayer
from models.pemlp import PositionalEncoding
from models.wire import Wire
from samplers import SAMPLERS
from utils.engine.config import load_config, model_defaults
from utils.errors import UserError
from utils.tasks import build_task
from utils.engine.trainer import train

NAMES = ("siren", "ffn", "wire", "mlp", "finer", "gauss", "pemlp")
CPU = torch.device("cpu")
# Every config loaded here names its sampler explicitly, so that the tests do not
# depend on which samplers the default `strategy_type` needs.
BASE = ["TRAIN_CONFIGS.lpips=0", "TRAIN_CONFIGS.progress=0", "TRAIN_CONFIGS.device=cpu"]


def make_model(name, in_features=2, out_features=3, layers=3, width=64, seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = dict(model_defaults(name), name=name, hidden_layers=layers, hidden_features=width, **overrides)
    return build_model(cfg, in_features, out_features)


def image_config(name, *extra, sampler="standard", size=32, steps=100, layers=3, width=64, tmp=None):
    overrides = BASE + [f"EXP_CONFIGS.strategy_type={sampler}", f"model_config.name={name}",
                        f"model_config.hidden_layers={layers}", f"model_config.hidden_features={width}",
                        f"DATASET_CONFIGS.img_size={size}", f"TRAIN_CONFIGS.iterations={steps}",
                        f"TRAIN_CONFIGS.eval_interval={steps}"]
    if tmp is not None:
        overrides.append(f"TRAIN_CONFIGS.out_root={tmp}")
    return load_config("image", overrides=overrides + list(extra))


def test_registry_holds_the_seven_models():
    assert set(NAMES) == set(MODELS)


# -- 1. shapes --------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_features", [1, 2, 3])
def test_output_shape_and_real_dtype(name, in_features):
    model = make_model(name, in_features=in_features, out_features=4, layers=2, width=32)
    coords = torch.rand(17, in_features) * 2 - 1
    out = model(coords)
    assert out.shape == (17, 4)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    # Every parameter is real, WIRE's complex weights included (stored as real/imag pairs).
    assert all(not p.is_complex() for p in model.parameters())


def test_same_seed_same_model():
    for name in NAMES:
        a, b = make_model(name, seed=3), make_model(name, seed=3)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb), (name, ka)


# -- 3. sizes and parameter counts -------------------------------------------------

def test_siren_paper_size_from_the_default_config():
    cfg = load_config("image", overrides=["EXP_CONFIGS.strategy_type=uniform"])
    assert (cfg["model_config"]["hidden_layers"], cfg["model_config"]["hidden_features"]) == (5, 256)
    model = build_model(dict(cfg["model_config"], name="siren"), 2, 3)
    assert count_parameters(model) == 264_707


@pytest.mark.parametrize("name, expected", [
    # (2*64+64) + 2*(64*64+64) + (64*3+3)
    ("mlp", 192 + 8_320 + 195),
    ("gauss", 192 + 8_320 + 195),
    ("siren", 192 + 8_320 + 195),
    ("finer", 192 + 8_320 + 195),
    # width int(64/sqrt 2) = 45: real first layer (2*45+45), two complex hidden layers
    # 2*2*(45*45+45), complex output weights 2*45*3 plus a real bias 3
    ("wire", 135 + 8_280 + 273),
    # Fourier matrix B (128 x 2) is a buffer; MLP on 256 features: (256*64+64) + 2*(64*64+64) + (64*3+3)
    ("ffn", 16_448 + 8_320 + 195),
    # encoding 2*(1+2*10) = 42 wide: (42*64+64) + 2*(64*64+64) + (64*3+3)
    ("pemlp", 2_752 + 8_320 + 195),
])
def test_parameter_count_by_hand_3x64(name, expected):
    assert count_parameters(make_model(name)) == expected


@pytest.mark.parametrize("layers, width", [(1, 64), (3, 64), (3, 128), (5, 128), (3, 256), (5, 256)])
def test_table3_sizes_are_two_numbers(layers, width):
    cfg = image_config("siren", layers=layers, width=width, sampler="uniform")
    model = build_model(cfg["model_config"], 2, 3)
    expected = (2 * width + width) + (layers - 1) * (width * width + width) + (3 * width + 3)
    assert count_parameters(model) == expected
    sine_layers = [m for m in model.modules() if type(m).__name__ == "SineLayer"]
    assert len(sine_layers) == layers


def test_wire_width_divided_by_sqrt2():
    model = make_model("wire", layers=5, width=256)
    assert model.width == int(256 / math.sqrt(2)) == 181
    assert model.first.weight.shape == (181, 2)
    assert len(model.hidden) == 4


# -- 2. initialization and per-model parameters -----------------------------------

def test_ffn_gaussian_matrix_is_a_fixed_buffer_with_std_10():
    torch.manual_seed(0)
    model = FFN(in_features=2, out_features=3, hidden_layers=2, hidden_features=32, num_frequencies=2048)
    assert "encoding.B" in dict(model.named_buffers()) and "encoding.B" in model.state_dict()
    assert all(p is not model.encoding.B for p in model.parameters())
    B = model.encoding.B.clone()
    assert B.shape == (2048, 2)
    assert abs(B.std().item() - 10.0) < 0.4 and abs(B.mean().item()) < 0.5
    # A training step leaves B as it was.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.rand(8, 2)).pow(2).mean().backward()
    optimizer.step()
    assert torch.equal(model.encoding.B, B)
    # gamma(x) = [cos(2 pi B x), sin(2 pi B x)]
    x = torch.rand(5, 2)
    angles = 2 * math.pi * x @ B.T
    assert torch.allclose(model.encoding(x), torch.cat([angles.cos(), angles.sin()], 1), atol=1e-5)


def test_pemlp_frequencies_are_powers_of_two_times_pi():
    encoding = PositionalEncoding(num_frequencies=4)
    assert torch.allclose(encoding.frequencies, math.pi * torch.tensor([1.0, 2.0, 4.0, 8.0]))
    x = torch.tensor([[0.25, -0.5]])
    out = encoding(x)
    assert out.shape == (1, 2 * (1 + 2 * 4))
    assert torch.allclose(out[0, :2], x[0])
    # Coordinate 0 (0.25) at 2^2 pi: sin(pi) = 0, cos(pi) = -1.
    assert torch.allclose(out[0, 2 + 2], torch.tensor(0.0), atol=1e-6)
    assert torch.allclose(out[0, 2 + 4 + 2], torch.tensor(-1.0), atol=1e-6)


@pytest.mark.parametrize("name", ["siren", "finer"])
def test_sine_family_uniform_init(name):
    model = make_model(name, layers=3, width=64)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    first, rest = linears[0], linears[1:]
    assert first.weight.abs().max() <= 1 / 2 and first.weight.abs().max() > 0.45  # U(-1/fan_in, 1/fan_in)
    bound = math.sqrt(6 / 64) / 30
    for layer in rest:
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound


def test_finer_scale_has_no_gradient():
    torch.manual_seed(0)
    layer = FinerLayer(2, 8, omega=30.0, is_first=True, first_bias_scale=1.0)
    assert layer.linear.bias.abs().max() <= 1.0 and layer.linear.bias.abs().max() > 0.5
    x = torch.rand(5, 2)
    z = layer.linear(x).detach()
    alpha = z.abs() + 1
    assert torch.allclose(layer(x), torch.sin(30.0 * alpha * z))
    # d/db sum_n sin(omega alpha z) with alpha held constant: sum_n omega alpha cos(omega alpha z).
    # (Through alpha too it would be omega (2|z| + 1) cos(...).)
    layer(x).sum().backward()
    expected = (30.0 * alpha * torch.cos(30.0 * alpha * z)).sum(dim=0)
    assert torch.allclose(layer.linear.bias.grad, expected, rtol=1e-4, atol=1e-4)


def test_gauss_activation_uses_the_configured_scale():
    model = make_model("gauss", layers=1, width=8)
    assert model.net[0].scale == 30.0
    x = torch.rand(4, 2)
    pre = model.net[0].linear(x)
    assert torch.allclose(model.net[0](x), torch.exp(-(30.0 * pre) ** 2))


def test_wire_gabor_parameters_and_real_output():
    model = make_model("wire", layers=2, width=16)
    # The INT release's WIRE: omega 20 / 20, scale 20 (not the EVOS constructor's unused 10).
    assert (model.first_omega, model.hidden_omega, model.scale) == (20.0, 20.0, 20.0)
    cfg = image_config("wire")["model_config"]
    assert (cfg["first_omega"], cfg["hidden_omega"], cfg["scale"]) == (20.0, 20.0, 20.0)
    # Output = Re(W z + b) with the complex weight of the last layer.
    x = torch.rand(6, 2)
    z = model.first(x)
    z = torch.exp(1j * 20.0 * z - (20.0 * z) ** 2)
    h = model.hidden[0]
    z = z @ torch.complex(h.weight_real, h.weight_imag).T + torch.complex(h.bias_real, h.bias_imag)
    z = torch.exp(1j * 20.0 * z - 400.0 * z.abs() ** 2)
    last = model.last
    expected = (z @ torch.complex(last.weight_real, last.weight_imag).T).real + last.bias_real
    assert torch.allclose(model(x), expected, atol=1e-5)


def test_model_keys_come_from_the_model_yaml():
    cfg = image_config("wire", "model_config.scale=20")
    assert cfg["model_config"]["scale"] == 20.0 and cfg["model_config"]["lr"] == 5e-3
    with pytest.raises(UserError, match="model_config.scale"):
        image_config("mlp", "model_config.scale=20")  # MLP has no scale
    for name, lr in [("siren", 1e-4), ("ffn", 1e-3), ("pemlp", 1e-3), ("mlp", 1e-3),
                     ("gauss", 5e-3), ("wire", 5e-3), ("finer", 5e-4)]:
        assert image_config(name)["model_config"]["lr"] == lr


@pytest.mark.parametrize("override", ["model_config.fourier_std=0", "model_config.num_frequencies=0"])
def test_bad_model_value_is_a_one_line_error(override, tmp_path, capsys):
    from utils.engine.cli import main
    code = main("image", BASE + ["EXP_CONFIGS.strategy_type=uniform", "model_config.name=ffn",
                                 "DATASET_CONFIGS.img_size=16", f"TRAIN_CONFIGS.out_root={tmp_path}", override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and override.split("=")[0] in err


# -- 4. a short fit for every model at its default learning rate ------------------

@pytest.fixture(scope="module")
def image_task():
    cfg = image_config("siren")
    return build_task("image", cfg, CPU)


@pytest.mark.parametrize("name", NAMES)
def test_100_steps_improve_psnr_at_default_lr(name, image_task, tmp_path):
    cfg = image_config(name)
    torch.manual_seed(cfg["TRAIN_CONFIGS"]["seed"])  # train() builds the same model from the same seed
    before = image_task.evaluate(build_model(cfg["model_config"], 2, 3))["psnr"]
    lines = []
    summary = train(cfg, image_task, str(tmp_path), CPU, log=lines.append)
    gain = summary["final_psnr"] - before
    assert gain > 8.0, f"{name}: PSNR {before:.2f} -> {summary['final_psnr']:.2f}"
    # The model's own learning rate was used, and the size is reported.
    lr = model_defaults(name)["lr"]
    assert any(f"lr {lr:g}" in line for line in lines)
    n_params = count_parameters(build_model(cfg["model_config"], 2, 3))
    assert any(f"({n_params:,} parameters)" in line for line in lines)
    with open(os.path.join(tmp_path, "summary.json")) as f:
        assert json.load(f)["parameters"] == n_params


def test_user_lr_overrides_the_model_default(image_task, tmp_path):
    cfg = image_config("wire", "TRAIN_CONFIGS.lr=0.0003", steps=1)
    lines = []
    train(cfg, image_task, str(tmp_path), CPU, log=lines.append)
    assert any("lr 0.0003" in line for line in lines)


# -- 1. every model with every sampler ---------------------------------------------

@pytest.fixture(scope="module")
def small_task():
    return build_task("image", image_config("siren", size=16), CPU)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_model_with_every_sampler(sampler, small_task, tmp_path):
    for name in NAMES:
        cfg = image_config(name, sampler=sampler, size=16, steps=3, layers=2, width=16)
        run_dir = tmp_path / name
        run_dir.mkdir()
        summary = train(cfg, small_task, str(run_dir), CPU, log=lambda *_: None)
        assert summary["status"] == "completed" and math.isfinite(summary["final_psnr"]), (name, sampler)


# -- 1. NTK scores: real for every model, WIRE included ----------------------------

def explicit_ntk_scores(model, coords, residual):
    """||(J J^T g)_i||^2 per point from the full Jacobian (small problems only)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    outputs = lambda p: functional_call(model, (p, buffers), (coords,)).reshape(-1)
    jac = jacrev(outputs)(params)
    J = torch.cat([jac[k].reshape(residual.numel(), -1) for k in params], dim=1)  # [N*C, P]
    w = J @ (J.T @ residual.reshape(-1))
    return w.reshape(residual.shape).pow(2).sum(dim=1)


def vjp_jvp_scores(model, coords, residual):
    """The matrix-free route of docs/methods.md (NINT): v = J^T g by one VJP, w = J v by one JVP."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    outputs = lambda p: functional_call(model, (p, buffers), (coords,)).reshape(-1)
    _, pullback = vjp(outputs, params)
    (v,) = pullback(residual.reshape(-1))
    _, w = jvp(outputs, (params,), (v,))
    return w.reshape(residual.shape).pow(2).sum(dim=1)


def ntk_problem(name, seed=0):
    model = make_model(name, layers=2, width=12, seed=seed).double()
    torch.manual_seed(seed + 1)
    coords = torch.rand(9, 2, dtype=torch.float64) * 2 - 1
    residual = model(coords).detach() - torch.rand(9, 3, dtype=torch.float64)
    return model, coords, residual


@pytest.mark.parametrize("name", NAMES)
def test_vjp_jvp_scores_are_real_and_match_the_jacobian(name):
    model, coords, residual = ntk_problem(name)
    scores = vjp_jvp_scores(model, coords, residual)
    assert scores.dtype == torch.float64 and scores.shape == (9,)
    assert torch.allclose(scores, explicit_ntk_scores(model, coords, residual), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_nint_ntk_scores_match_the_jacobian(name):
    """samplers/ntk.py's ntk_scores, torch.func path for every model (WIRE and FFN included),
    and the hand-written path for the models that offer `pointwise_mlp()`."""
    import samplers.ntk as nint
    model, coords, residual = ntk_problem(name)
    expected = explicit_ntk_scores(model, coords, residual)
    methods = ["func"] + (["mlp"] if hasattr(model, "pointwise_mlp") else [])
    for method in methods:
        for chunk in (None, 4):
            scores = nint.ntk_scores(model, coords, residual, chunk_size=chunk, method=method)
            assert not scores.is_complex() and scores.shape == (9,)
            assert torch.allclose(scores.double(), expected, rtol=1e-6, atol=1e-9), (name, method, chunk)


def test_fast_ntk_path_offered_by_the_pointwise_real_models():
    # ffn/pemlp put a fixed encoding in front of the MLP and wire is complex: torch.func path only.
    offered = {name for name in NAMES if hasattr(make_model(name), "pointwise_mlp")}
    assert offered == {"siren", "mlp", "finer", "gauss"}


@pytest.mark.parametrize("name", ["wire", "ffn"])
def test_fixed_seed_gives_the_same_run_twice(name, small_task, tmp_path):
    """Complex arithmetic (WIRE) and a random buffer (FFN) stay deterministic under NINT."""
    results = []
    for k in range(2):
        cfg = image_config(name, sampler="nint", size=16, steps=4, layers=2, width=16)
        (tmp_path / str(k)).mkdir()
        train(cfg, small_task, str(tmp_path / str(k)), CPU, log=lambda *_: None)
        results.append(torch.load(tmp_path / str(k) / "model.pt"))
    assert all(torch.equal(results[0][key], results[1][key]) for key in results[0])
