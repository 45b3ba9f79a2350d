"""The scorecard's verdicts with their noise: paired repeats, `within noise`, `one run`, the
release's score beside K g, the value range, the scale ladder; and the tables' paper numbers
at the paper's precision. Every run here is a folder written by hand (no training)."""
import csv
import math
import os
import shutil

import pytest

import reproduce
from test_reproduce import fake_run
from utils.reproduce.claims import FAILS, HOLDS, NOISE, check_claims, paired_verdict
from utils.reproduce.scorecard import build_claims_markdown
from utils.reproduce.collect import collect
from utils.reproduce.scale import ladder, report_markdown
from utils.reproduce.sweep import load_sweep
from utils.reproduce.table import build_markdown, write_table

THRESHOLDS = (25, 30, 35)


# -- the paired test ---------------------------------------------------------------------------

def test_paired_verdict_weighs_the_spread():
    assert paired_verdict([2.0, 2.5, 1.5])[0] == HOLDS      # all well above 0
    assert paired_verdict([-2.0, -2.5, -1.5])[0] == FAILS
    assert paired_verdict([3.0, -1.0, 0.5])[0] == NOISE     # mean 0.83, t(2) interval holds 0
    verdict, interval = paired_verdict([1.0, 1.0, 1.0])     # no spread at all: decided
    assert verdict == HOLDS and "n=3" in interval
    assert paired_verdict([0.0, 0.0, 0.0])[0] == NOISE      # a tie is not a lead
    assert paired_verdict([0.0])[0] == NOISE and paired_verdict([0.1])[0] == HOLDS   # one run: its sign
    assert paired_verdict([0.0], exact=True)[0] == FAILS     # the paper's numbers: a tie is not a lead
    assert paired_verdict([math.inf, 2.0, 1.0])[0] == HOLDS  # one never reached the threshold: the signs decide
    assert paired_verdict([math.inf, -2.0, 1.0])[0] == NOISE


# -- Table 2 with three repeats: the verdict follows the data ----------------------------------

def _table2_runs(results, sweep_name, cells):
    """cells: run name -> [(iterations, seconds) per repeat] (same for every threshold, x 1/2/3)."""
    sweep = load_sweep(sweep_name, "cpu", results_dir=results, repeats=3)
    for run in sweep.runs:
        if run.name not in cells:
            continue
        its, secs = cells[run.name][run.repeat - 1]
        fake_run(run.folder, [(its, secs, 36.0)],
                 iters_to={f"psnr_{t}": its * k for k, t in enumerate(THRESHOLDS, 1)},
                 time_to={f"psnr_{t}": secs * k for k, t in enumerate(THRESHOLDS, 1)})
    return sweep


RIVALS = ("standard", "uniform", "egra", "soft_mining", "int", "evos", "expansive", "expansive_07", "nint_05")


def _table2(tmp_path, nint, release=None, sweep_name="table2"):
    """Every rival at (300, 10 s) +- a little per repeat; NINT's own numbers per repeat."""
    results = str(tmp_path / "res")
    cells = {r: [(300 + 2 * k, 10.0 + 0.2 * k) for k in range(3)] for r in RIVALS}
    cells["standard"] = [(310 + 2 * k, 20.0 + 0.2 * k) for k in range(3)]
    cells["nint"] = nint
    if release:
        cells["nint_release"] = release
    _table2_runs(results, sweep_name, cells)
    return results, {r["key"]: r for r in check_claims("cpu", results, sweep_names={"table2": sweep_name})}


def test_table2_verdict_holds_fails_or_within_noise_with_the_data(tmp_path):
    # NINT sooner than every rival in every repeat, by far more than the spread: holds.
    _, rows = _table2(tmp_path / "a", [(200, 5.0), (202, 5.2), (199, 4.9)])
    assert rows["table2"]["our_verdict"] == "holds: 6 of 6"
    assert rows["table2"]["iter_verdict"] == "holds: 3 of 3" and rows["table2"]["sec_verdict"] == "holds: 3 of 3"
    assert "95% CI" in rows["table2"]["our_numbers"] and "n=3" in rows["table2"]["our_numbers"]
    # The same medians, but the repeats disagree in sign against the best rival: within noise.
    _, rows = _table2(tmp_path / "b", [(240, 12.0), (370, 8.0), (300, 10.4)])
    assert rows["table2"]["our_verdict"].startswith(NOISE)
    # NINT behind in every repeat: fails.
    _, rows = _table2(tmp_path / "c", [(400, 15.0), (405, 15.5), (398, 14.8)])
    assert rows["table2"]["our_verdict"] == "fails: 0 of 6"
    # A tie in iterations in every repeat (the 220-vs-220 case): not a lead, so not `holds`.
    _, rows = _table2(tmp_path / "d", [(300, 5.0), (302, 5.2), (304, 4.9)])
    assert rows["table2"]["iter_verdict"] == "within noise: 0 of 3"


