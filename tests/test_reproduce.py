"""reproduce.py: sweep expansion and folder names, skip/resume/fail handling, tables from run
folders, a real 2-run sweep end to end, the speed-up report, and the Ray backend."""
import csv
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import yaml

import reproduce
from conftest import run_tiny
from utils.engine.config import dump_config, load_config
from utils.errors import UserError
from utils.reproduce.collect import collect
from utils.reproduce.execute import execute
from utils.reproduce.figures import write_figures
from utils.reproduce.run_folder import changed_setting, plan, prepare
from utils.reproduce.speedup import speedup_report
from utils.reproduce.sweep import folder_name, load_sweep, override_text
from utils.reproduce.table import build_markdown, write_table

TINY_OVERRIDES = {"TRAIN_CONFIGS.iterations": 20, "TRAIN_CONFIGS.eval_interval": 10, "TRAIN_CONFIGS.lpips": 0,
                  "TRAIN_CONFIGS.lr": 1e-3, "model_config.hidden_layers": 2, "model_config.hidden_features": 32}


def write_sweep(tmp_path, runs, images, columns=None, paper=None, figures=None, name="tiny", cpu_columns=None):
    data = {"task": "image", "title": "tiny sweep", "description": "for tests",
            "presets": {"tiny": {"overrides": dict(TINY_OVERRIDES), "images": images,
                                 **({"columns": cpu_columns} if cpu_columns else {})},
                        "paper": {"overrides": {"TRAIN_CONFIGS.iterations": 5000}}},
            "runs": runs,
            "columns": columns or [{"id": "psnr_10", "metric": "psnr", "at_step": 10},
                                   {"time_to": "psnr_30"}, {"final": "psnr"}],
            "paper": paper or {},
            "figures": figures or []}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def fake_run(folder, rows, status="completed", **summary):
    """A run folder written by hand: metrics.csv rows [(step, seconds, psnr)], summary.json."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "train_seconds", "psnr", "ssim", "lpips", "batch_size", "loss"])
        for step, seconds, psnr in rows:
            writer.writerow([step, seconds, psnr, 0.5, "", 10, 0.01])
    base = {"status": status, "iterations": rows[-1][0], "train_seconds": rows[-1][1],
            "final_psnr": rows[-1][2], "best_psnr": max(r[2] for r in rows), "time_to": {}, "iters_to": {},
            "parameters": 1000, "device": "cpu"}
    base.update(summary)
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(base, f)


STRATEGIES = [{"name": "standard", "label": "Standard", "overrides": {"EXP_CONFIGS.strategy_type": "standard"}},
              {"name": "nint", "label": "NINT", "overrides": {"EXP_CONFIGS.strategy_type": "nint", "nint.xi": 0.5}}]


def test_sweep_expansion_folder_names_and_presets(tmp_path, tiny_image):
    runs = [{"product": [[{"name": "std", "label": "Standard", "tags": {"strategy": "S"},
                           "overrides": {"EXP_CONFIGS.strategy_type": "standard"}},
                          {"name": "nint", "label": "NINT", "tags": {"strategy": "N"},
                           "overrides": {"EXP_CONFIGS.strategy_type": "nint"}}],
                         [{"name": "s", "label": "1x64", "tags": {"size": "1x64"},
                           "overrides": {"model_config.hidden_layers": 1, "model_config.hidden_features": 64}},
                          {"name": "l", "label": "3x64", "overrides": {"model_config.hidden_layers": 3}}]]}]
    path = write_sweep(tmp_path, runs, tiny_image, cpu_columns={"psnr_10": {"at_step": 20}})
    sweep = load_sweep(path, "tiny", results_dir=str(tmp_path / "res"))
    assert [r.name for r in sweep.runs] == ["std_s", "std_l", "nint_s", "nint_l"]
    assert sweep.runs[0].label == "Standard 1x64" and sweep.runs[0].tags == {"strategy": "S", "size": "1x64"}
    run = sweep.runs[2]
    assert os.path.basename(run.folder) == "strategy_type-nint__hidden_layers-1__hidden_features-64"
    assert run.folder.startswith(str(tmp_path / "res" / "runs" / "tiny" / "tiny"))
    # Preset overrides first, then the run's, then the signal and the output folder.
    assert run.argv[0] == "TRAIN_CONFIGS.iterations=20"
    assert "EXP_CONFIGS.strategy_type=nint" in run.argv and f"DATASET_CONFIGS.file_path={tiny_image}" in run.argv
    assert f"TRAIN_CONFIGS.out_dir={os.path.basename(run.folder)}" in run.argv
    load_config("image", overrides=run.argv)  # what the run will be handed is a valid configuration
    # The preset moved the column to step 20 and kept its id; the header follows.
    assert sweep.columns[0]["id"] == "psnr_10" and sweep.columns[0]["at_step"] == 20
    assert sweep.columns[0]["header"] == "PSNR @ 20 it"
    assert sweep.stem == "tiny_tiny"
    # The same sweep over a folder: one subfolder per image, table stem tagged with the folder.
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(open(tiny_image, "rb").read())
    (folder / "notes.txt").write_text("not an image")
    over = load_sweep(path, "tiny", images=str(folder), results_dir=str(tmp_path / "res"))
    assert len(over.runs) == 8 and over.stem == "tiny_tiny_imgs"
    assert {os.path.basename(os.path.dirname(r.folder)) for r in over.runs} == {"a.png", "b.png"}


def test_folder_names_values_and_collisions(tmp_path, tiny_image):
    assert folder_name({}) == "default"
    assert folder_name({"DATASET_CONFIGS.file_path": "/x/y/photo one.png", "DATASET_CONFIGS.img_size": [128, 192]}) \
        == "file_path-photo_one__img_size-128x192"
    long = folder_name({f"S.key{i}": "v" * 20 for i in range(10)})
    assert len(long) <= 100 and long != folder_name({f"S.key{i}": "v" * 20 for i in range(9)})
    assert override_text("nint.xi", 0.5) == "nint.xi=0.5"
    assert override_text("DATASET_CONFIGS.img_size", None) == "DATASET_CONFIGS.img_size=null"
    assert override_text("DATASET_CONFIGS.img_size", [128, 192]) == "DATASET_CONFIGS.img_size=[128, 192]"
    assert override_text("EXP_CONFIGS.strategy_type", "nint") == "EXP_CONFIGS.strategy_type=nint"
    runs = [{"name": "a", "overrides": {"nint.xi": 0.5}}, {"name": "b", "overrides": {"expansive.xi": 0.5}}]
    sweep = load_sweep(write_sweep(tmp_path, runs, tiny_image), "tiny", results_dir=str(tmp_path))
    assert [os.path.basename(r.folder) for r in sweep.runs] == ["nint.xi-0.5", "expansive.xi-0.5"]


@pytest.mark.parametrize("change, message", [
    ({"bogus": 1}, "unknown key 'bogus'"),
    ({"task": "video"}, "task must be one of"),
    ({"runs": [{"name": "a"}, {"name": "a"}]}, "repeated: a"),
    ({"runs": [{"name": "a", "overrides": {"iterations": 3}}]}, "must look like SECTION.key"),
    ({"columns": [{"metric": "psnr"}]}, "exactly one of at_step, at_seconds"),
    ({"columns": [{"best": "psnr", "final": "psnr"}]}, "exactly one of"),
    ({"paper": {"nobody": {"final_psnr": 1}}}, "not a run"),
    ({"figures": ["mona_lisa"]}, "unknown figure"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, tiny_image, change, message, capsys):
    path = write_sweep(tmp_path, [{"name": "a", "overrides": {}}], tiny_image)
    data = yaml.safe_load(open(path))
    data.update(change)
    open(path, "w").write(yaml.safe_dump(data))
    with pytest.raises(UserError, match=message):
        load_sweep(path, "tiny", results_dir=str(tmp_path))
    assert reproduce.main([path, "--preset", "tiny", "--results", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_unknown_preset_and_table(tmp_path, tiny_image):
    path = write_sweep(tmp_path, [{"name": "a", "overrides": {}}], tiny_image)
    with pytest.raises(UserError, match="no preset 'gpu'; presets: tiny, paper"):
        load_sweep(path, "gpu")
    with pytest.raises(UserError, match="shipped ones: .*table2"):
        load_sweep("table99", "cpu")


def test_every_shipped_sweep_loads(tmp_path):
    from utils.reproduce.sweep import available_sweeps
    names = available_sweeps()
    for required in ("table1", "table2", "table3", "table4", "table5", "table6", "table7", "table8", "table9",
                     "table10", "speedup", "ablation_ntk"):
        assert required in names
    for name in names:
        for preset in ("paper", "cpu"):
            sweep = load_sweep(name, preset, results_dir=str(tmp_path))  # the meshes of table7 ship in data/meshes
            assert sweep.runs and sweep.columns
            for run in sweep.runs:  # the overrides parse back exactly
                for text in run.argv:
                    key, _, value = text.partition("=")
                    expected = {**sweep.preset_overrides, **run.overrides}.get(key)
                    if expected is not None:
                        assert yaml.safe_load(value) == expected



# The paper's tables: rows (run names) and columns (ids) each sweep must have, in order.
def _ids(*parts):
    return [p for part in parts for p in part]


_THRESH12 = [f"{k}_to_{t}" for k in ("iters", "time")
             for t in ("psnr_30", "psnr_35", "ssim_0.8", "ssim_0.9", "lpips_0.2", "lpips_0.1")]
PAPER_LAYOUT = {
    "table1": (["standard", "uniform", "egra", "soft_mining", "int", "evos_no_cfs", "evos", "expansive",
                "expansive_07", "nint_05", "nint"],
               [f"{m}_{it}" for it in (250, 1000, 5000) for m in ("psnr", "ssim", "lpips")]),
    "table2": (["standard", "uniform", "egra", "soft_mining", "int", "evos", "expansive", "expansive_07",
                "nint_05", "nint"],
               [f"{k}_to_psnr_{t}" for t in (25, 30, 35) for k in ("iters", "time")]),
    "table3": ([f"{size}_{s}" for size in ("1x64", "3x64", "3x128", "5x128", "3x256", "5x256")
                for s in ("standard", "nint")],
               ["psnr_500", "psnr_1000", "psnr_2500", "time_to_psnr_25", "psnr_150s"]),
    "table4": ([f"{m}_{s}" for m in ("mlp", "ffn", "finer", "gauss", "pemlp", "siren", "wire")
                for s in ("standard", "nint")],
               ["psnr_20s", "psnr_60s", "psnr_120s", "time_to_psnr_25"]),
    "table5": (["nint", "alpha_1", "alpha_20", "alpha_50", "xi_04", "xi_05", "xi_06", "xi_08", "lambda_01",
                "lambda_05", "lambda_2"], _THRESH12),
    "table6": (["standard", "uniform", "int", "evos", "nint", "uniform_step", "int_step", "evos_step", "nint_step"],
               [f"{m}_{t}s" for t in (3, 10, 15) for m in ("si_snr", "stoi", "pesq")]),
    "table7": (["standard", "uniform", "int", "evos", "nint", "uniform_step", "int_step", "evos_step", "nint_step"],
               [f"{m}_{it}" for it in (500, 1000, 2000, 5000, 10000) for m in ("iou", "chamfer", "chamfer_sq")]),
    "table8": (["standard", "nint", "b40", "b60", "b80", "dense2", "incremental", "decremental", "step", "linear"],
               _THRESH12),
    "table9": (["standard", "int", "evos", "nint"], ["psnr_1000", "ssim_1000", "lpips_1000", "time_to_psnr_20"]),
    "table10": (["standard", "int", "evos", "nint"], ["psnr_1000", "ssim_1000", "lpips_1000", "time_to_psnr_30"]),
}
# Cells the paper has no number for: our own Chamfer (table7), and Fig. 5's PSNR after 150 s,
# which the paper gives for NINT 3x64 and 5x256 only (table3).
NO_PAPER_VALUE = {"table7": lambda run, cid: cid.startswith("chamfer_") and not cid.startswith("chamfer_sq"),
                  "table3": lambda run, cid: cid == "psnr_150s" and run not in ("3x64_nint", "5x256_nint")}


def _sweep_data(name):
    from utils.reproduce.sweep import expand_runs, sweep_path
    data = yaml.safe_load(open(sweep_path(name)))
    return data, expand_runs(data["runs"], name)


def _column_id(spec):
    from utils.reproduce.table import _defaults
    return {**_defaults(spec), **spec}["id"]


@pytest.mark.parametrize("name", sorted(PAPER_LAYOUT, key=lambda n: int(n[5:])))
def test_sweeps_follow_the_paper_tables(name):
    data, runs = _sweep_data(name)
    rows, column_ids = PAPER_LAYOUT[name]
    assert [r["name"] for r in runs] == rows
    assert [_column_id(c) for c in data["columns"]] == column_ids
    # The paper's number for every cell it has one for, and none where it has none.
    no_value = NO_PAPER_VALUE.get(name, lambda run, cid: False)
    for run in rows:
        for cid in column_ids:
            has = cid in (data["paper"].get(run) or {})
            assert has != no_value(run, cid), (name, run, cid)
    # The cpu preset keeps the kinds of columns: it only moves a column's step or time.
    for cid, change in (data["presets"]["cpu"].get("columns") or {}).items():
        spec = data["columns"][column_ids.index(cid)]
        assert set(change) <= {"at_step", "at_seconds", "header"}
        assert all(k in spec for k in change if k != "header"), (cid, change)
    # LPIPS stays on where LPIPS is a column or a threshold.
    if any("lpips" in cid for cid in column_ids):
        for preset in ("paper", "cpu"):
            assert data["presets"][preset]["overrides"].get("TRAIN_CONFIGS.lpips", 1) == 1, (name, preset)
    # Our own ablations live in ablation_ntk, not in the paper's tables.
    for r in runs:
        o = r["overrides"]
        assert o.get("EXP_CONFIGS.strategy_type") != "nint_no_ntk" and "nint.ntk_decay" not in o \
            and "nint.top_k" not in o, (name, r["name"])
    assert "SPEC" not in open(f"config/paper/{name}.yaml").read()


def test_sweep_paper_numbers_spot_checks():
    """A few cells against the paper's tables, typed in from them."""
    paper = {name: _sweep_data(name)[0]["paper"] for name in PAPER_LAYOUT}
    assert paper["table1"]["nint_05"]["psnr_250"] == 28.720 and paper["table1"]["standard"]["lpips_5000"] == 0.022
    # Expansive's own xi 0.5 numbers, not xi 0.7's (29.16 s, 123.60 s).
    assert paper["table2"]["expansive"]["time_to_psnr_30"] == 28.59
    assert paper["table2"]["expansive"]["time_to_psnr_35"] == 111.01
    assert paper["table2"]["expansive_07"]["time_to_psnr_30"] == 29.16
    assert _sweep_data("speedup")[0]["paper"]["expansive"]["time_to_psnr_30"] == 28.59
    assert paper["table3"]["1x64_nint"]["time_to_psnr_25"] == "N/A"
    assert paper["table4"]["wire_nint"]["time_to_psnr_25"] == 47.23
    assert paper["table5"]["nint"]["iters_to_psnr_30"] == 389  # Table 2 says 384 for the same run
    assert paper["table5"]["xi_08"]["time_to_ssim_0.9"] == 120.73
    assert paper["table6"]["nint_step"]["pesq_15s"] == 1.836
    assert paper["table7"]["nint_step"]["chamfer_sq_10000"] == 5.921
    assert paper["table8"]["incremental"]["iters_to_psnr_35"] == 4550
    assert paper["table9"]["nint"]["time_to_psnr_20"] == 7.91
    assert paper["table10"]["nint"]["time_to_psnr_30"] == 97.32


