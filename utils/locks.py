"""Folder locks: one process at a time trains a run folder, or executes a sweep's run tree.

A lock is `fcntl.flock` on the file `.lock` inside the folder, held while the process works
there. The kernel drops it when the process ends, however it ends (kill -9 included), so a
killed run or sweep never blocks its own resume; the file itself stays behind and means
nothing without a holder. The holder writes its process id into the file, so that the
refusal can name it.

`claim_folder` is how a new run gets a folder of its own: the claim is the atomic creation
of that `.lock` file (O_CREAT | O_EXCL) in a folder that is new or empty, so two runs started
at the same moment never share one. Imports nothing of the project but utils.errors.
"""
import errno
import os

try:
    import fcntl
except ImportError:  # not a POSIX system: folders are still claimed atomically, but not locked
    fcntl = None

from utils.errors import UserError

LOCK_NAME = ".lock"
_HELD = {}  # real path of a folder -> the FolderLock this process holds on it


class FolderLocked(UserError):
    """Another process holds the folder's lock."""


class FolderLock:
    """The held lock of one folder; released by `release()`, on `with` exit, or when the process ends."""

    def __init__(self, folder: str, fd: int):
        self.folder, self._fd = folder, fd
        _HELD[os.path.realpath(folder)] = self

    def release(self):
        if self._fd is not None:
            _HELD.pop(os.path.realpath(self.folder), None)
            try:
                if fcntl is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            pid = f.read().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def _take(folder: str, fd: int, what: str) -> FolderLock:
    """flock `fd` (the open lock file of `folder`) without waiting; FolderLocked naming the
    folder when another process holds it."""
    path = os.path.join(folder, LOCK_NAME)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise FolderLocked(f"{folder} is in use by another process{_holder(path)} ({what}); wait for it "
                               f"to end (its lock ends with it)") from None
        raise UserError(f"cannot lock {folder}: {e.strerror or type(e).__name__}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return FolderLock(folder, fd)


def lock_folder(folder: str, what: str = "training it") -> FolderLock:
    """The lock of an existing `folder`, taken now; FolderLocked (one line naming the folder and
    `what` the holder is doing) when another process holds it. When this process holds it
    already (a run folder claimed by `claim_folder`), that lock: whoever releases it releases it."""
    if os.path.realpath(folder) in _HELD:
        return _HELD[os.path.realpath(folder)]
    try:
        fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(f"cannot lock {folder}: {e.strerror or type(e).__name__}") from None
    return _take(folder, fd, what)


def claim_folder(path: str):
    """Claim `path` for a new run: make it (or take it when it is an empty folder) and create its
    lock file atomically. Returns the held FolderLock, or None when the path is taken (it exists
    and is not an empty folder, or another process claimed it first). OSError when it cannot be made."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path) or os.listdir(path):
            return None
    try:
        fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None  # another run made its claim between our mkdir and here
    return _take(path, fd, "training it")


def remove_if_unused(lock: FolderLock):
    """Release `lock` and remove its folder when nothing but the lock file is in it (a run that
    was refused before writing anything leaves no folder behind)."""
    folder = lock.folder
    lock.release()
    try:
        if os.listdir(folder) == [LOCK_NAME]:
            os.remove(os.path.join(folder, LOCK_NAME))
            os.rmdir(folder)
    except OSError:
        pass