def test_the_release_score_is_judged_beside_k_g_and_the_value_range_sweep(tmp_path):
    # table2_range has the run nint_release: K g fails, the release's score holds.
    results, rows = _table2(tmp_path, [(400, 15.0), (405, 15.5), (398, 14.8)],
                            release=[(200, 5.0), (202, 5.2), (199, 4.9)], sweep_name="table2_range")
    assert rows["table2"]["sweep"] == "table2_range"
    assert rows["table2"]["our_verdict"] == "fails: 0 of 6" and rows["table2"]["release_verdict"] == "holds: 6 of 6"
    assert "NINT (release score) 200" in rows["table2"]["release_numbers"]
    # The release's run is neither NINT nor a rival: K g's verdict does not see it.
    assert "NINT (release score)" not in rows["table2"]["our_numbers"]
    assert rows["table6"]["release_verdict"] == "release score not run"  # not judged outside its tables
    # The scorecard with the [-1, 1] runs beside: which verdicts change.
    base = [dict(r, our_verdict=HOLDS) if r["key"] == "table2" else r for r in rows.values()]
    md = build_claims_markdown(base, "cpu", range_rows=[r for r in rows.values() if r["sweep"] == "table2_range"])
    line = next(ln for ln in md.splitlines() if ln.startswith("| NINT reaches 25, 30 and 35 dB"))
    assert line.endswith("| K g |")  # holds in [0, 1] (as given), fails in [-1, 1]
    assert "value range" in md and "DATASET_CONFIGS.value_range [-1, 1]" in md


def test_headline_on_the_speedup_runs(tmp_path):
    results = str(tmp_path / "res")
    sweep = load_sweep("speedup", "cpu", results_dir=results, repeats=3)
    made = {"standard": (15.0, 34.0), "nint": (6.5, 34.9), "int": (12.0, 34.0), "evos": (9.5, 34.3),
            "expansive": (10.0, 33.9), "nint_every5": (5.5, 33.8), "nint_release": (14.0, 34.0)}
    for run in sweep.runs:
        t, q = made[run.name]
        fake_run(run.folder, [(1000, 30.0, q)], time_to={"psnr_30": t + 0.3 * run.repeat},
                 iters_to={"psnr_30": 220})
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["headline"]["our_verdict"] == "holds: 3 of 3"  # its three parts; 7.1 / 15.6 = 0.46x Standard's seconds (median), final PSNR +0.9 dB
    assert "0.46x Standard's" in rows["headline"]["our_numbers"]
    # NINT slower than 0.6x Standard's in every repeat: the headline fails.
    for run in sweep.runs:
        if run.name == "nint":
            fake_run(run.folder, [(1000, 30.0, 34.9)], time_to={"psnr_30": 12.0 + 0.1 * run.repeat},
                     iters_to={"psnr_30": 220})
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["headline"]["our_verdict"] == "fails: 1 of 3"  # time and state of the art fail, quality holds
    assert rows["headline"]["sec_verdict"] == "fails: 0 of 2" and rows["headline"]["iter_verdict"] == HOLDS  # quality kept
    md = build_claims_markdown(list(rows.values()), "cpu", results_dir=results)
    assert "## Scorecard" in md and "## What the numbers say" in md and "### Claim 1" in md


def test_a_single_run_says_one_run(tmp_path):
    results = str(tmp_path / "res")
    for run in load_sweep("table10", "cpu", results_dir=results, repeats=1).runs:
        t = {"standard": 240.0, "int": 160.0, "evos": 70.0, "nint": 60.0}[run.name]
        fake_run(run.folder, [(1000, t, 31.0)], time_to={"psnr_30": t}, iters_to={"psnr_30": 500})
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["table10"]["our_verdict"] == "holds (one run)"


# -- repeats: seeds and per-repeat numbers -----------------------------------------------------

