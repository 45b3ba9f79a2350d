"""Two processes at once: run folders claimed atomically, a run folder and a sweep's run tree
locked while they are worked on (utils/locks.py), read-only commands never refused."""
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

import reproduce
from conftest import run_tiny, tiny_config
from test_reproduce import STRATEGIES, write_sweep
from utils.engine.cli import main
from utils.locks import FolderLocked, lock_folder
from utils.reproduce.sweep import load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _claim(root, barrier, queue):
    from utils.engine.run_logger import fresh_run_dir
    barrier.wait()
    queue.put(fresh_run_dir(root, "same"))


def test_runs_started_at_once_get_different_folders(tmp_path):
    """Six processes released together each claim a folder for the same run name."""
    ctx = multiprocessing.get_context("fork")
    n = 6
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path), barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    folders = [queue.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(60)
    assert len(set(folders)) == n, folders


def test_claim_skips_a_folder_another_process_claimed_at_the_same_moment(tmp_path, monkeypatch):
    """The folder appears (another run's mkdir and lock file) between looking and making: the
    claim moves on to name_1 instead of sharing it."""
    from utils.engine import run_logger
    import utils.locks as locks
    real_mkdir = os.mkdir

    def racing_mkdir(path, *a, **k):
        if os.path.basename(path) == "x" and not os.path.exists(path):
            real_mkdir(path)  # the other process wins the race ...
            open(os.path.join(path, locks.LOCK_NAME), "w").close()  # ... and claims it
        return real_mkdir(path, *a, **k)
    monkeypatch.setattr(locks.os, "mkdir", racing_mkdir)
    assert run_logger.fresh_run_dir(str(tmp_path), "x").endswith("x_1")


def _hold(folder):
    """A child process that holds `folder`'s lock until killed; returns it once the lock is taken."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; from utils.locks import lock_folder; "
                             "lock = lock_folder(sys.argv[1]); print('held', flush=True); time.sleep(120)", folder],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _interrupted_run(tiny_image, tmp_path):
    cfg = tiny_config(tiny_image, tmp_path)
    from utils.engine.trainer import Interrupted
    with pytest.raises(Interrupted):
        run_tiny(cfg, stop_at=15)
    return str(tmp_path / "run")


def test_a_run_folder_in_use_is_refused_and_the_lock_dies_with_its_process(tiny_image, tmp_path, capsys):
    run_dir = _interrupted_run(tiny_image, tmp_path)
    holder = _hold(run_dir)
    try:
        assert main("image", ["--resume", run_dir]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and run_dir in err[0] and "in use by another process" in err[0], err
        assert f"process {holder.pid}" in err[0]
        # In Python too: train() locks the folder it writes
        from utils.engine.trainer import train
        from utils.tasks import build_task
        import torch
        cfg = tiny_config(tiny_image, tmp_path)
        with pytest.raises(FolderLocked):
            train(cfg, build_task("image", cfg, torch.device("cpu")), run_dir, torch.device("cpu"),
                  resume=True, log=lambda *a: None)
    finally:
        holder.send_signal(signal.SIGKILL)  # killed, not ended cleanly: its lock goes anyway
        holder.wait()
    assert main("image", ["--resume", run_dir]) == 0


def test_two_resumes_of_one_folder_at_once(tiny_image, tmp_path):
    """Started together, one resume finishes the run; the other is refused in one line (exit 2)
    or, when the first has already finished, told that the run completed."""
    run_dir = _interrupted_run(tiny_image, tmp_path)
    cmd = [sys.executable, "train_image.py", "--resume", run_dir]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    refused = next(err for rc, err in results if rc == 2).strip().splitlines()
    assert len(refused) == 1 and ("in use by another process" in refused[0] or "already finished" in refused[0])


def test_a_sweep_tree_in_use_is_refused_but_read_only_commands_are_not(tiny_image, tmp_path, capsys):
    path = write_sweep(tmp_path, STRATEGIES, tiny_image)
    results = str(tmp_path / "res")
    sweep = load_sweep(path, "tiny", results_dir=results)
    os.makedirs(sweep.runs_dir)
    holder = _hold(sweep.runs_dir)
    try:
        assert reproduce.main([path, "--preset", "tiny", "--results", results]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and sweep.runs_dir in err[0] and "running the sweep" in err[0], err
        assert not [n for n in os.listdir(sweep.runs_dir) if not n.startswith(".")]  # nothing was run
        for read_only in (["--dry-run"], ["--table-only", "--no-figures"]):
            assert reproduce.main([path, "--preset", "tiny", "--results", results, *read_only]) == 0, read_only
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_folder_this_process_holds_is_not_refused_to_it(tmp_path):
    """fresh_run_dir's claim, then train()'s lock on the same folder: one lock, released once."""
    from utils.engine.run_logger import fresh_run_dir
    folder = fresh_run_dir(str(tmp_path), "x")
    claim = lock_folder(folder)
    assert claim.held and lock_folder(folder) is claim
    claim.release()
    assert not claim.held
    t0 = time.time()
    with lock_folder(folder):  # free again
        assert time.time() - t0 < 5