def test_evos_with_crossover_off_on_audio_and_sdf_and_our_ablation_sweep():
    for name in ("table6", "table7"):
        _, runs = _sweep_data(name)
        evos = [r for r in runs if r["name"].startswith("evos")]
        assert evos and all(r["overrides"]["EXP_CONFIGS.strategy_type"] == "evos_no_crossover" for r in evos)
    data, runs = _sweep_data("ablation_ntk")
    assert not data.get("paper")
    kept = sorted(r["overrides"]["nint.alpha"] for r in runs if r["overrides"].get("nint.ntk_decay") == "none")
    assert kept == [10, 50]
    strategies = {r["overrides"].get("EXP_CONFIGS.strategy_type") for r in runs}
    assert {"nint", "nint_no_ntk", "int", "uniform"} <= strategies
    assert any(r["overrides"].get("nint.ntk_decay") == "paper" for r in runs)
    assert any(r["overrides"].get("nint.top_k") == 0 for r in runs)
    cross = {(r["overrides"].get("nint.batch_size_scheduler", "constant"), r["overrides"].get("nint.sample_interval", "dense"))
             for r in runs if r["overrides"].get("EXP_CONFIGS.strategy_type") == "nint"
             and not ({"nint.ntk_decay", "nint.top_k"} & set(r["overrides"]))}
    assert cross == {(s, i) for s in ("constant", "linear", "step")
                     for i in ("dense", "dense2", "incremental", "decremental")}


