"""pytest plugin: skip, instead of fail, what needs an optional package that is not installed.

    PYTHONPATH=benchmarks/gpu python -m pytest -p optional_deps tests/...

Used by benchmarks/gpu_check.sh on machines that have torch but not this repository's optional
packages (wandb, pypng, soundfile, pystoi, pesq, libigl, ray). A test module whose import fails
with ModuleNotFoundError for one of them is reported as skipped; so is a test that fails with
that error (directly, as the cause of another exception, or as the one-line error a command-line
entry point printed before returning). Any other failure stays a failure.
"""
import importlib.util

import pytest

OPTIONAL = {"wandb": "wandb", "png": "pypng", "soundfile": "soundfile", "pystoi": "pystoi",
            "pesq": "pesq", "igl": "libigl", "ray": "ray"}


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


MISSING = {module for module in OPTIONAL if not _installed(module)}


def _missing_module(exc):
    """The missing optional module behind exc (following its causes), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] in MISSING:
            return exc.name.split(".")[0]
        exc = exc.__cause__ or exc.__context__
    return None


def _reason(module):
    return f"needs {OPTIONAL[module]} (not installed here)"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.failed and isinstance(collector, pytest.Module):
        text = str(report.longrepr)
        for module in MISSING:
            if f"No module named '{module}'" in text:
                report.outcome = "skipped"
                report.longrepr = (str(collector.path), 0, f"Skipped: {_reason(module)}")
                break


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        module = _missing_module(call.excinfo.value)
        if module is None:  # a CLI entry point that reported the error in one line and returned 1
            text = report.capstdout + report.capstderr
            module = next((m for m in MISSING if f"ModuleNotFoundError: No module named '{m}'" in text), None)
        if module is not None:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {_reason(module)}")


def pytest_report_header(config):
    return f"optional packages missing here (their tests are skipped): {', '.join(sorted(OPTIONAL[m] for m in MISSING)) or 'none'}"
