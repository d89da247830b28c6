"""The HTTP server under slow and many clients: waitress, with a deadline on trickling requests."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from bot.webserver import HttpServer
from tests.conftest import FakeTimer


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def server() -> Iterator[HttpServer]:
    http = HttpServer(hello, host="127.0.0.1", port=0, threads=2).start()
    yield http
    http.stop()


def trickle(url: str, count: int) -> list[socket.socket]:
    """``count`` clients that have sent the first bytes of a request, and then nothing more."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    clients = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Le")
        clients.append(sock)
    return clients


def test_slow_clients_hold_no_worker(server: HttpServer) -> None:
    # Two worker threads, 32 clients in the middle of their headers: a thread per connection
    # would be stuck, waitress reads them without one.
    clients = trickle(server.url, 32)
    try:
        response = httpx.get(server.url, timeout=5)
        assert response.status_code == 200
        assert response.text == "hello"
    finally:
        for sock in clients:
            sock.close()


def test_a_request_that_trickles_past_its_deadline_is_closed(fake_timer: FakeTimer) -> None:
    http = HttpServer(hello, host="127.0.0.1", port=0, request_timeout=10).start()
    server = http._server
    server.timer = fake_timer
    try:
        (sock,) = trickle(http.url, 1)
        # Wait for the server to see those first bytes (it answers this request after them).
        assert httpx.get(http.url, timeout=5).status_code == 200
        (channel,) = [c for c in server.active_channels.values() if c.request is not None]
        server.maintenance(0)
        assert not channel.will_close  # within its deadline
        fake_timer.advance(11)
        server.maintenance(0)
        assert channel.will_close
        sock.settimeout(5)
        assert sock.recv(1) == b""  # closed by the server
        sock.close()
    finally:
        http.stop()