def test_plan_skips_finished_and_resumes_interrupted(tmp_path, tiny_image):
    sweep = load_sweep(write_sweep(tmp_path, STRATEGIES, tiny_image), "tiny", results_dir=str(tmp_path))
    a, b = sweep.runs
    assert plan(a) == "fresh"
    fake_run(a.folder, [(10, 1.0, 20.0)])
    assert plan(a) == "skip"
    fake_run(b.folder, [(10, 1.0, 20.0)], status="interrupted")
    assert plan(b) == "fresh"  # interrupted but no checkpoint: start again
    open(os.path.join(b.folder, "checkpoint.pt"), "wb").close()
    assert plan(b) == "resume"
    open(os.path.join(b.folder, "failed.json"), "w").write('{"error": "x"}')
    assert plan(b) == "fresh"
    fake_run(b.folder, [(10, 1.0, 20.0)], status="diverged")
    os.remove(os.path.join(b.folder, "failed.json"))
    assert plan(b) == "skip"  # a diverged run is a result, not redone


def test_finished_run_with_other_settings_is_stale_and_kept_aside(tmp_path, tiny_image):
    """Editing a sweep's preset must not let a table mix old and new settings."""
    sweep = load_sweep(write_sweep(tmp_path, STRATEGIES, tiny_image), "tiny", results_dir=str(tmp_path))
    a = sweep.runs[0]
    fake_run(a.folder, [(10, 1.0, 20.0)])
    saved = load_config("image", overrides=a.argv)
    saved["TRAIN_CONFIGS"]["out_root"] = "/elsewhere"        # where it ran is not a setting
    dump_config(saved, os.path.join(a.folder, "config.yaml"))
    assert plan(a, "image") == "skip" and changed_setting("image", a) is None
    del saved["TRAIN_CONFIGS"]["snapshot_seconds"]  # a key added after the run: it had the default
    dump_config(saved, os.path.join(a.folder, "config.yaml"))
    assert plan(a, "image") == "skip"

    saved["TRAIN_CONFIGS"]["iterations"] = 7
    dump_config(saved, os.path.join(a.folder, "config.yaml"))
    assert plan(a) == "skip"  # without the task nothing is compared
    assert plan(a, "image") == "stale"
    assert changed_setting("image", a) == "TRAIN_CONFIGS.iterations: 7 -> 20"
    assert "stale: ran with other settings" in build_markdown(sweep, collect(sweep))  # --table-only
    prepare(a, "stale")
    assert not os.path.exists(a.folder)
    kept = [n for n in os.listdir(os.path.dirname(a.folder)) if n.startswith(os.path.basename(a.folder) + ".stale-")]
    assert len(kept) == 1 and plan(a, "image") == "fresh"

    # A key the saved config lacks counts as its default: stale when the sweep asks for another value.
    runs = [{"name": "snap", "overrides": {"EXP_CONFIGS.strategy_type": "uniform", "TRAIN_CONFIGS.snapshot_seconds": [5]}}]
    (tmp_path / "b").mkdir()
    b = load_sweep(write_sweep(tmp_path / "b", runs, tiny_image), "tiny", results_dir=str(tmp_path / "b")).runs[0]
    fake_run(b.folder, [(10, 1.0, 20.0)])
    saved = load_config("image", overrides=b.argv)
    del saved["TRAIN_CONFIGS"]["snapshot_seconds"]
    dump_config(saved, os.path.join(b.folder, "config.yaml"))
    assert changed_setting("image", b) == "TRAIN_CONFIGS.snapshot_seconds: [] -> [5]"


