"""HTTP plumbing shared by the loopback servers: the BrowserStack sandbox and the Slack stand-in.

Stdlib ``ThreadingHTTPServer`` tuned for tests and demos: keep-alive, one write per response
(two small writes meet Nagle and delayed ACKs, which cost 40 ms a request on Linux loopback), a
backlog that takes a burst of connections, and request logging at DEBUG instead of stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast

log = logging.getLogger(__name__)


class Reply(Protocol):
    """A whole HTTP answer (read-only, so that frozen dataclasses qualify)."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> bytes: ...

    @property
    def content_type(self) -> str: ...

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...


class App(Protocol):
    """What a loopback server serves: one call per request."""

    def handle(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply: ...

    def unreadable(self) -> Reply:
        """The answer to a request whose body could not be read."""
        ...


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not hold up stop(): their threads are daemons anyway.
    block_on_close = False
    # The stdlib's backlog of 5 drops a burst of connections, which then wait 1 s for a SYN retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, *, name: str) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        """Serve on a daemon thread until ``stop()``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever,
                kwargs={"poll_interval": 0.02},  # stop() waits up to this long
                name=f"{self.name} {self.url}",
                daemon=True,
            )
            self._thread.start()
            log.debug("%s serving on %s", self.name, self.url)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a timeout during a slow answer) are routine, not worth a traceback.
        # socketserver calls this from inside its except block, so the exception is at hand.
        log.debug(
            "%s: connection from %s failed", self.name, client_address, exc_info=sys.exc_info()
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx and slack_sdk expect of a real API
    wbufsize = 1 << 16  # headers and body leave in one write
    disable_nagle_algorithm = True
    sys_version = ""
    server: LoopbackServer

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.name.replace(" ", "-")

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            reply = self.server.app.unreadable()
            self.close_connection = True
        else:
            # email.message.Message: a case-insensitive mapping in all but name.
            headers = cast(Mapping[str, str], self.headers)
            reply = self.server.app.handle(self.command, self.path, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s %s", self.server.name, self.address_string(), format % args)
