"""HTTP(S) downloads that resume where they stopped and appear only when complete."""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kgan.errors import KganError
from kgan.files import write_text_atomic

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
CHUNK = 1 << 20


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(str(source)).scheme in ("http", "https")


def download(url: str, folder: Path, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Download `url` into `folder`, resuming a previous partial download.

    Bytes go to `<name>.part`; it is renamed to `<name>` only once complete (and, when the
    server said its length, exactly that long), so a crash or Ctrl-C never leaves a file
    that looks finished. A resume asks for the rest with `Range` and `If-Range` (the ETag
    or Last-Modified the server gave first, kept in `<name>.part.json`), so a file that
    changed on the server since is downloaded again from the start, never spliced; so is
    a part without validators, and any answer that is not the exact rest (`Content-Range`).
    Returns the final path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    final = folder / name
    if final.exists():
        return final
    part, facts_file = folder / f"{name}.part", folder / f"{name}.part.json"
    facts = _read_facts(facts_file)
    have = part.stat().st_size if part.exists() else 0
    validator = facts.get("etag") or facts.get("last_modified")
    if have and not validator:
        have = 0  # nothing to prove the part belongs to the file the server has now
    response = _open(url, timeout, have, validator)
    if have and response.status != 206:
        have = 0  # the whole file (If-Range failed: it changed; or Range is not supported)
    elif have and not _is_rest(response, have):
        response.close()
        have = 0  # a part, but not the rest of ours: start over
        response = _open(url, timeout, 0, None)
    with response:
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if not have:
            facts = {
                "etag": _strong(response.headers.get("ETag")),
                "last_modified": response.headers.get("Last-Modified"),
            }
            write_text_atomic(facts_file, json.dumps(facts) + "\n")
        done = _receive(response, part, have, total, progress, url)
    if total is not None and done < total:
        raise KganError(f"download of {url} stopped at {done} of {total} bytes; run the same command again to resume")
    if total is not None and done > total:
        part.unlink(missing_ok=True)
        raise KganError(f"download of {url} gave {done} bytes, not the announced {total}; run the command again")
    os.replace(part, final)
    facts_file.unlink(missing_ok=True)
    return final


def _open(url: str, timeout: float, have: int, validator: str | None):
    request = urllib.request.Request(url, headers={"User-Agent": "kgan"})
    if have:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", validator)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the range starts at the end: ask for the whole again
            return _open(url, timeout, 0, None)
        raise KganError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise KganError(f"cannot download {url} ({reason}); download it by hand and pass the local file") from None


def _is_rest(response, have: int) -> bool:
    """Content-Range starts exactly where the part file ends."""
    found = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
    return bool(found) and int(found.group(1)) == have


def _receive(response, part: Path, have: int, total: int | None, progress: Progress | None, url: str) -> int:
    """Append the body to the part file (or start it); the byte count reached."""
    try:
        with open(part, "ab" if have else "wb") as out:
            done = have
            if progress:
                progress(done, total)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise KganError(f"download of {url} was interrupted ({error}); run the same command again to resume") from None
    return done


def _strong(etag: str | None) -> str | None:
    """An ETag usable in If-Range: weak ones (W/"...") are not allowed there."""
    return None if etag is None or etag.startswith("W/") else etag


def _read_facts(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