def test_reconstruction_figure_compares_at_equal_training_time(tmp_path, tiny_image):
    from utils.reproduce.figures import _panel, plot_reconstructions
    from utils.reproduce.run_folder import read_run
    sweep = load_sweep(write_sweep(tmp_path, STRATEGIES, tiny_image), "tiny", results_dir=str(tmp_path))
    slow, fast = sweep.runs
    picture = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    for run, seconds in ((slow, 9.0), (fast, 2.0)):
        fake_run(run.folder, [(20, seconds, 20.0)])
        dump_config(load_config("image", overrides=run.argv), os.path.join(run.folder, "config.yaml"))
        iio.imwrite(os.path.join(run.folder, "reconstruction.png"), picture)
    iio.imwrite(os.path.join(slow.folder, "reconstruction_at_5s.png"), picture)
    json.dump({"5": {"file": "reconstruction_at_5s.png", "step": 12, "train_seconds": 5.01}},
              open(os.path.join(slow.folder, "snapshots.json"), "w"))
    title, path = _panel("Slow", slow, read_run(slow.folder), 5.0)
    assert path.endswith("reconstruction_at_5s.png") and "step 12" in title
    title, path = _panel("Fast", fast, read_run(fast.folder), 5.0)  # done training before 5 s
    assert path.endswith("reconstruction.png") and "finished at 2.0 s" in title
    title, path = _panel("Fast", fast, read_run(fast.folder), 1.0)  # trained past 1 s, saved nothing
    assert path is None and "no snapshot at 1 s" in title
    out = plot_reconstructions(sweep, collect(sweep), str(tmp_path / "fig.png"))
    assert out and os.path.getsize(out) > 0
    # The first listed run failed before writing config.yaml: the figure still comes out.
    os.remove(os.path.join(slow.folder, "config.yaml"))
    json.dump({"returncode": 2, "error": "x"}, open(os.path.join(slow.folder, "failed.json"), "w"))
    out = plot_reconstructions(sweep, collect(sweep), str(tmp_path / "fig2.png"))
    assert out and os.path.getsize(out) > 0


