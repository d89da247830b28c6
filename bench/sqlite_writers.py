"""A burst of short SQLite write transactions from many threads of one process: how long the
unluckiest writer waits, with the process's writer turn (``bot.storage``) and without it.

    .venv/bin/python bench/sqlite_writers.py [--threads 50] [--writes 25] [--timeout 1.0]

Each variant runs in a process of its own (the baseline must not share the GIL with what it is
compared to). The baseline is SQLite's own wait alone (``busy_timeout``), which polls with sleeps
of up to 100 ms: under a burst an unlucky writer can lose every round until its wait runs out,
which for the ack path (2.5 s) means a refused command.
Target (issue 8's fifty-senders test): no writer gives up; the longest wait well under the timeout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def burst(threads: int, writes: int, timeout: float, *, turn: bool) -> dict[str, float]:
    """Run the burst in this process; the figures as a dict."""
    import sqlalchemy as sa

    from bot import storage

    path = Path(tempfile.mkdtemp()) / "burst.sqlite"
    engine = storage.create_engine(f"sqlite:///{path}")
    if not turn:
        storage._writers.pop(engine)  # SQLite's own wait only: the baseline
    with storage.write(engine) as tx:
        tx.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    waits: list[float] = []
    failed = 0
    lock = threading.Lock()

    def writer() -> None:
        nonlocal failed
        for _ in range(writes):
            started = time.monotonic()
            try:
                with storage.write(engine, timeout=timeout) as tx:
                    tx.exec_driver_sql("INSERT INTO t VALUES (1)")
                    time.sleep(0.001)  # a short transaction, as the bot's are (about 1 ms)
            except sa.exc.OperationalError:
                with lock:
                    failed += 1
            with lock:
                waits.append(time.monotonic() - started)

    began = time.monotonic()
    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    waits.sort()
    return {
        "failed": failed,
        "writes": len(waits),
        "p50": waits[len(waits) // 2],
        "p99": waits[int(len(waits) * 0.99)],
        "max": waits[-1],
        "total": time.monotonic() - began,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--writes", type=int, default=25)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--variant", choices=["turn", "sqlite"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # a child: one variant, its figures as JSON
        figures = burst(args.threads, args.writes, args.timeout, turn=args.variant == "turn")
        print(json.dumps(figures))
        return 0
    print(
        f"{args.threads} threads x {args.writes} writes of ~1 ms, each waiting at most "
        f"{args.timeout:g} s for its turn"
    )
    ok = True
    for variant, label in (("sqlite", "SQLite's wait alone (baseline)"), ("turn", "writer turn")):
        child = subprocess.run(  # noqa: S603 - this script, in a process of its own
            [sys.executable, __file__, "--variant", variant, *sys.argv[1:]],
            capture_output=True,
            text=True,
            check=True,
        )
        f = json.loads(child.stdout)
        waits = f"p50 {f['p50'] * 1000:5.0f} ms  p99 {f['p99'] * 1000:5.0f} ms"
        target = ""
        if variant == "turn":
            met = f["failed"] == 0 and f["max"] < args.timeout
            ok = ok and met
            target = (
                f"   (target: 0 gave up, max < {args.timeout:g} s: {'met' if met else 'MISSED'})"
            )
        print(
            f"{label:32s} gave up {f['failed']:4.0f} of {f['writes']:.0f}  wait {waits}  "
            f"max {f['max'] * 1000:5.0f} ms  ({f['total']:.1f} s in all){target}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
