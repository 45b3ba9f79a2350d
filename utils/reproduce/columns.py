"""The columns of a reproduction table: their specs, checked when a sweep is read, and each cell's value.

A column is one number read from a run folder. The kinds (one per column):

    {metric: psnr, at_step: 1000}      the metric at that evaluation step (metrics.csv;
                                       the last evaluation at or before it)
    {metric: si_snr, at_seconds: 3}    the metric at the last evaluation within that many
                                       training seconds; none when training ended sooner (the
                                       run did not train that long)
    {best: psnr}, {final: psnr}        summary.json's best_* / final_*
    {time_to: psnr_30}                 training seconds to reach the threshold (summary.json)
    {iters_to: psnr_30}                iterations to reach it
    {summary: parameters}              any number in summary.json

Optional keys: id (what `paper:` and preset adjustments refer to; a default is made
from the spec), header, fmt (Python format spec, e.g. '.2f'), scale (a factor the value is
multiplied by before it is printed, e.g. 1000 for a column in units of 1e-3; the paper's
number stands in the printed units).
"""
from utils.errors import UserError

KINDS = ("metric", "best", "final", "time_to", "iters_to", "summary")
COLUMN_KEYS = KINDS + ("at_step", "at_seconds", "id", "header", "fmt", "scale")
PRETTY = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "si_snr": "SI-SNR", "stoi": "STOI",
          "pesq": "PESQ", "iou": "IoU", "chamfer": "Chamfer", "chamfer_sq": "Chamfer (mean sq.)"}
DEFAULT_FMT = {"psnr": ".2f", "si_snr": ".2f", "pesq": ".2f", "ssim": ".4f", "lpips": ".4f",
               "stoi": ".4f", "iou": ".4f", "chamfer": ".5f", "chamfer_sq": ".3g"}


def _pretty_threshold(key: str) -> str:
    metric, _, value = key.rpartition("_")
    return f"{PRETTY.get(metric, metric)} {value}"


def column_kind(spec: dict) -> str:
    """Which of KINDS the column spec is; ValueError unless it is exactly one (and well formed)."""
    kinds = [k for k in KINDS if k in spec]
    scale = spec.get("scale", 1)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"column {spec}: 'scale' must be a positive number")
    if len(kinds) != 1:
        raise ValueError(f"column {spec}: give exactly one of {', '.join(KINDS)}")
    kind = kinds[0]
    if kind == "metric" and ("at_step" in spec) == ("at_seconds" in spec):
        raise ValueError(f"column {spec}: 'metric' needs exactly one of at_step, at_seconds")
    return kind


def _defaults(spec: dict) -> dict:
    kind = column_kind(spec)
    value = spec[kind]
    if kind == "metric":
        name = PRETTY.get(value, value)
        if "at_step" in spec:
            cid, header = f"{value}_step{spec['at_step']}", f"{name} @ {spec['at_step']} it"
        else:
            cid, header = f"{value}_{spec['at_seconds']:g}s", f"{name} @ {spec['at_seconds']:g} s"
        fmt = DEFAULT_FMT.get(value, ".4g")
    elif kind in ("best", "final"):
        cid, header, fmt = f"{kind}_{value}", f"{kind} {PRETTY.get(value, value)}", DEFAULT_FMT.get(value, ".4g")
    elif kind == "time_to":
        cid, header, fmt = f"time_to_{value}", f"s to {_pretty_threshold(value)}", ".2f"
    elif kind == "iters_to":
        cid, header, fmt = f"iters_to_{value}", f"it to {_pretty_threshold(value)}", ".0f"
    else:
        cid, header, fmt = str(value), str(value), ",.6g"
    if spec.get("scale", 1) != 1:
        header += f" (x{spec['scale']:g})"
    return {"id": cid, "header": header, "fmt": fmt}