def test_table_from_fake_run_folders(tmp_path, tiny_image):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(open(tiny_image, "rb").read())
    runs = STRATEGIES + [{"name": "broken", "label": "Broken", "overrides": {"EXP_CONFIGS.strategy_type": "x"}}]
    columns = [{"id": "psnr_10", "metric": "psnr", "at_step": 10}, {"metric": "psnr", "at_seconds": 2.5},
               {"time_to": "psnr_30"}, {"iters_to": "psnr_30"}, {"best": "psnr"}, {"summary": "parameters"}]
    path = write_sweep(tmp_path, runs, tiny_image, columns=columns,
                       paper={"nint": {"psnr_10": 28.96, "time_to_psnr_30": 25.05}},
                       figures=["curves", "network_size"])
    sweep = load_sweep(path, "tiny", images=str(folder), results_dir=str(tmp_path / "res"))
    by = {(r.name, os.path.basename(r.signal)): r for r in sweep.runs}
    fake_run(by["standard", "a.png"].folder, [(10, 1.0, 20.0), (20, 2.0, 31.0)],
             time_to={"psnr_30": 2.0}, iters_to={"psnr_30": 20})
    fake_run(by["standard", "b.png"].folder, [(10, 1.5, 22.0), (20, 3.0, 29.0)],
             time_to={"psnr_30": None}, iters_to={"psnr_30": None})
    fake_run(by["nint", "a.png"].folder, [(10, 0.5, 25.0), (20, 1.0, 33.0)],
             time_to={"psnr_30": 1.0}, iters_to={"psnr_30": 20})
    fake_run(by["nint", "b.png"].folder, [(10, 0.5, 27.0), (20, 1.0, 35.0)],
             time_to={"psnr_30": 0.8}, iters_to={"psnr_30": 10})
    for signal in ("a.png", "b.png"):
        failed = by["broken", signal].folder
        os.makedirs(failed)
        json.dump({"returncode": 2, "error": "EXP_CONFIGS.strategy_type='x' is not valid"},
                  open(os.path.join(failed, "failed.json"), "w"))

    entries = {e["name"]: e for e in collect(sweep)}
    assert entries["standard"]["values"]["psnr_10"][:3] == (21.0, pytest.approx(2 ** 0.5), 2)
    assert entries["standard"]["values"]["psnr_2.5s"][0] == pytest.approx((31.0 + 22.0) / 2)  # last eval within 2.5 s
    assert entries["standard"]["values"]["time_to_psnr_30"][:3] == (2.0, None, 1)  # reached on one image of two
    assert entries["nint"]["values"]["iters_to_psnr_30"][0] == 15.0
    md = build_markdown(sweep, list(entries.values()), "python reproduce.py tiny")
    assert "| run | PSNR @ 10 it | *paper* |" in md
    assert "21.00 ± 1.41" in md and "2.00 (1/2)" in md and "28.96" in md and "25.05" in md
    assert "failed (a.png): EXP_CONFIGS.strategy_type='x' is not valid" in md
    assert "Runs: 4 completed, 2 failed" in md and "Time accounting: training seconds only" in md
    assert "`TRAIN_CONFIGS.iterations=20`" in md and "2 files (a.png, b.png)" in md
    paths = write_table(sweep, "cmd") + write_figures(sweep)
    names = {os.path.basename(p) for p in paths}
    assert {"tiny_tiny_imgs.md", "tiny_tiny_imgs.csv", "tiny_tiny_imgs_per_signal.csv",
            "tiny_tiny_imgs_curves.png", "tiny_tiny_imgs_network_size.png"} <= names
    rows = list(csv.DictReader(open(tmp_path / "res" / "tiny_tiny_imgs.csv")))
    assert rows[1]["run"] == "nint" and float(rows[1]["psnr_10"]) == 26.0 and float(rows[1]["paper_psnr_10"]) == 28.96
    assert rows[2]["completed"] == "0" and "not valid" in rows[2]["error"]


