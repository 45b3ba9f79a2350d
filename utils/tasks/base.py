"""What every task provides to the shared training loop (utils/engine/trainer.py)."""
import torch


class Task:
    modality = "base"           # 'image' | 'audio' | 'sdf'
    in_features = 0
    out_features = 0
    # metric name -> True when higher is better
    metrics = {}
    # metric name -> thresholds for time-to-threshold in summary.json
    thresholds = {}
    progress_metric = None      # shown in the progress bar

    coords: torch.Tensor        # [N, in_features] on the training device
    targets: torch.Tensor       # [N, out_features]

    @property
    def n_points(self) -> int:
        return self.coords.shape[0]

    def batch(self, step: int, generator: torch.Generator):
        """(coords, targets) for `step`: fixed for images and audio, fresh points for SDF."""
        return self.coords, self.targets

    def fingerprint_tensors(self) -> list:
        """The tensors that define the signal a run fits (hashed into the checkpoint, so that
        --resume refuses a replaced or edited file). Default: coords and targets."""
        return [self.coords, self.targets]

    @property
    def signal(self) -> dict:
        """What structure-aware samplers may read: {'modality': ..., plus task-specific fields}."""
        return {"modality": self.modality}

    def describe(self) -> str:
        return ""

    def evaluate(self, model) -> dict:
        raise NotImplementedError

    def after_evaluation(self, step: int, metrics: dict, run_dir: str):
        """Write per-evaluation artifacts (e.g. the SDF task's best mesh so far); inside the
        evaluation, so off the training clock. Default: none."""

    def save_outputs(self, model, run_dir: str):
        pass

    def save_snapshot(self, model, run_dir: str, seconds: float) -> str:
        """Save the reconstruction as it is after `seconds` of training (TRAIN_CONFIGS.snapshot_seconds);
        returns the file name, or None where the task has no snapshot. Off the training clock."""
        return None

    def wandb_media(self, model, first: bool) -> dict:
        """name -> image array [H, W, C], or {'audio': [T] array, 'sample_rate': Hz}; `first`: add the target."""
        return {}

