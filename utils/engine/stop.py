"""The stop setting: a run that ends once it has what it is for.

TRAIN_CONFIGS.stop_thresholds (e.g. [psnr_30]), stop_after_step (e.g. 250) and stop_step_cap
(e.g. 2000) end a run at the first evaluation where every threshold has been reached and
stop_after_step has been passed, or at the step cap, whichever comes first. The learning-rate
and the samplers' schedules still follow TRAIN_CONFIGS.iterations, so a stopped run is the
full-length run up to the step where it stopped. summary.json then says status `completed`
and `stopped_by` `thresholds` or `cap`. All three off (the defaults): the run is exactly the
run it was before the setting existed.

Why: a sweep that asks "how many iterations to 30 dB, and what quality at 250" need not pay
for the 5000 iterations of the paper's schedule (reproduce.py paper_size).
"""
from utils.errors import UserError

REASONS = ("thresholds", "cap")  # summary.json `stopped_by` values this setting gives


def parse_threshold(name: str, metrics: dict) -> tuple:
    """'psnr_30' -> ('psnr', 30.0); UserError naming the key unless the metric is one of the task's."""
    metric, _, value = name.rpartition("_")
    if metric not in metrics:
        raise UserError(f"TRAIN_CONFIGS.stop_thresholds: {name!r} names no metric of this task "
                        f"({', '.join(metrics)}); write <metric>_<value>, e.g. {next(iter(metrics))}_30")
    return metric, float(value)


class StopRule:
    """When the stop setting ends a run. `metrics`: the task's {name: higher is better}."""

    def __init__(self, train_cfg: dict, metrics: dict):
        self.thresholds = [parse_threshold(t, metrics) for t in train_cfg.get("stop_thresholds") or []]
        self.after_step = int(train_cfg.get("stop_after_step") or 0)
        self.cap = int(train_cfg.get("stop_step_cap") or 0)

    @property
    def active(self) -> bool:
        return bool(self.thresholds or self.cap)

    def is_cap(self, done: int) -> bool:
        """`done` is the step cap: the run is evaluated there."""
        return self.cap > 0 and done == self.cap

    def reason(self, done: int, logger) -> str:
        """'thresholds' or 'cap' when the run ends after `done` steps, judged on the evaluations
        logged so far (`logger.first_reaching`); None while it goes on."""
        if (self.thresholds and done >= self.after_step
                and all(logger.first_reaching(metric, value) is not None for metric, value in self.thresholds)):
            return "thresholds"
        if self.cap and done >= self.cap:
            return "cap"
        return None
