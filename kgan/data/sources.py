"""Reading image entries out of a folder, a zip or a tar archive — read-only and safe.

Archives are never extracted: each member is read into memory, so nothing can be written
outside the output directory. Members with absolute paths, `..` components or links are
refused (reported, not read). A source is never modified.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kgan.errors import KganError

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a single avatar is kilobytes; refuse huge members


@dataclass(frozen=True)
class Entry:
    """One candidate image: its name inside the source, and its bytes or why it was refused."""

    name: str
    data: bytes | None = None
    refused: str | None = None


def detect_kind(path: Path) -> str:
    """'folder', 'zip' or 'tar', from the content rather than the file name."""
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise KganError(f"source {path} does not exist: give a folder, a .zip, a .tar(.gz) or a URL")
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise KganError(f"source {path} is neither a folder, a zip nor a tar archive")


def iter_entries(path: Path) -> Iterator[Entry]:
    """Every file in the source: folders and zips sorted by name, tar archives in stored
    order (a compressed tar read out of order decompresses again from its start at every
    backward seek); the prepared dataset sorts its images by name at the end."""
    path = Path(path)
    kind = detect_kind(path)
    if kind == "folder":
        yield from _iter_folder(path)
    elif kind == "zip":
        yield from _iter_zip(path)
    else:
        yield from _iter_tar(path)


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name is unsafe to use, or None when it is fine."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "refused: absolute path in archive"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "refused: '..' in archive path"
    return None


def member_refusal(name: str, *, is_link: bool, is_file: bool, size: int) -> str | None:
    """Why an archive member must not be read (unsafe name, link, special file, huge), or None."""
    reason = unsafe_member_reason(name)
    if reason is None and is_link:
        reason = "refused: link in archive"
    if reason is None and not is_file:
        reason = "refused: not a regular file"
    if reason is None and size > MAX_MEMBER_BYTES:
        reason = f"refused: {size} bytes is too large for an image"
    return reason


def _iter_folder(root: Path) -> Iterator[Entry]:
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs.sort()
        relative = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for filename in sorted(files):
            yield _file_entry(prefix + filename, os.path.join(directory, filename))


def _file_entry(name: str, path: str) -> Entry:
    """A folder's file, read, or why it is refused. Only regular files are opened: a named
    pipe would wait for a writer forever, a device might never end."""
    if os.path.islink(path):
        return Entry(name, refused="refused: symbolic link")
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return Entry(name, refused="refused: not a regular file")
        if info.st_size > MAX_MEMBER_BYTES:
            return Entry(name, refused=f"refused: {info.st_size} bytes is too large for an image")
        with open(path, "rb") as handle:
            return Entry(name, data=handle.read())
    except OSError as error:
        return Entry(name, refused=f"unreadable ({error.strerror})")


def _iter_zip(path: Path) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise KganError(f"cannot open zip archive {path}: {error}") from None
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            name = info.filename
            is_link = stat.S_ISLNK(info.external_attr >> 16)
            reason = member_refusal(name, is_link=is_link, is_file=True, size=info.file_size)
            if reason:
                yield Entry(name, refused=reason)
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_MEMBER_BYTES + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as error:
                yield Entry(name, refused=f"unreadable archive member ({error})")
                continue
            if len(data) > MAX_MEMBER_BYTES:
                yield Entry(name, refused="refused: member larger than declared")
                continue
            yield Entry(name, data=data)


def _iter_tar(path: Path) -> Iterator[Entry]:
    try:
        archive = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError) as error:
        raise KganError(f"cannot open tar archive {path}: {error}") from None
    with archive:
        members = iter(archive)  # one forward pass over the stream, members in stored order
        while True:
            try:
                member = next(members)
            except StopIteration:
                return
            except (tarfile.TarError, OSError, EOFError) as error:
                raise KganError(f"tar archive {path} is damaged: {error}") from None
            if member.isdir():
                continue
            name = member.name
            is_link = member.issym() or member.islnk()
            reason = member_refusal(name, is_link=is_link, is_file=member.isfile(), size=member.size)
            if reason:
                yield Entry(name, refused=reason)
                continue
            try:
                handle = archive.extractfile(member)
                data = handle.read() if handle else b""
            except (tarfile.TarError, OSError, EOFError) as error:
                yield Entry(name, refused=f"unreadable archive member ({error})")
                continue
            yield Entry(name, data=data)
