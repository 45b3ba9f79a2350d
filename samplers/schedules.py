"""Batch-size schedulers and sampling intervals shared by every sampler (docs/methods.md, "INT, Standard, Uniform and the shared schedules").

All functions are pure: step s counts from 0, total_steps S is the run's iteration budget.
"""
import math

BATCH_SIZE_SCHEDULERS = ("constant", "linear", "step", "cosine")
SAMPLE_INTERVALS = ("dense", "dense2", "incremental", "decremental", "void")


def batch_ratio(scheduler: str, step: int, total_steps: int, start_ratio: float) -> float:
    """Share of the N points to train on at `step`, in (0, 1]."""
    r0, s, S = start_ratio, step, total_steps
    if scheduler == "constant":
        return r0
    if scheduler == "linear":
        return min(r0 + (s / S) * (1.0 - r0), 1.0)
    if scheduler == "step":
        stage_len = max(S / 10, 1e-12)  # 10 stages
        return min(r0 + math.floor(s / stage_len) * (1.0 - r0) / 10, 1.0)
    if scheduler == "cosine":  # INT's cosine: from r0 at s=0 up to 1 at s=S
        return 1.0 - (1.0 - r0) * (1.0 + math.cos(math.pi * s / S)) / 2.0
    raise ValueError(f"unknown batch_size_scheduler {scheduler!r}; valid: {', '.join(BATCH_SIZE_SCHEDULERS)}")


def batch_size(scheduler: str, step: int, total_steps: int, start_ratio: float, n_points: int) -> int:
    """Number of points B at `step`: int(ratio * N), at least 1 and at most N."""
    return max(1, min(n_points, int(batch_ratio(scheduler, step, total_steps, start_ratio) * n_points)))


def interval_period(interval: str, step: int, total_steps: int, dense2_period: int = 5) -> int:
    """Re-selection period in steps at `step` (0 = never re-select, i.e. 'void')."""
    s, S = step, total_steps
    if interval == "dense":
        return 1
    if interval == "dense2":
        return dense2_period
    if interval == "incremental":
        quarter = S // 4
        if s < quarter:
            return 1
        step_size = max((S - quarter) // 5, 1)
        return 10 * (math.floor(max(1, s - quarter) / step_size) + 1)
    if interval == "decremental":
        head = (3 * S) // 4  # the first 75% in five equal stages: 40, 30, 20, 10, 1
        if s >= head:
            return 1
        stage = min(int(5 * s / max(head, 1)), 4)
        return (40, 30, 20, 10, 1)[stage]
    if interval == "void":
        return 0
    raise ValueError(f"unknown sample_interval {interval!r}; valid: {', '.join(SAMPLE_INTERVALS)}")


def should_reselect(interval: str, step: int, total_steps: int, dense2_period: int = 5) -> bool:
    """True when the batch is chosen anew at `step`; otherwise the last indices are reused.

    Step 0 always selects. 'void' never selects (the sampler trains on every point).
    """
    period = interval_period(interval, step, total_steps, dense2_period)
    if period == 0:
        return False
    return step == 0 or step % period == 0
