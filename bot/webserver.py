"""The HTTP server in front of the bot: waitress, with a deadline on requests that come slowly.

waitress (Pylons' production WSGI server) reads requests with non-blocking sockets in one loop
and hands only complete requests to its worker threads. A client that sends one byte a second
therefore costs a socket, not a thread: ``/healthz`` and Slack's commands are still served while
dozens of such clients trickle. One process, started and stopped from code: what an app with an
in-process work loop needs (a pre-forking server would start one loop per worker).

On top of waitress's own limits (idle connections closed after ``idle_timeout``, a bounded body,
a connection limit beyond which new connections wait in the listen backlog rather than being
dropped), a request whose headers and body have not all arrived within ``request_timeout`` of
its first byte is closed, however steadily it trickles.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

log = logging.getLogger(__name__)
# waitress warns for every request that waits for a free thread: in a burst of commands, a line
# per command. A burst is expected; the acks' latency is what matters (bench/http_server.py).
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Slack's own bound on a request body is far below this; anything larger is not Slack.
MAX_BODY = 1 << 20
MAX_HEADERS = 64 << 10
# Threads that run requests (waitress starts them all at once). A request to the bot is an ack:
# the question is stored and Slack answered in milliseconds, the work is done elsewhere; 8 serve
# a burst of 20 people at once (bench/http_server.py), and each thread costs memory (its stack,
# and under glibc a malloc arena of its own), so no more than that.
THREADS = 8


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress ships no type information
    """A connection that remembers when the request it is receiving began."""

    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        partial_before = self.request is not None
        result: bool = super().received(data)
        if self.request is None:
            self.request_started = None
        elif not partial_before or self.request_started is None:
            self.request_started = self.server.timer()
        return result


class _Server(TcpWSGIServer):  # type: ignore[misc]  # waitress ships no type information
    channel_class = _Channel
    request_timeout = 10.0
    timer: Callable[[], float] = staticmethod(time.monotonic)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = self.timer() - self.request_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and started < cutoff and not channel.will_close:
                log.info("closing a connection from %s: its request is too slow", channel.addr)
                channel.will_close = True


class HttpServer:
    """``app`` served on ``host:port`` (0 picks a free port) by a thread of its own."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        host: str,
        port: int,
        threads: int = THREADS,
        request_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        connection_limit: int = 1000,
    ) -> None:
        self._map: dict[int, Any] = {}
        self._server = _Server(
            app,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            channel_timeout=idle_timeout,
            cleanup_interval=1,  # how often the deadlines above are checked
            connection_limit=connection_limit,
            backlog=1024,
            max_request_body_size=MAX_BODY,
            max_request_header_size=MAX_HEADERS,
            asyncore_use_poll=True,  # no FD_SETSIZE limit on open connections
            ident="usagebot",
            expose_tracebacks=False,
        )
        self._server.request_timeout = request_timeout
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._loop, name="http", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        # waitress's own loop, one poll at a time, so that stop() ends it at once.
        while not self._stopping.is_set():
            wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)

    def stop(self) -> None:
        """Stop accepting, finish the requests being served (5 s at most), close everything."""
        self._stopping.set()
        self._server.pull_trigger()  # wakes the loop from its poll
        if self._thread:
            self._thread.join(timeout=5)
        self._server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map)
