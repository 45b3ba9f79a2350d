"""The speed-up benchmark: Standard, INT, EVOS, Expansive and NINT on one image, one after another.

For each strategy: training seconds and iterations to PSNR 30 dB and their ratio to
Standard's, checked against the targets of the reproduction issue (cpu preset, 2 cores):
NINT's time to 30 dB at most 0.45x Standard's (the paper: 0.51x on a GPU) and below every
other strategy's; NINT's iterations to 30 dB at most 0.8x Standard's.
"""
import os

from utils.reproduce.table import TIME_ACCOUNTING, collect

TIME_KEY, ITERS_KEY = "time_to_psnr_30", "iters_to_psnr_30"
TARGET_TIME_RATIO, TARGET_ITERS_RATIO = 0.45, 0.8


def _ratio(value, base):
    return value / base if value is not None and base else None


def speedup_report(sweep) -> dict:
    """{'rows': [(label, seconds, time ratio, iterations, iters ratio, error)], 'checks': [(text, ok)]}."""
    entries = {e["name"]: e for e in collect(sweep)}
    base = entries.get("standard")
    base_t = base["values"][TIME_KEY][0] if base else None
    base_i = base["values"][ITERS_KEY][0] if base else None
    rows = []
    for name, e in entries.items():
        t, i = e["values"][TIME_KEY][0], e["values"][ITERS_KEY][0]
        error = e["errors"][0] if e["errors"] and e["n_completed"] == 0 else None
        rows.append((e["label"], t, _ratio(t, base_t), i, _ratio(i, base_i), error, name))
    checks = []
    nint = entries.get("nint")
    if nint is not None and base is not None:
        t, i = nint["values"][TIME_KEY][0], nint["values"][ITERS_KEY][0]
        rt, ri = _ratio(t, base_t), _ratio(i, base_i)
        checks.append((f"NINT time to 30 dB / Standard's = {_f(rt, '.3f')} (target <= {TARGET_TIME_RATIO})",
                       rt is not None and rt <= TARGET_TIME_RATIO))
        others = [(e["label"], e["values"][TIME_KEY][0]) for n, e in entries.items() if n not in ("nint", "standard")]
        beaten = [label for label, v in others if v is not None and t is not None and v <= t]
        missing = [label for label, v in others if v is None]
        text = "NINT's time to 30 dB below every other strategy's"
        if beaten:
            text += f" (not below: {', '.join(beaten)})"
        if missing:
            text += f" (no time for: {', '.join(missing)})"
        checks.append((text, t is not None and not beaten))
        checks.append((f"NINT iterations to 30 dB / Standard's = {_f(ri, '.3f')} (target <= {TARGET_ITERS_RATIO})",
                       ri is not None and ri <= TARGET_ITERS_RATIO))
    return {"rows": rows, "checks": checks}


def _f(value, fmt):
    return "n/a" if value is None else format(value, fmt)


def format_report(sweep, report: dict) -> str:
    lines = [f"# Speed-up benchmark ({sweep.preset} preset)", "",
             "Each strategy ran in its own process, one after another, on the same image.",
             f"{TIME_ACCOUNTING}", "",
             "| strategy | s to PSNR 30 | x Standard | it to PSNR 30 | x Standard |",
             "|---|---:|---:|---:|---:|"]
    for label, t, rt, i, ri, error, _ in report["rows"]:
        if error:
            lines.append(f"| {label} | {error.replace('|', '/')} | | | |")
        else:
            lines.append(f"| {label} | {_f(t, '.2f') if t is not None else 'not reached'} | {_f(rt, '.3f')} | "
                         f"{_f(i, '.0f') if i is not None else 'not reached'} | {_f(ri, '.3f')} |")
    if report["checks"]:
        lines += ["", "Targets:"]
        lines += [f"- [{'met' if ok else 'NOT met'}] {text}" for text, ok in report["checks"]]
    return "\n".join(lines) + "\n"


def write_report(sweep, report: dict) -> str:
    path = os.path.join(sweep.results_dir, f"{sweep.stem}_report.md")
    os.makedirs(sweep.results_dir, exist_ok=True)
    with open(path, "w") as f:
        f.write(format_report(sweep, report))
    return path