def test_speedup_report_ratios_and_targets(tmp_path, tiny_image):
    runs = [{"name": n, "label": n.upper(), "overrides": {"EXP_CONFIGS.strategy_type": n}}
            for n in ("standard", "int", "nint")]
    runs.append({"name": "nint_every5", "label": "NINT every 5",  # a variant, not a rival
                 "overrides": {"EXP_CONFIGS.strategy_type": "nint", "nint.sample_interval": "dense2"}})
    sweep = load_sweep(write_sweep(tmp_path, runs, tiny_image, columns=[{"time_to": "psnr_30"}, {"iters_to": "psnr_30"}]),
                       "tiny", results_dir=str(tmp_path))
    for run, (t, i) in zip(sweep.runs, [(10.0, 500), (6.0, 450), (4.0, 380), (2.0, 380)]):
        fake_run(run.folder, [(10, 1.0, 20.0)], time_to={"psnr_30": t}, iters_to={"psnr_30": i})
    report = speedup_report(sweep)
    rows = {r[-1]: r for r in report["rows"]}
    assert rows["nint"][2] == pytest.approx(0.4) and rows["nint"][4] == pytest.approx(0.76)
    assert rows["nint_every5"][2] == pytest.approx(0.2)
    assert all(ok for _, ok in report["checks"])  # the faster NINT variant does not fail NINT
    fake_run(sweep.runs[1].folder, [(10, 1.0, 20.0)], time_to={"psnr_30": 3.0}, iters_to={"psnr_30": 450})
    checks = dict(speedup_report(sweep)["checks"])
    assert [ok for ok in checks.values()] == [True, False, True]
    assert any("not below: INT" in text for text in checks)