def test_repeats_have_their_own_seeds_and_per_repeat_csv(tmp_path):
    results = str(tmp_path / "res")
    sweep = load_sweep("table10", "cpu", results_dir=results, repeats=3)
    seeds = [(r.name, r.seed) for r in sweep.runs if r.name == "nint"]
    assert seeds == [("nint", 42), ("nint", 43), ("nint", 44)]
    assert "TRAIN_CONFIGS.seed=43" in sweep.runs[1].argv
    assert load_sweep("table10", "cpu", results_dir=results, repeats=1).runs[0].seed is None  # one run: its own seed
    for run in sweep.runs:
        fake_run(run.folder, [(1000, 10.0 + run.repeat, 31.0)], time_to={"psnr_30": 5.0 * run.repeat},
                 iters_to={"psnr_30": 500})
    paths = write_table(sweep)
    per_repeat = [p for p in paths if p.endswith("_per_repeat.csv")][0]
    with open(per_repeat) as f:
        rows = list(csv.DictReader(f))
    assert [(r["repeat"], r["seed"], r["time_to_psnr_30"]) for r in rows if r["run"] == "nint"] == [
        ("1", "42", "5.0"), ("2", "43", "10.0"), ("3", "44", "15.0")]
    assert "repeat k with seed + k - 1" in open(paths[0]).read()


# -- the paper's numbers at the paper's precision ----------------------------------------------

def test_tables_print_the_papers_numbers_as_the_paper_prints_them(tmp_path):
    md = build_markdown(*(lambda s: (s, collect(s)))(load_sweep("table1", "cpu", results_dir=str(tmp_path))))
    assert "| 27.897 |" in md and "| 0.774 |" in md  # Standard, 250 iterations: not 27.90, not 0.7740
    md = build_markdown(*(lambda s: (s, collect(s)))(load_sweep("speedup", "cpu", results_dir=str(tmp_path))))
    assert "| 39.020 |" in md and "| 523 |" in md  # INT's final PSNR keeps its trailing zero


# -- the scale ladder --------------------------------------------------------------------------

def _scale_runs(results, nint_seconds):
    """Standard 10 s everywhere, Uniform 4 s; NINT's seconds per (side, network) from nint_seconds."""
    sweep = load_sweep("scale", "cpu", results_dir=results)
    for run in sweep.runs:
        key = (run.tags["side"], run.tags["network"])
        t = {"standard": 10.0, "uniform": 4.0, "int": 8.0, "evos": 6.0, "expansive": 5.0,
             "nint_release": 9.0, "nint_no_ntk": 7.0}.get(run.tags["strategy"])
        if run.tags["strategy"] == "nint":
            t = nint_seconds[key]
        fake_run(run.folder, [(300, t, 31.0)], time_to={"psnr_30": t}, iters_to={"psnr_30": 300})
    return sweep


def test_scale_ladder_ratios_report_figure_and_the_claim(tmp_path):
    results = str(tmp_path / "res")
    growing = {(64, "3x128"): 8.0, (128, "3x128"): 6.0, (256, "3x128"): 3.0, (64, "5x256"): 7.0, (128, "5x256"): 5.0}
    sweep = _scale_runs(results, growing)
    rows, threshold = ladder("cpu", results)
    nint = {(r["side"], r["network"]): r for r in rows if r["strategy"] == "nint"}
    assert threshold == "PSNR 30"
    assert nint[(256, "3x128")]["time_ratio_standard"] == pytest.approx(0.3)
    assert nint[(256, "3x128")]["time_ratio_best_other"] == pytest.approx(3.0 / 4.0)  # Uniform, the best other
    assert nint[(256, "3x128")]["time_best_other"] == "Uniform"
    md = report_markdown(sweep, rows)
    assert "| 256 | 3x128 | NINT (xi 0.7) | 3.00 | 0.30 | 0.75 (Uniform) |" in md
    claims = {r["key"]: r for r in check_claims("cpu", results)}
    assert claims["scale"]["our_verdict"] == "holds: 5 of 5 (one run)"
    assert claims["scale"]["release_verdict"] == "within noise: 0 of 5 (one run)"  # 0.9x everywhere: no growth
    # The saving shrinks from 128 to 256 with 3x128: the claim fails.
    _scale_runs(results, {**growing, (256, "3x128"): 9.0})
    claims = {r["key"]: r for r in check_claims("cpu", results)}
    assert claims["scale"]["our_verdict"].startswith("fails: ") and claims["scale"]["our_verdict"].endswith("(one run)")
    assert "3x128@128 -> 3x128@256" in claims["scale"]["our_numbers"]
    # The command writes the report with its figure (from the run folders, nothing trained).
    assert reproduce.main(["scale", "--preset", "cpu", "--table-only", "--no-figures", "--results", results]) == 0
    text = open(os.path.join(results, "scale_cpu.md")).read()
    assert "## Scale ladder" in text and "## Every run" in text
    assert os.path.isfile(os.path.join(results, "scale_cpu_ratios.png"))


