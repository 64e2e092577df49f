"""Atomic writes: a reader never sees a half-written file or directory."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; on success rename it to `final`.

    On any error (KeyboardInterrupt included) the temporary directory is removed, so
    `final` either does not exist or is complete. An existing `final` is replaced. What a
    process killed here (SIGKILL, power loss) left behind is tidied on the next call: its
    temporary directory is removed, and a `final` it had moved aside is put back.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    moved_aside = final.with_name(f".{final.name}.old")
    if moved_aside.is_dir() and not final.exists():
        os.replace(moved_aside, final)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            trash = final.with_name(f".{final.name}.old")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


HINTS = {
    errno.ENOSPC: "free some space, or choose a path on another disk",
    errno.EDQUOT: "your disk quota is full: free some space, or choose another disk",
    errno.EFBIG: "the file is larger than this filesystem or process allows: choose another location",
    errno.EROFS: "the filesystem is read-only: choose a writable path",
    errno.EACCES: "no permission: choose a path you can write, or fix its permissions",
    errno.EPERM: "not permitted: choose a path you can write",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "something already exists there (a file where a folder should be?): choose another path",
    errno.ENOENT: "it does not exist: check the path",
    errno.EISDIR: "it is a folder: give a file path",
}


def describe_os_error(error: OSError) -> str:
    """One line for an OSError on a user's path: the path, the cause, what to do.

    HDF5 (Keras weight files) reports its errors as text holding `errno = N` and
    `filename = '...'`; those are read out of it.
    """
    text = str(error)
    code = error.errno
    if found := re.search(r"errno = (\d+)", text):
        code = int(found.group(1))
    path = error.filename
    if path is None and (found := re.search(r"filename = '([^']+)'", text)):
        path = found.group(1)
    cause = os.strerror(code) if code else text.strip().splitlines()[0] if text.strip() else ""
    hint = HINTS.get(code, "check the path and the disk")
    return f"{path or 'a file'}: {cause or type(error).__name__} ({hint})"