def test_repeats_best_of_n_in_the_speedup_report(tmp_path, tiny_image):
    runs = [{"name": n, "label": n.upper(), "overrides": {"EXP_CONFIGS.strategy_type": n}} for n in ("standard", "nint")]
    path = write_sweep(tmp_path, runs, tiny_image, columns=[{"time_to": "psnr_30"}, {"iters_to": "psnr_30"}])
    sweep = load_sweep(path, "tiny", results_dir=str(tmp_path), repeats=2)
    assert [os.path.basename(r.folder) for r in sweep.runs] == [
        "strategy_type-standard__repeat-1", "strategy_type-standard__repeat-2",
        "strategy_type-nint__repeat-1", "strategy_type-nint__repeat-2"]
    assert [r.repeat for r in sweep.runs] == [1, 2, 1, 2] and len({r.name for r in sweep.runs}) == 2
    for run, t in zip(sweep.runs, [10.0, 12.0, 6.0, 4.0]):  # nint's second repeat ran on a quieter machine
        fake_run(run.folder, [(10, 1.0, 20.0)], time_to={"psnr_30": t}, iters_to={"psnr_30": 300})
    rows = {r[-1]: r for r in speedup_report(sweep)["rows"]}
    assert rows["standard"][1] == 10.0 and rows["nint"][1] == 4.0 and rows["nint"][2] == pytest.approx(0.4)
    md = build_markdown(sweep, collect(sweep))
    assert "every run ran 2 times" in md and "11.00 ± 1.41" in md  # the table: mean ± std over repeats
    with pytest.raises(UserError, match="--repeats"):
        load_sweep(path, "tiny", results_dir=str(tmp_path), repeats=0)


