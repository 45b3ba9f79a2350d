"""The Ray backend: one Ray task per run on an existing cluster.

One GPU per task when the cluster has GPUs (else one CPU); the signal files travel
with the task, the run folder comes back into this machine's results/, its config.yaml
with this machine's paths. Ray is optional: pip install ray==2.60.0 (RAY_VERSION).
"""
import os
import shutil

from utils.engine.config import ROOT
from utils.errors import UserError
from utils.reproduce.run_folder import prepare, record, summary_line, train_argv

RAY_VERSION = "2.60.0"  # the version tested here (pip install ray==2.60.0)
# Not shipped to a Ray cluster with the code: outputs, environments, VCS.
RAY_EXCLUDES = ["results/", "outputs/", ".venv/", "wandb/", ".git/", ".cache/", "**/__pycache__/"]


def _shipped_files(run) -> dict:
    """Override keys whose value is a file on this machine (the signal): key -> (name, bytes)."""
    shipped = {}
    for text in run.argv:
        key, _, value = text.partition("=")
        if key.endswith("file_path") and value and os.path.isfile(value):
            with open(value, "rb") as f:
                shipped[key] = (os.path.basename(value), f.read())
    return shipped


def localise_config(run):
    """Write this machine's signal paths (the run's overrides) back into a run's config.yaml:
    a Ray worker trained on its own copy, whose path means nothing here (figures read the
    ground truth from config.yaml, the stale check compares paths)."""
    path = os.path.join(run.folder, "config.yaml")
    if not os.path.isfile(path):
        return
    from utils.engine.config import dump_config, parse_override, read_yaml
    cfg = read_yaml(path)
    for text in run.argv:
        section, key, value = parse_override(text)
        if key.endswith("file_path") and key in (cfg.get(section) or {}):
            cfg[section][key] = value
    dump_config(cfg, path)


def _folder_files(folder: str) -> dict:
    files = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def _make_ray_task():
    """The function a Ray worker runs for one run (defined here so it ships by value: stdlib only)."""

    def train_on_worker(payload: dict) -> dict:
        import os
        import shutil
        import socket
        import subprocess
        import sys
        import tempfile
        import time

        import yaml

        root = payload["code_root"]
        if not os.path.isfile(os.path.join(root, payload["script"])):
            root = os.getcwd()  # the code came with the job's runtime_env working_dir
        tmp = tempfile.mkdtemp(prefix="nint_run_")
        try:
            local = {}
            for key, (name, data) in payload["signals"].items():
                path = os.path.join(tmp, "signals", key.replace(".", "_"), name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                local[key] = path
            folder = os.path.join(tmp, "runs", payload["name"])
            if payload["resume"]:
                for rel, data in payload["files"].items():
                    path = os.path.join(folder, rel)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                cfg_path = os.path.join(folder, "config.yaml")
                with open(cfg_path) as f:
                    cfg = yaml.safe_load(f)
                for key, path in local.items():  # the saved config names the driver's paths
                    section, k = key.split(".", 1)
                    cfg[section][k] = path
                with open(cfg_path, "w") as f:
                    yaml.safe_dump(cfg, f, sort_keys=False)
                argv = [payload["script"], "--resume", folder]
            else:
                argv = [payload["script"]]
                for text in payload["argv"]:
                    key = text.split("=", 1)[0]
                    if key in local:
                        text = f"{key}={local[key]}"
                    elif key == "TRAIN_CONFIGS.out_root":
                        text = f"{key}={os.path.join(tmp, 'runs')}"
                    elif key == "TRAIN_CONFIGS.out_dir":
                        text = f"{key}={payload['name']}"
                    argv.append(text)
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            t0 = time.time()
            proc = subprocess.run([sys.executable, *argv], cwd=root, capture_output=True, text=True, env=env)
            files = _folder_files(folder)  # the shipped working_dir makes this module importable
            return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                    "files": files, "host": socket.gethostname(), "wall_seconds": round(time.time() - t0, 2)}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return train_on_worker


def run_on_ray(sweep, todo: list, address: str, log=print) -> dict:
    """One Ray task per run; results written back into each run's folder here."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--backend ray needs the optional package ray: pip install ray=={RAY_VERSION}") from None
    if not ray.is_initialized():
        if not address:
            raise UserError("--backend ray needs --address ADDR of a running cluster (e.g. ray://head:10001 "
                            "or auto), or start one here with `ray start --head`")
        try:
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"working_dir": ROOT, "excludes": RAY_EXCLUDES})
        except Exception as e:  # connection refused, bad address, version mismatch
            raise UserError(f"cannot connect to Ray at {address}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    slots = int(gpus) if gpus >= 1 else int(resources.get("CPU", 1))
    task = ray.remote(num_cpus=1, num_gpus=1 if gpus >= 1 else 0, max_retries=0)(_make_ray_task())
    refs = {}
    for run, action in todo:
        prepare(run, action)
        payload = {"code_root": ROOT, "script": sweep.script, "argv": run.argv, "name": os.path.basename(run.folder),
                   "resume": action == "resume", "signals": _shipped_files(run),
                   "files": _folder_files(run.folder) if action == "resume" else {}}
        refs[task.remote(payload)] = (run, action)
    log(f"ray: {len(refs)} tasks sent ({'1 GPU' if gpus >= 1 else '1 CPU'} each; up to {slots} at once)")
    statuses, done = {}, 0
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            run, action = refs[ready[0]]
            done += 1
            try:
                out = ray.get(ready[0])
            except Exception as e:  # the worker died, or the task raised
                out = {"returncode": -1, "stdout": "", "stderr": f"error: ray task failed: "
                       f"{str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}",
                       "files": {}, "host": "?", "wall_seconds": None}
            if action == "fresh" and os.path.isdir(run.folder):
                shutil.rmtree(run.folder)
            for rel, data in out["files"].items():
                path = os.path.join(run.folder, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            localise_config(run)
            meta = {"backend": "ray", "jobs": slots, "host": out["host"], "wall_seconds": out["wall_seconds"],
                    "command": " ".join(train_argv(sweep, run, action))}
            status = record(run, action, out["returncode"], out["stdout"], out["stderr"], meta)
            statuses[run.folder] = status
            log(f"[{done}/{len(refs)}] {os.path.relpath(run.folder, sweep.runs_dir)}: {summary_line(run, status)}")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        log("interrupted: the unfinished Ray tasks were cancelled; run the same command again to continue")
        raise
    return statuses