def resolve_columns(columns, adjustments, where: str) -> list:
    """The sweep's columns with a preset's adjustments ({column id: {key: value}}) applied.

    An adjusted column keeps its id (so the paper's number stays beside it) and gets a
    header made from its new spec unless one is given.
    """
    if not isinstance(columns, list) or not columns:
        raise UserError(f"{where}: 'columns' must be a non-empty list of column specs")
    raw = []
    for i, spec in enumerate(columns):
        if not isinstance(spec, dict) or any(k not in COLUMN_KEYS for k in spec):
            raise UserError(f"{where}, columns[{i}]: a mapping with keys from {', '.join(COLUMN_KEYS)}")
        raw.append(dict(spec))
    try:
        ids = [{**_defaults(r), **r}["id"] for r in raw]
        if len(set(ids)) < len(ids):
            raise UserError(f"{where}: column ids must be unique: {', '.join(ids)}")
        for cid, change in (adjustments or {}).items():
            if cid not in ids:
                raise UserError(f"{where}: the preset adjusts column '{cid}', which is not a column id "
                                f"({', '.join(ids)})")
            if not isinstance(change, dict) or any(k not in COLUMN_KEYS for k in change):
                raise UserError(f"{where}: preset column '{cid}': expected a mapping such as {{at_step: 500}}")
            spec = raw[ids.index(cid)]
            for a, b in (("at_step", "at_seconds"), ("at_seconds", "at_step")):
                if a in change:
                    spec.pop(b, None)
            spec.update(change)
        return [{**_defaults(r), **r, "id": cid} for r, cid in zip(raw, ids)]
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None


def check_columns(columns: list, task_cls, where: str):
    """UserError for a column the runs of `task_cls` cannot fill: a metric they do not compute, or
    a time_to / iters_to threshold they do not record (summary.json holds only the task's
    `thresholds`; any other would read as "not reached" whatever the run reached)."""
    from utils.engine.run_logger import threshold_key
    metrics = list(task_cls.metrics)
    recorded = [threshold_key(m, t) for m, values in task_cls.thresholds.items() for t in values]
    for spec in columns:
        kind = column_kind(spec)
        value = spec[kind]
        if kind in ("metric", "best", "final") and value not in metrics:
            raise UserError(f"{where}: column {spec['id']}: {task_cls.modality} runs record no metric "
                            f"{value!r}; metrics: {', '.join(metrics)}")
        if kind in ("time_to", "iters_to") and value not in recorded:
            raise UserError(f"{where}: column {spec['id']}: {task_cls.modality} runs do not record the threshold "
                            f"{value!r}; recorded: {', '.join(recorded)}")


def ended_before(spec: dict, result) -> bool:
    """True for an at_seconds column of a run whose training ended before that many seconds:
    the run has no value there (it did not train that long), whatever it reached at its end."""
    if column_kind(spec) != "metric" or "at_seconds" not in spec:
        return False
    trained = (result.summary or {}).get("train_seconds")
    return isinstance(trained, (int, float)) and trained < spec["at_seconds"]


def column_value(spec: dict, result) -> float:
    """One cell's number from a RunResult, times the column's scale; None when not available
    (threshold not reached, run too short, training ended before an at_seconds column)."""
    value = _raw_value(spec, result)
    scale = spec.get("scale", 1)
    if scale != 1 and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * scale
    return value


def _raw_value(spec: dict, result):
    summary, rows = result.summary or {}, result.rows
    kind = column_kind(spec)
    if kind == "metric":
        name = spec["metric"]
        if "at_step" in spec:
            target = spec["at_step"]
            if not rows or rows[-1].get("step") is None or rows[-1]["step"] < target:
                return None
            within = [r for r in rows if r.get("step") is not None and r["step"] <= target]
        else:
            if ended_before(spec, result):
                return None
            within = [r for r in rows if r.get("train_seconds") is not None and r["train_seconds"] <= spec["at_seconds"]]
        return within[-1].get(name) if within else None
    if kind in ("best", "final"):
        return summary.get(f"{kind}_{spec[kind]}")
    if kind in ("time_to", "iters_to"):
        return (summary.get(kind) or {}).get(spec[kind])
    value = summary.get(spec["summary"])
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
