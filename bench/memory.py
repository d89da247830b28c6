"""Peak memory of the running process, for the benchmarks' fresh child processes."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident size (VmHWM) in MB.

    Not ``ru_maxrss``: that is inherited from the (large) parent across fork and exec, while
    VmHWM belongs to the new address space that exec creates.
    """
    status = Path("/proc/self/status").read_text()
    peak_kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(peak_kib) / 1024
