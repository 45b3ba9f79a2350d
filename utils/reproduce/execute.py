"""Run every run of a sweep once: skip the finished, resume the interrupted, record the failed.

Each run's plan comes from its folder (run_folder.py: skip, resume, stale or fresh);
what is not finished goes to a backend: local subprocesses, `jobs` at a time (local.py),
or a Ray cluster (ray_backend.py). A failed run leaves failed.json (exit status + its
error line) and the sweep goes on.
"""
import os

from utils.errors import UserError
from utils.reproduce.local import run_pool
from utils.reproduce.run_folder import plan_and_change, read_status


def execute(sweep, jobs: int = 1, backend: str = "local", address: str = None, log=print) -> dict:
    """Run what is not finished yet. Returns {run folder: status}. Ctrl-C stops after the running ones."""
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    todo, statuses = [], {}
    for run in sweep.runs:
        action, change = plan_and_change(run, sweep.task)
        if action == "stale":
            log(f"{os.path.relpath(run.folder, sweep.runs_dir)} ran with other settings "
                f"({change}): run again, the old folder kept as .stale-*")
        if action == "skip":
            statuses[run.folder] = read_status(run.folder)
        else:
            todo.append((run, action))
    skipped = len(sweep.runs) - len(todo)
    log(f"{sweep.table} ({sweep.preset}): {len(sweep.runs)} runs, {skipped} already finished, "
        f"{len(todo)} to run ({backend}{'' if backend == 'ray' else f', {jobs} at a time'})")
    if not todo:
        return statuses
    if backend == "ray":
        from utils.reproduce.ray_backend import run_on_ray
        statuses.update(run_on_ray(sweep, todo, address, log))
        return statuses
    if backend != "local":
        raise UserError(f"--backend must be local or ray, got {backend!r}")
    statuses.update(run_pool(sweep, todo, jobs, log))
    return statuses