def test_scale_ladder_bounds_a_ratio_to_a_run_stopped_by_its_cap(tmp_path):
    """Standard stopped by its time cap short of 30 dB at 256 px: NINT's ratio is at most its seconds
    over Standard's, and the claim's step to 256 is decided only when that bound settles it."""
    results = str(tmp_path / "res")
    growing = {(64, "3x128"): 8.0, (128, "3x128"): 6.0, (256, "3x128"): 3.0, (64, "5x256"): 7.0, (128, "5x256"): 5.0}
    sweep = _scale_runs(results, growing)
    stopped = next(r for r in sweep.runs if r.tags["strategy"] == "standard" and r.tags["side"] == 256)
    fake_run(stopped.folder, [(786, 30.0, 29.97)], time_to={"psnr_30": None}, iters_to={"psnr_30": None})
    rows, _ = ladder("cpu", results)
    nint = next(r for r in rows if r["strategy"] == "nint" and r["side"] == 256)
    assert nint["time_ratio_standard"] == pytest.approx(0.1) and nint["time_ratio_standard_bound"] == "<"
    assert nint["iters_ratio_standard"] == pytest.approx(300 / 786) and nint["iters_ratio_standard_bound"] == "<"
    md = report_markdown(sweep, rows)
    assert "| 256 | 3x128 | NINT (xi 0.7) | 3.00 | <0.10 |" in md and "Stopped by a cap before PSNR 30" in md
    claims = {r["key"]: r for r in check_claims("cpu", results)}
    assert claims["scale"]["our_verdict"] == "holds: 5 of 5 (one run)"  # 0.1 bounds it below 128's 0.6
    assert "3x128@256: <0.10x" in claims["scale"]["our_numbers"]
    # A bound that does not settle the step (NINT 9 s over Standard's 10 s: at most 0.9, above 0.6)
    _scale_runs(results, {**growing, (256, "3x128"): 9.0})
    fake_run(stopped.folder, [(786, 10.0, 29.97)], time_to={"psnr_30": None}, iters_to={"psnr_30": None})
    claims = {r["key"]: r for r in check_claims("cpu", results)}
    assert "not settled by a bound: 3x128@128 -> 3x128@256" in claims["scale"]["our_numbers"]
    assert claims["scale"]["our_verdict"] == "holds: 4 of 4 (one run)"  # the other steps all grow


def test_scale_ladder_reads_its_committed_csv_when_the_run_folders_are_gone(tmp_path):
    results = str(tmp_path / "res")
    growing = {(64, "3x128"): 8.0, (128, "3x128"): 6.0, (256, "3x128"): 3.0, (64, "5x256"): 7.0, (128, "5x256"): 5.0}
    sweep = _scale_runs(results, growing)
    write_table(sweep)
    shutil.rmtree(os.path.join(results, "runs"))
    rows, _ = ladder("cpu", results)
    nint = next(r for r in rows if r["strategy"] == "nint" and r["side"] == 256)
    assert nint["time_ratio_standard"] == pytest.approx(0.3) and nint["source"].endswith("scale_cpu.csv")
    assert "(From scale_cpu.csv: the run folders are not on this machine.)" in report_markdown(sweep, rows)
    claims = {r["key"]: r for r in check_claims("cpu", results)}
    assert claims["scale"]["our_verdict"] == "holds: 5 of 5 (one run)"
    assert claims["scale"]["our_numbers"].startswith("(from res/scale_cpu.csv; its run folders are not on this machine)")


# -- figures a reader can check at a glance ----------------------------------------------------

def test_curve_styles_pair_architectures_and_flag_a_disturbed_clock():
    from utils.reproduce.figures import disturbed_step, line_styles, paired_styles
    eleven = line_styles(11)  # Table 1: every strategy its own colour, neighbours another line style
    assert len({tuple(c) for c, _ in eleven}) == 11 and all(a[1] != b[1] for a, b in zip(eleven, eleven[1:]))
    styles = paired_styles(["mlp_standard", "mlp_nint", "ffn_standard", "ffn_nint"])  # Table 4
    assert styles[0][0] == styles[1][0] and styles[0][0] != styles[2][0]  # a pair shares its colour
    assert [s for _, s in styles] == ["-", "--", "-", "--"]
    assert paired_styles(["standard", "nint", "int"]) is None
    steady = [{"step": 10 * k, "train_seconds": 0.1 * k} for k in range(10)]
    assert disturbed_step(steady) is None
    busy = [dict(r, train_seconds=r["train_seconds"] + (2.0 if r["step"] >= 50 else 0.0)) for r in steady]
    assert disturbed_step(busy) == 50


