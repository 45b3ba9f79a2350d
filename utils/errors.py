"""UserError: a problem with the user's input, printed as one line (no traceback).

Imports nothing of the project, so that every package may use it.
"""
import os


class UserError(Exception):
    """Bad input: missing file, unknown key, bad value. The CLI prints it and exits with status 2."""


def require_file(path: str, what: str):
    """UserError unless `path` is a file: '<what> not found: PATH', or, when it names a
    directory, that a file is expected there."""
    if os.path.isdir(path):
        raise UserError(f"{what} path {path} is a directory; a file is expected")
    if not os.path.isfile(path):
        raise UserError(f"{what} not found: {path}")
