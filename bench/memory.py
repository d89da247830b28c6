"""Peak memory of processes: the running one, and child processes the benchmarks start."""

from __future__ import annotations

import threading
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident size (VmHWM) in MB.

    Not ``ru_maxrss``: that is inherited from the (large) parent across fork and exec, while
    VmHWM belongs to the new address space that exec creates.
    """
    return status_of("self")["VmHWM"] / 1024


def status_of(pid: int | str) -> dict[str, int]:
    """The numeric fields of ``/proc/<pid>/status`` (kB for the memory ones, e.g. VmHWM, VmRSS;
    a count for Threads); empty once the process has exited (a zombie has no memory left)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        words = value.split()
        if words and words[0].isdigit():
            fields[name] = int(words[0])
    return fields


class Watch:
    """Reads a child's VmHWM and thread count every ``every`` seconds until it exits or ``stop``.

    VmHWM is the process's own high-water mark, so the last reading is exact for a process still
    running; for one that exits, only growth in its last ``every`` seconds could be missed (its
    memory is gone once it exits, and ``ru_maxrss`` from ``wait4`` counts the parent's pages
    copied at fork, see ``peak_rss_mb``).
    """

    def __init__(self, pid: int, *, every: float = 0.01) -> None:
        self.pid = pid
        self.every = every
        self.peak_kib = 0
        self.rss_kib = 0  # the last reading of VmRSS
        self.threads = 0  # the last reading
        self.max_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.read()
            if self._stop.wait(self.every):
                return

    def read(self) -> bool:
        """One reading now; False when the process is gone."""
        fields = status_of(self.pid)
        if "VmHWM" not in fields:
            return False
        self.peak_kib = max(self.peak_kib, fields["VmHWM"])
        self.rss_kib = fields.get("VmRSS", 0)
        self.threads = fields.get("Threads", 0)
        self.max_threads = max(self.max_threads, self.threads)
        return True

    def stop(self) -> Watch:
        """Stop watching (after one last reading, if the process still runs)."""
        self._stop.set()
        self._thread.join()
        self.read()
        return self

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024