def test_results_hold_no_stale_files():
    """Every file in results/ is one a current sweep writes (its table, CSVs, figures, report, the
    selection maps of a run it still has) or one of the benchmarks' and the scorecard's files."""
    import re
    from utils.reproduce.sweep import ROOT, available_sweeps
    results = os.path.join(ROOT, "results")
    suffixes = (".md", ".csv", "_per_signal.csv", "_per_repeat.csv", "_curves.png", "_reconstructions.png",
                "_network_size.png", "_report.md", "_ratios.png")
    allowed, maps = set(), {}
    for name in available_sweeps():
        for variant in ("", "_release_clock"):
            for repeats in (None, 1):  # the preset's repeats, or the single runs made before repeats
                sweep = load_sweep(name, "cpu", results_dir=results, repeats=repeats)
                stem = sweep.stem + variant
                allowed |= {stem + s for s in suffixes}
                maps.setdefault(stem + "_selection_maps", set()).update(
                    os.path.basename(r.folder) + ".png" for r in sweep.runs)
    other = re.compile(r"^(claims|chunk_cost|ntk_cost|vs_release|scale|thread_load)(_[a-z0-9_]+)?\.(md|txt|png)$|^README\.md$")
    stale = []
    for name in os.listdir(results):
        path = os.path.join(results, name)
        if name == "runs" or name.startswith("."):
            continue
        if name in maps and os.path.isdir(path):
            stale += [f"{name}/{f}" for f in os.listdir(path) if f not in maps[name]]
        elif name not in allowed and not other.match(name):
            stale.append(name)
    assert not stale, f"stale files in results/: {', '.join(sorted(stale))}"


def test_fig5_on_table3_runs_one_run_each(tmp_path):
    """Fig. 5 on ours: NINT above Standard at the fixed time at every size and the gap widening."""
    results = str(tmp_path / "res")
    sweep = load_sweep("table3", "cpu", results_dir=results, repeats=1)  # one run each
    gap = {"1x64": None, "3x64": 1.0, "3x128": 2.0, "5x128": 3.0, "3x256": 4.0, "5x256": 5.0}

    def write(gaps):
        for run in sweep.runs:
            size, nint = run.tags["size"], run.tags["strategy"] == "NINT"
            if gaps[size] is None:  # trains for 3 s only: no value at 5 s
                fake_run(run.folder, [(100, 1.0, 10.0), (600, 3.0, 12.0)])
                continue
            psnr = 20.0 + (gaps[size] if nint else 0.0)
            fake_run(run.folder, [(100, 1.0, 15.0), (200, 4.0, psnr), (600, 20.0, 30.0)])
    write(gap)
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["fig5"]["our_verdict"] == "holds: 2 of 2 (one run)"
    assert "3x64 +1.00 dB" in rows["fig5"]["our_numbers"] and "PSNR @ 5 s (Fig. 5's 150 s)" in rows["fig5"]["our_numbers"]
    write({**gap, "3x256": 2.5})  # the gap shrinks from 5x128 to 3x256
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["fig5"]["our_verdict"] == "fails: 1 of 2 (one run)" and "5x128 -> 3x256" in rows["fig5"]["our_numbers"]


def test_report_sections_for_the_reproduction_report(tmp_path):
    from utils.reproduce.scale import report_section
    results = str(tmp_path / "res")
    assert report_section("cpu", results) is None  # nothing run yet
    _scale_runs(results, {(64, "3x128"): 8.0, (128, "3x128"): 6.0, (256, "3x128"): 3.0, (64, "5x256"): 7.0,
                          (128, "5x256"): 5.0})
    assert "| 64 | 3x128 | NINT (xi 0.7) | 8.00 | 0.80 |" in report_section("cpu", results)
    rows = check_claims("cpu", results)
    own = [r["key"] for r in rows if r["own"]]
    assert own == ["scale", "ablation_ntk"] and len(rows) == 23  # 21 claims of the paper, 2 questions of ours
    md = build_claims_markdown(rows, "cpu", results_dir=results)
    assert "Tallies of the paper's 21 claims: on the paper's numbers: 6 holds, 11 fails, 4 not measurable" in md
    assert "| [Q1](claims_cpu.md#claim-q1) | NINT's saving grows with image side and network" in md


