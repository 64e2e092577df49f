"""Starting a benchmark part in a process of its own, and the peak memory a process reached.

The parts themselves live in `kgan.bench.parts`, run as a module: this launcher imports
none of them, so the measurements that start parts and the parts they run import one way.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from kgan.errors import KganError


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux: VmHWM, the high-water mark of this program's own memory. `ru_maxrss` there keeps
    the parent's mark across fork and exec, so a small part run from a large parent would
    report the parent's figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def in_fresh_process(part: str, **arguments: Any) -> dict[str, Any]:
    """Run one part in its own Python process and return its figures (with its peak RSS)."""
    command = [sys.executable, "-m", "kgan.bench.parts", part, json.dumps(arguments)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise KganError(f"benchmark part {part!r} failed: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])
