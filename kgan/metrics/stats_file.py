"""FID statistics files in pytorch-fid's format: an `.npz` with `mu` [D] and `sigma` [D, D].

pytorch-fid's `--save-stats` writes such files and its `calculate_frechet_distance` reads
them, so numbers computed elsewhere and kgan's can be compared on the same statistics.
kgan adds `count` and `features` (pytorch-fid ignores keys it does not know).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from kgan.errors import KganError
from kgan.files import write_bytes_atomic
from kgan.metrics.fid import Statistics


def save_statistics(path: Path, stats: Statistics, features: str) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, mu=stats.mean, sigma=stats.cov, count=stats.count, features=features)
    write_bytes_atomic(Path(path), buffer.getvalue())


def load_statistics(path: Path) -> tuple[Statistics, str | None]:
    """The statistics in a file, and the features they were computed on when the file says."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            mean, cov = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
            count = int(data["count"]) if "count" in data else 0
            features = str(data["features"]) if "features" in data else None
    except FileNotFoundError:
        raise KganError(f"--ref-stats {path} does not exist") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise KganError(
            f"--ref-stats {path} is not an FID statistics file (an .npz with mu and sigma, as pytorch-fid's "
            f"--save-stats or kgan fid --save-stats write): {error}"
        ) from None
    if (
        mean.ndim != 1
        or cov.shape != (len(mean), len(mean))
        or not (np.isfinite(mean).all() and np.isfinite(cov).all())
    ):
        raise KganError(
            f"--ref-stats {path}: mu must be [D] and sigma [D, D], finite; got {mean.shape} and {cov.shape}"
        )
    return Statistics(mean, cov, count), features