def test_claims_read_the_repeats_the_run_folders_hold(tmp_path):
    from utils.reproduce.sweep import repeats_made
    results = str(tmp_path / "res")
    assert repeats_made("table10", "cpu", results) == 1  # nothing run: the single-run folders
    sweep = load_sweep("table10", "cpu", results_dir=results, repeats=3)
    for run in sweep.runs:
        if run.repeat == 1:  # only the first repeat has run so far
            fake_run(run.folder, [(1000, 10.0, 31.0)], time_to={"psnr_30": 5.0 if run.name == "nint" else 9.0},
                     iters_to={"psnr_30": 500})
    assert repeats_made("table10", "cpu", results) == 2
    rows = {r["key"]: r for r in check_claims("cpu", results)}
    assert rows["table10"]["our_verdict"] == "holds (one run)"  # read from the __repeat-1 folders


def _with_curves(folder, rows):
    """metrics.csv of a hand-made run replaced by rows of (step, seconds, ssim, lpips)."""
    with open(os.path.join(folder, "metrics.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "train_seconds", "psnr", "ssim", "lpips"])
        for step, seconds, ssim, lpips in rows:
            writer.writerow([step, seconds, 30.0, ssim, lpips])


def test_fig4_reads_table1_along_training_time(tmp_path):
    results = str(tmp_path / "res")
    sweep = load_sweep("table1", "cpu", results_dir=results, repeats=1)

    def write(nint_gain):
        for run in sweep.runs:
            gain = nint_gain if run.name == "nint" else 0.0
            fake_run(run.folder, [(1000, 10.0, 30.0)])
            _with_curves(run.folder, [(100 * k, 1.0 * k, 0.5 + 0.04 * k + gain, 0.6 - 0.05 * k - gain)
                                      for k in range(1, 11)])
    write(0.01)
    rows = {r["key"]: r for r in check_claims("cpu", results, repeats=1)}
    assert rows["fig4"]["our_verdict"] == "holds: 10 of 10 (one run)"
    assert "SSIM @ 2.0 s" in rows["fig4"]["our_numbers"] and "LPIPS @ 10.0 s" in rows["fig4"]["our_numbers"]
    write(-0.01)
    rows = {r["key"]: r for r in check_claims("cpu", results, repeats=1)}
    assert rows["fig4"]["our_verdict"] == "fails: 0 of 10 (one run)"


# -- a fresh checkout: the run folders gone, the committed results files remain ----------------

def test_claims_read_the_committed_results_files_when_the_run_folders_are_gone(tmp_path):
    import shutil
    # Three repeats (per-repeat CSV) for Table 2 and one run (the table's CSV) for Table 10.
    results, rows = _table2(tmp_path, [(200, 5.0), (202, 5.2), (199, 4.9)])
    for run in load_sweep("table10", "cpu", results_dir=results, repeats=1).runs:
        t = {"standard": 240.0, "int": 160.0, "evos": 70.0, "nint": None}[run.name]
        fake_run(run.folder, [(1000, 250.0, 31.0 if t else 29.0)], time_to={"psnr_30": t} if t else {},
                 iters_to={"psnr_30": 500} if t else {})
    write_table(load_sweep("table2", "cpu", results_dir=results, repeats=3))
    write_table(load_sweep("table10", "cpu", results_dir=results, repeats=1))
    before = {r["key"]: r for r in check_claims("cpu", results)}
    shutil.rmtree(os.path.join(results, "runs"))
    after = {r["key"]: r for r in check_claims("cpu", results)}
    for key, stem in (("table2", "table2_cpu_per_repeat.csv"), ("table10", "table10_cpu.csv")):
        assert after[key]["our_verdict"] == before[key]["our_verdict"] != "not measurable"
        assert after[key]["our_numbers"] == (f"(from res/{stem}; its run folders are not on this machine) "
                                             + before[key]["our_numbers"])
    assert before["table2"]["our_verdict"] == "holds: 6 of 6"
    assert before["table10"]["our_verdict"] == "fails (one run)"  # NINT never reached 30 dB: worse than any reached
    # Neither run folders nor results files: not measurable, as before.
    assert after["table9"]["our_verdict"].startswith("not measurable")
