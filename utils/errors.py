"""UserError: a problem with the user's input, printed as one line (no traceback), and
one_line_errors, how the command lines end on any failure.

Imports nothing of the project, so that every package may use it.
"""
import os
import signal
import sys

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


_stopping = False  # a Ctrl-C or SIGTERM has been received: the process is stopping (see `stopping`)


def stopping(now: bool = False) -> bool:
    """Whether the process is stopping for a Ctrl-C or SIGTERM; `now=True` says that it is.

    While it is, a further SIGTERM is ignored: a SIGTERM often comes twice (`timeout` or Slurm
    signal the whole process group, and reproduce.py passes its own on to its training
    processes), and the second must not cut short the checkpoint and summary.json being
    written, nor change the exit status (130). Only a second Ctrl-C stops at once."""
    global _stopping
    if now:
        _stopping = True
    return _stopping


def printable_output():
    """Characters the terminal's encoding cannot show (a path with an accent under an ASCII-only
    locale, PYTHONIOENCODING=ascii) are printed as escapes (\\xe9) instead of ending the run."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text stream that can be reconfigured
            pass


def one_line_errors(body, interrupted: str = "interrupted", on_sigterm=None, whole_process: bool = False) -> int:
    """Run `body()` and return its exit status, every failure reported in one line on stderr.

    UserError -> 2; Ctrl-C or SIGTERM (Slurm, Ray, `timeout`; `on_sigterm()` is called first,
    e.g. to pass it on to child processes) -> `interrupted` printed, 130; anything else -> 1
    with "error: unexpected <type>: <first line>", or the traceback when NINT_TRACEBACK is set.
    A SIGTERM while stopping (`stopping`) is ignored. whole_process: `body` is the process's
    command line (not a call from Python): after an interruption SIGTERM then stays ignored
    until the process has exited, so that its status stays 130 (otherwise the previous handler
    is restored). The command lines of train_<task>.py and reproduce.py both end this way.
    """
    global _stopping
    if whole_process:
        printable_output()

    def handle(signum, frame):
        if stopping():
            return  # already stopping: the checkpoints are being written
        stopping(now=True)
        if on_sigterm is not None:
            on_sigterm()
        raise KeyboardInterrupt
    _stopping = False
    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    status = 1
    try:
        status = body()
        return status
    except UserError as e:
        status = 2
        print(f"error: {e}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        stopping(now=True)
        status = 130
        print(interrupted, file=sys.stderr)
        return status
    except Exception as e:
        # Not a known bad input but still not a wall of text: one line, and the traceback on request.
        if os.environ.get("NINT_TRACEBACK"):
            raise
        print(f"error: unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              f"(set NINT_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        return status
    finally:
        if previous is not None:
            if whole_process and status == 130:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the process exits with 130 whatever comes now
            else:
                signal.signal(signal.SIGTERM, previous)
                _stopping = False
