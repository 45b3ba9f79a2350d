"""Local execution: each run one `python train_<task>.py` subprocess, `jobs` at a time.

The default is one at a time: training seconds are the measure, and runs side by side
share the CPU/GPU. Ctrl-C reaches the children too; they write their checkpoints and
nothing new is started.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from utils.engine.config import ROOT
from utils.errors import stopping
from utils.reproduce.run_folder import prepare, record, summary_line, train_argv


def _subprocess_env(jobs: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        # N processes at once share the cores; without this each would start one thread per core.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


_RUNNING = set()  # the training processes running now (a SIGTERM to reproduce.py is passed on to them)
_RUNNING_LOCK = threading.Lock()


def terminate_running():
    """Pass a SIGTERM on to every running training process: each checkpoints and exits (130).
    Ctrl-C needs no such call: the terminal sends it to the children as well."""
    with _RUNNING_LOCK:
        for proc in _RUNNING:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def run_local(sweep, run, action: str, jobs: int) -> str:
    """One run as a subprocess in the repository root; returns its status (run_folder.record)."""
    prepare(run, action)
    argv = [sys.executable, *train_argv(sweep, run, action)]
    t0 = time.time()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_subprocess_env(jobs))
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    meta = {"backend": "local", "jobs": jobs, "host": socket.gethostname(),
            "wall_seconds": round(time.time() - t0, 2), "command": " ".join(argv[1:])}
    return record(run, action, proc.returncode, stdout, stderr, meta)


def run_pool(sweep, todo: list, jobs: int, log=print) -> dict:
    """Run each (run, action) of `todo` locally, `jobs` at a time. Returns {run folder: status}."""
    statuses = {}
    stop = threading.Event()
    counter = iter(range(1, len(todo) + 1))
    lock = threading.Lock()

    def one(item):
        run, action = item
        if stop.is_set():
            return run.folder, "not started"
        status = run_local(sweep, run, action, jobs)
        if status == "interrupted":
            stop.set()  # Ctrl-C reached the children too: start nothing new
        with lock:
            log(f"[{next(counter)}/{len(todo)}] {os.path.relpath(run.folder, sweep.runs_dir)}: "
                f"{'resumed, ' if action == 'resume' else ''}{summary_line(run, status)}")
        return run.folder, status

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, item) for item in todo]
    try:
        for future in futures:
            folder, status = future.result()
            statuses[folder] = status
    except KeyboardInterrupt:
        stop.set()
        stopping(now=True)  # a SIGTERM now does not cut the wait short (utils/errors.py)
        log("interrupted: waiting for the running processes to save their checkpoints; "
            "run the same command again to continue")
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return statuses
