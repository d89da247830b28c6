"""The bot's HTTP server under slow and many clients (the "nothing lost, nothing forged" issue).

    .venv/bin/python bench/http_server.py [--slow 32] [--burst 100] [--senders 50] [--users 2000]

usagebot runs in this process behind its real HTTP server (``LoopbackStack``: waitress, Bolt,
the work loop, SQLite), with the sandbox and the Slack stand-in. The clients run in processes of
their own (spawned), so that their work and the bot's do not share a GIL:

- a prober sends ``/healthz`` and signed ``/usage`` commands one at a time and times each;
- a trickler opens ``--slow`` connections that send a request's first bytes and then one byte
  a second, as a slow (or hostile) client would.

slow    ``/healthz`` and command acks, first alone (the baseline, same run), then while the
        slow clients trickle; and how many slow connections the server closed by its deadline.
burst   ``--burst`` commands from ``--senders`` people at once (a thread each, in the prober):
        every ack's time, and the time until every question has its answer at the stand-in.

Targets (the issue): slow clients do not stop ``/healthz`` or acks (none fails; p99 within
Slack's 3 s); a burst of 100 commands from 50 senders is all acknowledged within 3 s, and all
answered.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slack_app import (
    CHANNEL,
    NO_LIMIT,
    Prepared,
    answered,
    ms,
    percentile,
    prepare,
    process,
    sandbox_config,
    show_ack,
)
from bot.clock import SystemClock
from bot.server import freeze_startup_objects
from bot.stack import LoopbackStack, slack_user

SENDERS_MAX = 50


def run_prober(conn: Connection) -> None:
    """The prober process: runs each job it is sent, sends back (status, seconds) per request."""
    logging.basicConfig(level=logging.WARNING)
    client = httpx.Client(timeout=30)
    freeze_startup_objects()  # its own collector's pauses are not the bot's (bench/slack_app.py)
    conn.send("ready")
    try:
        while (job := conn.recv()) is not None:
            _, payload, concurrency = job  # ("get" or "post": each item says which)

            def one(item: str | Prepared) -> tuple[int, float, bytes]:
                started = time.perf_counter()
                try:
                    if isinstance(item, str):
                        response = client.get(item)
                    else:
                        url, body, headers = item
                        response = client.post(url, content=body, headers=headers)
                    return response.status_code, time.perf_counter() - started, response.content
                except httpx.HTTPError:
                    return -1, time.perf_counter() - started, b""

            with ThreadPoolExecutor(concurrency) as pool:
                conn.send(list(pool.map(one, payload)))
    except EOFError:
        pass
    finally:
        client.close()


def run_trickler(conn: Connection, host: str, port: int, count: int) -> None:
    """The trickler process: ``count`` connections, each sending one byte a second until told
    to stop; sends back how many the server closed."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, port))
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bench\r\n")
        sockets.append(sock)
    conn.send("trickling")
    closed: set[int] = set()
    stop = threading.Event()

    def until_told() -> None:
        conn.recv()
        stop.set()

    threading.Thread(target=until_told, daemon=True).start()
    while not stop.wait(1.0):
        for i, sock in enumerate(sockets):
            if i in closed:
                continue
            try:
                sock.sendall(b"X")
                if sock.recv(1, socket.MSG_DONTWAIT) == b"":  # the server hung up
                    closed.add(i)
            except BlockingIOError:
                pass  # still open, nothing to read: as it should be mid-request
            except OSError:
                closed.add(i)
    conn.send(len(closed))
    for sock in sockets:
        sock.close()


def summary(name: str, results: list[tuple[int, float, bytes]]) -> tuple[float, float, int]:
    times = [seconds for _, seconds, _ in results]
    failed = sum(status != 200 for status, _, _ in results)
    p50, p99 = percentile(times, 50), percentile(times, 99)
    print(f"  {name:<34}{ms(p50):>8} /{ms(p99):>8} ms   {failed} failed of {len(results)}")
    return p50, p99, failed


