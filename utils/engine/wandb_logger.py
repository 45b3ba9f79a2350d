"""Optional Weights & Biases logging. wandb is imported only when use_wandb is 1.

Without an API key (or without network), the run logs in wandb's offline mode
and says how to upload it later with `wandb sync`.
"""
import os


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = os.path.expanduser("~/.netrc")
    return os.path.isfile(netrc) and "api.wandb.ai" in open(netrc).read()


class WandbLogger:
    def __init__(self, cfg: dict, run_dir: str, run_name: str):
        import wandb  # only here: the default path never imports it

        self.wandb = wandb
        w = cfg["WANDB_CONFIGS"]
        self.log_images_every = int(w["log_images_every"])
        self.media_logged = False
        mode = os.environ.get("WANDB_MODE")
        if mode is None and not _has_api_key():
            mode = "offline"
            print("wandb: no API key found; logging offline. Upload later with "
                  f"`wandb sync {os.path.join(run_dir, 'wandb')}/offline-run-*`")
        kwargs = dict(project=w["wandb_project"], entity=w["wandb_entity"], name=run_name,
                      config=cfg, dir=run_dir)
        try:
            self.run = wandb.init(mode=mode, settings=wandb.Settings(init_timeout=60), **kwargs)
        except Exception as e:  # no network, bad key: never crash a training run over logging
            print(f"wandb: online init failed ({type(e).__name__}); logging offline. Upload later with "
                  f"`wandb sync {os.path.join(run_dir, 'wandb')}/offline-run-*`")
            self.run = wandb.init(mode="offline", **kwargs)
        self.run.define_metric("train_seconds")
        self.run.define_metric("by_time/*", step_metric="train_seconds")

    def log_metrics(self, step: int, train_seconds: float, metrics: dict):
        values = {k: v for k, v in metrics.items() if v is not None}
        record = dict(values, train_seconds=train_seconds)
        record.update({f"by_time/{k}": v for k, v in values.items()})
        self.run.log(record, step=step)

    def log_media(self, step: int, media: dict):
        """media: name -> an image array, or {'audio': [T] array, 'sample_rate': Hz} for a sound."""
        self.run.log({k: self._wrap(v) for k, v in media.items()}, step=step)
        self.media_logged = True

    def _wrap(self, value):
        if isinstance(value, dict) and "audio" in value:
            return self.wandb.Audio(value["audio"], sample_rate=value["sample_rate"])
        return self.wandb.Image(value)

    def finish(self):
        self.run.finish()
