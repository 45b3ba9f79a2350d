"""reproduce.py paper_size: the dry run lists its 24 runs; committed rows are not run again on a machine
without their folders and merge with new runs (both ways); a threshold not reached is a bound."""
import csv
import os
import re
import shutil

import imageio.v3 as iio
import yaml

import reproduce
from utils.reproduce.paper_size import (averaged, cell_text, exact_text, mean_cell, paired_means, paper_rates,
                                        parse_cell)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dry_run_lists_the_24_runs_with_their_settings(tmp_path, capsys):
    assert reproduce.main(["paper_size", "--preset", "cpu", "--dry-run", "--results", str(tmp_path)]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith(("fresh", "skip", "resume", "kept"))]
    assert len(lines) == 24
    for line in lines:
        for setting in ("TRAIN_CONFIGS.iterations=5000", "TRAIN_CONFIGS.eval_interval=10",
                        "TRAIN_CONFIGS.stop_thresholds=[psnr_30]", "TRAIN_CONFIGS.stop_after_step=250",
                        "TRAIN_CONFIGS.stop_step_cap=2000"):
            assert setting in line
        assert "img_size" not in line and "hidden_layers" not in line and "nint.alpha" not in line  # unscaled
    assert sum("images/12.png" in l for l in lines) == 12
    assert sum("strategy_type=nint_no_ntk" in l for l in lines) == 2
    assert sum("ntk_score=output_norm" in l for l in lines) == 2


def test_paper_rate_is_table2s_seconds_between_30_and_35_db_over_its_iterations():
    rates = paper_rates()
    assert abs(rates["standard"] - (184.78 - 49.11) / (2043 - 523)) < 1e-12
    assert "nint" in rates and "nint_no_ntk" not in rates


def test_means_cover_the_same_images_for_every_row():
    """Mid-sweep, Standard has run on both images and Uniform on one: the mean table averages only
    the image every row has finished, and a saving pairs a row with Standard image by image."""
    def rec(name, image, it30, status="completed"):
        return {"name": name, "image": image, "status": status, "values": {"iters_to_psnr_30": (it30, None)}}
    records = [rec("standard", "a.png", 500), rec("uniform", "a.png", 400),
               rec("standard", "b.png", 700), rec("uniform", "b.png", None, "not run")]
    kept, images = averaged(records)
    assert images == ["a.png"] and mean_cell([r for r in kept if r["name"] == "standard"], "iters_to_psnr_30")[0] == 500
    mine, theirs = paired_means(records[1::2], records[0::2], "iters_to_psnr_30")
    assert (mine[0], theirs[0]) == (400, 500)  # not 400 against Standard's two-image 600
    # No image finished by every row: every finished run, and the note says rows may differ
    records[1]["status"] = "not run"
    assert averaged(records) == (records, [])


def test_cells_and_bounds():
    assert parse_cell(">2000") == (2000.0, ">") and parse_cell("523") == (523.0, None) and parse_cell("") == (None, None)
    assert cell_text(2000.0, ">", ".0f") == ">2000"
    records = [{"status": "completed", "values": {"x": (400.0, None)}},
               {"status": "completed", "values": {"x": (2000.0, ">")}},
               {"status": "not run", "values": {}}]
    assert mean_cell(records, "x") == (1200.0, ">", 2)
    assert mean_cell(records[:1], "x") == (400.0, None, 1)


def test_per_image_cells_read_back_to_the_same_float():
    for value in (28.645012345678, 0.1 + 0.2, 1e-9, 540.0, 2000.0):
        assert parse_cell(exact_text(value)) == (value, None)
    assert exact_text(540.0) == "540" and exact_text(2000.0, ">") == ">2000" and exact_text(None) == ""
    assert parse_cell(exact_text(1661.93021, ">")) == (1661.93021, ">")


def _per_image_table(md):
    """The per-image table's rows without their source column (run folder | committed)."""
    rows = [line for line in md.splitlines() if re.match(r"\| \w+ \| [ab]\.png \|", line)]
    return {line.split(" | ")[0] + line.split(" | ")[1]: line.rsplit(" | ", 1)[0] for line in rows}


