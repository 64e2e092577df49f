"""Atomic writes: a reader never sees a half-written file or directory.

Temporary files and folders are made by `tempfile`, which creates them 0600 / 0700
whatever the umask; they become the user's outputs by a rename, so they are given the
mode `open()` and `mkdir()` would have given them (`temporary_file`, `temporary_dir`).
Otherwise a teammate, TensorBoard or a web server running as another user could not read
a dataset, run or export that the user's umask means to share.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kgan.errors import first_line


def current_umask() -> int:
    """The process's umask, read without changing it (`os.umask` can only set it, which would
    briefly give files that other threads create at that moment the wrong mode)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): set and restore at once
    os.umask(mask)
    return mask


def temporary_file(directory: Path, prefix: str, suffix: str = ".tmp") -> tuple[int, str]:
    """`tempfile.mkstemp` in `directory`, with the mode `open()` gives a new file (0666 & ~umask)."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.fchmod(fd, 0o666 & ~current_umask())
    return fd, name


def temporary_dir(directory: Path, prefix: str, suffix: str = ".tmp") -> Path:
    """`tempfile.mkdtemp` in `directory`, with the mode `mkdir()` gives (0777 & ~umask)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=directory))
    os.chmod(folder, 0o777 & ~current_umask())
    return folder


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read a block at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file's contents, or `default` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path.parent, prefix=f".{path.name}.")
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
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an OS lock on `lock_path` (waiting for it): one process at a time does what follows,
    e.g. making a shared cache folder, whose leftovers `atomic_directory` would tidy away from
    under another process still making it. The kernel releases it however the process ends."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    tmp = temporary_dir(final.parent, prefix=f".{final.name}.")
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
    cause = os.strerror(code) if code else first_line(text, limit=200, empty="")
    hint = HINTS.get(code, "check the path and the disk")
    return f"{path or 'a file'}: {cause or type(error).__name__} ({hint})"