def test_real_two_run_sweep_resume_skip_and_failure(tmp_path, tiny_image, capsys):
    """One run interrupted in-process and resumed by the sweep, one that fails; then nothing is redone."""
    runs = [{"name": "nint", "label": "NINT", "overrides": {"EXP_CONFIGS.strategy_type": "nint"}},
            {"name": "broken", "label": "Broken", "overrides": {"EXP_CONFIGS.strategy_type": "nosuch"}}]
    path = write_sweep(tmp_path, runs, tiny_image, figures=["curves", "reconstructions"])
    results = str(tmp_path / "res")
    sweep = load_sweep(path, "tiny", results_dir=results)
    good, bad = sweep.runs
    os.makedirs(good.folder)
    with pytest.raises(Exception):
        run_tiny(load_config("image", overrides=good.argv), run_dir=good.folder, stop_at=10)
    assert plan(good) == "resume"

    assert reproduce.main([path, "--preset", "tiny", "--results", results]) == 1  # one run failed
    summary = json.load(open(os.path.join(good.folder, "summary.json")))
    assert summary["status"] == "completed" and summary["iterations"] == 20
    meta = json.load(open(os.path.join(good.folder, "reproduce.json")))
    assert meta["action"] == "resume" and meta["jobs"] == 1 and meta["backend"] == "local"
    failure = json.load(open(os.path.join(bad.folder, "failed.json")))
    assert failure["returncode"] == 2 and "strategy_type='nosuch' is not valid" in failure["error"]
    md = open(os.path.join(results, "tiny_tiny.md")).read()
    assert "failed: EXP_CONFIGS.strategy_type='nosuch' is not valid" in md
    assert "locally, 1 process at a time" in md
    import re
    runtime = float(re.search(r"runtime ([0-9.]+) min in all", md).group(1))
    walls = [json.load(open(os.path.join(r.folder, "reproduce.json")))["wall_seconds"] for r in (good, bad)]
    assert runtime == pytest.approx(sum(walls) / 60, abs=0.051)
    for name in ("tiny_tiny.csv", "tiny_tiny_curves.png", "tiny_tiny_reconstructions.png"):
        assert os.path.isfile(os.path.join(results, name))

    before = os.path.getmtime(os.path.join(good.folder, "summary.json"))
    capsys.readouterr()
    statuses = execute(load_sweep(path, "tiny", results_dir=results))
    assert "1 already finished, 1 to run" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(good.folder, "summary.json")) == before
    assert statuses[good.folder] == "completed" and statuses[bad.folder] == "failed"


def test_ray_backend_two_runs(tmp_path, tiny_image):
    ray = pytest.importorskip("ray", reason="ray is an optional extra (pip install ray==2.60.0)")
    path = write_sweep(tmp_path, STRATEGIES, tiny_image)
    sweep = load_sweep(path, "tiny", results_dir=str(tmp_path / "res"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        statuses = execute(sweep, backend="ray")
    finally:
        ray.shutdown()
    assert set(statuses.values()) == {"completed"}
    for run in sweep.runs:  # gathered back into this machine's results/
        for name in ("summary.json", "metrics.csv", "reconstruction.png", "config.yaml"):
            assert os.path.isfile(os.path.join(run.folder, name))
        assert json.load(open(os.path.join(run.folder, "reproduce.json")))["backend"] == "ray"
        saved = yaml.safe_load(open(os.path.join(run.folder, "config.yaml")))
        assert os.path.realpath(saved["DATASET_CONFIGS"]["file_path"]) == os.path.realpath(tiny_image)  # ours again
        assert plan(run, "image") == "skip"
    write_table(sweep)
    assert "on a Ray cluster" in open(tmp_path / "res" / "tiny_tiny.md").read()
