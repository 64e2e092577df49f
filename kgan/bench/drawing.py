"""`kgan bench draw`: avatars per second of `kgan data synthetic`.

The reference is the same drawing with every layer evaluated by numpy over the whole frame
on one thread, which is how the avatars were drawn at first: the pixels are the same, so
the ratio is the speed-up alone. kgan's side also writes the dataset (hashes, split,
manifest, attributes), as the command does, starting its worker processes and loading the
compiled drawing as the command does. No TensorFlow is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgan.bench.process import in_fresh_process

CHUNK = 16  # the chunk avatars were drawn in at first


def time_part(side: str, count: int, out: str) -> dict[str, Any]:
    """One side's avatars/s (run in a fresh process: its peak RSS is its own). `first_call`:
    the seconds to the compiled drawing's first avatar in a fresh process (a compile when
    its cache is empty, loading it otherwise)."""
    from kgan.data import synthetic

    start = time.perf_counter()
    if side == "first_call":
        synthetic.render_compiled([synthetic.draw_attributes(0, 0)])
        return {"seconds": round(time.perf_counter() - start, 2)}
    if side == "whole_frame":
        attrs = [synthetic.draw_attributes(0, i) for i in range(count)]
        for first in range(0, count, CHUNK):
            synthetic.render(attrs[first : first + CHUNK], windowed=False)
    else:
        synthetic.write_synthetic(Path(out), count)
    seconds = time.perf_counter() - start
    return {"avatars": count, "seconds": round(seconds, 2), "avatars_per_sec": round(count / seconds, 1)}


def bench_draw(count: int = 12_000, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Avatars/s and peak RSS of both sides, each in a fresh process, after the compiled
    drawing's first call in a fresh process (which compiles it if needed, so that the
    timing does not); `progress` hears (parts done, parts in all)."""
    import shutil
    import tempfile

    from kgan.system import cpu

    report: dict[str, Any] = {**cpu.describe(), "avatars": count, "size": 96}
    scratch = Path(tempfile.mkdtemp(prefix="kgan-bench-"))
    try:
        report["first_call_seconds"] = in_fresh_process("draw", side="first_call", count=1, out="")["seconds"]
        for done, side in enumerate(("whole_frame", "kgan"), start=1):
            figures = in_fresh_process("draw", side=side, count=count, out=str(scratch / side))
            report[f"{side}_avatars_per_sec"] = figures["avatars_per_sec"]
            report[f"{side}_peak_rss_mb"] = figures["peak_rss_mb"]
            if progress:
                progress(done, 2)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["kgan_over_whole_frame"] = round(report["kgan_avatars_per_sec"] / report["whole_frame_avatars_per_sec"], 2)
    return report