def bench_slow(stack: LoopbackStack, conn: Connection, slow: int) -> None:
    health = f"{stack.http.url}/healthz"
    url = f"{stack.http.url}/slack/events"

    def commands(n: int) -> list[Prepared]:
        prepared = [prepare(stack.standin, url, "help", user="U00") for _ in range(n)]
        return [request for _, request in prepared]

    print(f"slow clients: {slow} connections sending one byte a second (trickler process)")
    print(f"  {'':<34}{'p50':>8} /{'p99':>8}")
    for warm_up in (("get", [health] * 5, 1), ("post", commands(5), 1)):
        conn.send(warm_up)
        conn.recv()
    conn.send(("get", [health] * 50, 1))
    base_health = summary("/healthz alone (baseline)", conn.recv())
    conn.send(("post", commands(20), 1))
    base_ack = summary("/usage help ack alone (baseline)", conn.recv())
    host, port = stack.http.url.removeprefix("http://").rsplit(":", 1)
    with process(run_trickler, host, int(port), slow) as (trickler, _):
        started = time.monotonic()
        conn.send(("get", [health] * 50, 1))
        with_health = summary(f"/healthz with {slow} trickling", conn.recv())
        conn.send(("post", commands(20), 1))
        with_ack = summary(f"/usage help ack with {slow} trickling", conn.recv())
        # Past the request deadline (10 s) and the next check (1 s), every one is closed.
        threading.Event().wait(max(0.0, 13.0 - (time.monotonic() - started)))
        trickler.send("stop")
        closed = trickler.recv()
    print(
        f"  p99 ratio to the baseline: /healthz {with_health[1] / base_health[1]:.2f}x, "
        f"acks {with_ack[1] / base_ack[1]:.2f}x; failures {with_health[2] + with_ack[2]} "
        "(target: 0, and p99 within 3 s)"
    )
    print(f"  slow connections closed by the 10 s request deadline: {closed} of {slow}")


def bench_burst(stack: LoopbackStack, conn: Connection, count: int, senders: int) -> None:
    url = f"{stack.http.url}/slack/events"
    users = [f"U{i % senders:02d}" for i in range(count)]
    prepared = [prepare(stack.standin, url, "teams", user=user) for user in users]
    started = time.monotonic()
    conn.send(("post", [request for _, request in prepared], senders))
    results = conn.recv()
    acked_at = time.monotonic() - started
    for (response_url, _), (status, _, content) in zip(prepared, results, strict=True):
        show_ack(stack.standin, response_url, status, content)
    people = sorted(set(users))
    stack.standin.wait_for(lambda s: answered(s, people) >= count, timeout=120, recheck=0.1)
    answered_at = time.monotonic() - started
    times = [seconds for _, seconds, _ in results]
    ok = sum(status == 200 for status, _, _ in results)
    print(f"burst: {count} /usage commands from {senders} senders at once (prober process)")
    print(f"  acknowledged        {ok} of {count} (target: all)")
    print(
        f"  ack p50 / p99 / max {ms(percentile(times, 50))} / {ms(percentile(times, 99))} / "
        f"{ms(max(times))} ms (target: max within 3,000 ms)"
    )
    print(f"  all acked after     {acked_at:.2f} s")
    print(f"  all answered after  {answered_at:.2f} s ({stack.sandbox.stats.jobs_created} job)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=32, help="slow clients")
    parser.add_argument("--burst", type=int, default=100, help="commands in the burst")
    parser.add_argument("--senders", type=int, default=50, help="people sending them")
    parser.add_argument("--users", type=int, default=2000, help="members of the sandbox's org")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clock = SystemClock()
    senders = min(args.senders, SENDERS_MAX)
    people = {
        f"U{i:02d}": slack_user(f"U{i:02d}", name=f"u{i}", email=f"u{i}@bench.test", real_name="")
        for i in range(senders)
    }
    print(
        f"Python {sys.version.split()[0]}, {clock.today()}, all on 127.0.0.1;"
        f" the sandbox's org has {args.users:,} members"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackStack(
            clock=clock,
            database=Path(tmp) / "bot.sqlite",
            sandbox=sandbox_config(
                users=args.users, rate_limit=False, queued_seconds=0.2, processing_seconds=0.3
            ),
            users=people,
            member_channels={CHANNEL},
            settings={**NO_LIMIT, "report_poll_initial_seconds": 0.2},
        ) as stack,
        process(run_prober) as (conn, _),
    ):
        bench_slow(stack, conn, args.slow)
        bench_burst(stack, conn, args.burst, senders)


if __name__ == "__main__":
    main()
