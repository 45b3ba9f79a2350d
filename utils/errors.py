"""UserError: a problem with the user's input, printed as one line (no traceback).

Imports nothing of the project, so that every package may use it.
"""
import os

# The repository root: a relative default such as images/01.png is written from here.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UserError(Exception):
    """Bad input: missing file, unknown key, bad value. The CLI prints it and exits with status 2."""


class UserValueError(UserError, ValueError):
    """Bad argument to a Python API (samplers.make_sampler, Sampler.select): a ValueError for the
    caller's own code, and a UserError, so that the training scripts still print one line and exit 2."""


def require_file(path: str, what: str):
    """UserError unless `path` is a file: '<what> not found: PATH', or, when it names a
    directory, that a file is expected there. A relative path that is missing here but exists
    in the repository says so (the defaults are written relative to the repository root)."""
    if os.path.isdir(path):
        raise UserError(f"{what} path {path} is a directory; a file is expected")
    if not os.path.isfile(path):
        hint = ""
        if not os.path.isabs(path) and os.path.isfile(os.path.join(_ROOT, path)):
            hint = (f" (relative to the current directory {os.getcwd()}; the repository has "
                    f"{os.path.join(_ROOT, path)}: run from the repository root or give an absolute path)")
        raise UserError(f"{what} not found: {path}{hint}")