def _tiny_sweep(tmp_path, names):
    images = []
    for stem, (r, c) in (("a", (200, 200)), ("b", (100, 300))):
        path = tmp_path / f"{stem}.png"
        iio.imwrite(path, iio.imread(os.path.join(ROOT, "images", "01.png"))[r:r + 16, c:c + 16])
        images.append(str(path))
    overrides = {"TRAIN_CONFIGS.iterations": 40, "TRAIN_CONFIGS.eval_interval": 10, "TRAIN_CONFIGS.lpips": 0,
                 "model_config.hidden_layers": 1, "model_config.hidden_features": 16, "TRAIN_CONFIGS.progress": 0,
                 "TRAIN_CONFIGS.stop_thresholds": ["psnr_99"], "TRAIN_CONFIGS.stop_step_cap": 20}
    strategies = {"standard": "standard", "uniform": "uniform", "nint": "nint"}
    data = {"task": "image", "title": "tiny paper size", "description": "for tests",
            "presets": {"tiny": {"overrides": overrides, "images": images, "note": "tiny",
                                 "columns": {"psnr_250": {"at_step": 10}, "ssim_250": {"at_step": 10},
                                             "lpips_250": {"at_step": 10}}}},
            "runs": [{"name": n, "label": n.title(), "overrides": {"EXP_CONFIGS.strategy_type": strategies[n]}}
                     for n in names],
            "columns": [{"iters_to": "psnr_25"}, {"iters_to": "psnr_30"},
                        {"id": "psnr_250", "metric": "psnr", "at_step": 250},
                        {"id": "ssim_250", "metric": "ssim", "at_step": 250},
                        {"id": "lpips_250", "metric": "lpips", "at_step": 250},
                        {"time_to": "psnr_25"}, {"time_to": "psnr_30"},
                        {"summary": "train_seconds"}, {"summary": "iterations"}, {"summary": "wall_seconds"}],
            "paper": {"standard": {"iters_to_psnr_30": 523}}, "figures": []}
    path = tmp_path / "paper_size.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _rows(results):
    with open(os.path.join(results, "paper_size_tiny_per_signal.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_committed_rows_are_kept_and_merged_both_ways(tmp_path, capsys):
    results = str(tmp_path / "results")
    sweep = _tiny_sweep(tmp_path, ["standard", "uniform"])
    assert reproduce.main([sweep, "--preset", "tiny", "--results", results]) == 0
    rows = _rows(results)
    assert [(r["run"], os.path.basename(r["signal"]), r["status"]) for r in rows] == [
        ("standard", "a.png", "completed"), ("uniform", "a.png", "completed"),
        ("standard", "b.png", "completed"), ("uniform", "b.png", "completed")]
    # Not reached by the cap: a bound, in the per-image rows, the means and the report
    assert all(r["iters_to_psnr_30"] == ">20" and r["stopped_by"] == "cap" for r in rows)
    with open(os.path.join(results, "paper_size_tiny.csv"), newline="") as f:
        assert all(r["iters_to_psnr_30"] == ">20" for r in csv.DictReader(f))
    md_from_folders = open(os.path.join(results, "paper_size_tiny.md")).read()
    assert "| Standard | a.png | >20 | >20 |" in md_from_folders

    # A fresh machine: the run folders are gone, the committed file is there; a new row is added
    shutil.rmtree(os.path.join(results, "runs"))
    sweep = _tiny_sweep(tmp_path, ["standard", "uniform", "nint"])
    capsys.readouterr()
    assert reproduce.main([sweep, "--preset", "tiny", "--results", results, "--dry-run"]) == 0
    plans = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert sorted(plans) == ["fresh"] * 2 + ["kept"] * 4  # the dry run says which runs will not run
    assert reproduce.main([sweep, "--preset", "tiny", "--results", results]) == 0
    out = capsys.readouterr().out
    assert "4 run(s) finished on another machine" in out and "2 to run" in out
    rows = _rows(results)
    assert sorted((r["run"], os.path.basename(r["signal"])) for r in rows if r["status"] == "completed") == sorted(
        (n, i) for n in ("standard", "uniform", "nint") for i in ("a.png", "b.png"))
    assert not os.path.isdir(os.path.join(results, "runs", "paper_size", "tiny", "a.png", "strategy_type-standard"))
    md = open(os.path.join(results, "paper_size_tiny.md")).read()
    assert "6 of 6 finished (2 read from their run folders, 4 from the committed" in md
    # a committed row keeps its thread count, which the seconds depend on
    assert re.search(r"\| Standard \| a\.png \|.*\| \d+ \| committed \|", md), md
    # the committed rows give the very cells their run folders gave
    before, after = _per_image_table(md_from_folders), _per_image_table(md)
    assert len(before) == 4 and all(after[k] == v for k, v in before.items())

    # The other way: a row missing from the file while its folder is there is read from the folder
    kept = [r for r in rows if r["run"] != "nint"]
    with open(os.path.join(results, "paper_size_tiny_per_signal.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    assert reproduce.main([sweep, "--preset", "tiny", "--results", results, "--table-only"]) == 0
    assert sum(r["status"] == "completed" for r in _rows(results)) == 6
