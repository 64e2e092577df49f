"""`kgan data fetch anime-faces`: the paper's dataset from its public Google Drive link."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kgan.data.dataset import IngestReport, PreparedDataset
from kgan.data.prepare import check_output, prepare
from kgan.errors import KganError, first_line
from kgan.paths import cache_dir, mirror_env

# The link given in the paper (71,314 anime faces, 96×96 JPEG).
ANIME_FACES_URL = "https://drive.google.com/uc?id=1IGrTr308mGAaCKotpkkm8wTKlWs9Jq-p"
KNOWN = {"anime-faces": ANIME_FACES_URL}


def dataset_url(name: str, mirror: str | None = None) -> str:
    """The download address of a named dataset: a mirror if given (or in KGAN_<NAME>_URL), else the known one."""
    if name not in KNOWN:
        raise KganError(f"unknown dataset {name!r}: known datasets are {', '.join(KNOWN)}")
    return mirror or os.environ.get(mirror_env(name)) or KNOWN[name]


def fetch(
    name: str,
    out: Path,
    *,
    url: str | None = None,
    overwrite: bool = False,
    download_progress: Callable[[int, int | None], None] | None = None,
    progress: Callable[[int], None] | None = None,
    **prepare_options,
) -> tuple[PreparedDataset, IngestReport]:
    """Download a named dataset (resuming a partial download), then prepare it at `out`."""
    import gdown  # imported here: only this command needs it
    import requests

    network_errors = (OSError, requests.RequestException, gdown.exceptions.DownloadError)
    url = dataset_url(name, url)
    check_output(Path(out), overwrite)
    folder = cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{name}.archive"
    if not archive.exists():
        partial = folder / f"{name}.archive.part"
        try:
            gdown.download(
                url, str(partial), quiet=True, resume=True, progress=download_progress, timeout=(15, 120), retries=2
            )
        except network_errors as error:  # anything else is a bug, and stays a traceback
            reason = first_line(error)
            raise KganError(
                f"cannot download {name} from {url} ({reason}): open that link in a browser, save the "
                f"file, then run `kgan data prepare FILE --out {out}`"
            ) from None
        if not partial.is_file() or partial.stat().st_size == 0:
            raise KganError(
                f"download of {name} from {url} produced no file: download it by hand, "
                f"then run `kgan data prepare FILE --out {out}`"
            )
        partial.replace(archive)
    return prepare(archive, out, overwrite=overwrite, progress=progress, **prepare_options)
