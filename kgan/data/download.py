"""HTTP(S) downloads that resume where they stopped and appear only when complete."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kgan.errors import KganError

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
CHUNK = 1 << 20


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(str(source)).scheme in ("http", "https")


def download(url: str, folder: Path, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Download `url` into `folder`, resuming a previous partial download.

    Bytes go to `<name>.part`; it is renamed to `<name>` only once complete, so a crash
    or Ctrl-C never leaves a file that looks finished. Returns the final path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    final = folder / name
    if final.exists():
        return final
    part = folder / f"{name}.part"
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "kgan"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part file already holds everything
            os.replace(part, final)
            return final
        raise KganError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise KganError(f"cannot download {url} ({reason}); download it by hand and pass the local file") from None
    with response:
        if have and response.status != 206:  # server ignored Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
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
        except (urllib.error.URLError, OSError) as error:
            raise KganError(
                f"download of {url} was interrupted ({error}); run the same command again to resume"
            ) from None
    if total is not None and done < total:
        raise KganError(f"download of {url} stopped at {done} of {total} bytes; run the same command again to resume")
    os.replace(part, final)
    return final
