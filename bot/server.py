"""``python -m bot serve``: Socket Mode, or HTTP behind waitress (``bot.webserver``).

HTTP mode serves ``POST /slack/events`` (commands, interactivity and events) and ``GET /healthz``;
in Socket Mode the HTTP port serves only ``/healthz``.

Every request to ``/slack/events`` is verified here, before Bolt parses a byte of it: a missing,
malformed or stale timestamp, a wrong signature or a tampered body gets 401, and nothing of such
a request is used (no response_url is called, no listener runs, no error is logged).
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier

from bot.clock import Clock
from bot.webserver import MAX_BODY, WSGIApp
from bot.webserver import HttpServer as _WebServer

if TYPE_CHECKING:
    from bot.runtime import Usagebot

log = logging.getLogger(__name__)


class _VerifierClock(SignatureClock):
    """slack_sdk's verifier asks its clock for seconds; ours gives them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.timestamp()


class RequestVerifier:
    """Slack's v0 signature check, read against the bot's clock, that never raises."""

    def __init__(self, signing_secret: str, *, clock: Clock) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_VerifierClock(clock))

    def verified(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
            return False
        try:
            return self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, TypeError, UnicodeError):
            return False


def wsgi_app(
    app: App,
    *,
    health: Callable[[], dict[str, object]],
    verifier: RequestVerifier | None,
) -> WSGIApp:
    """Route ``/healthz`` here, and verified requests on ``/slack/events`` to Bolt.

    Without a ``verifier`` (Socket Mode) only ``/healthz`` is served: accepting events over
    HTTP there would be a back door, since nothing could check them.
    """
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method == "GET":
            report = health()
            status = "200 OK" if report["ok"] else "503 Service Unavailable"
            return _reply(start_response, status, json.dumps(report).encode(), "application/json")
        if verifier is None or path != "/slack/events":
            return _reply(start_response, "404 Not Found", b"not found")
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", b"POST only")
        body = _read_body(environ)
        if body is None:
            return _reply(start_response, "413 Payload Too Large", b"too large")
        if not verifier.verified(
            body,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
        ):
            return _reply(start_response, "401 Unauthorized", b"invalid request")
        # Bolt reads the body again from wsgi.input.
        environ["wsgi.input"] = _Body(body)
        return slack(environ, start_response)

    return application


class _Body:
    """The request body, already read, for Bolt's adapter to read once more."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        data, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return data


def _read_body(environ: dict[str, Any]) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _reply(
    start_response: Callable[..., Any], status: str, body: bytes, content_type: str = "text/plain"
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class HttpServer:
    """The bot's HTTP endpoint on ``host:port`` (0 picks a free port), in a thread or in front."""

    def __init__(
        self,
        bot: Usagebot,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - a server, behind the platform's front end
        port: int = 3000,
        slack_endpoint: bool = True,
    ) -> None:
        app = wsgi_app(
            bot.app,
            health=bot.health,
            verifier=bot.request_verifier() if slack_endpoint else None,
        )
        self._server = _WebServer(app, host=host, port=port)  # binds now: ``url`` knows the port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> HttpServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


# glibc's mallopt parameter for the number of malloc arenas (malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas, as ``MALLOC_ARENA_MAX`` does, unless the environment sets it.

    glibc gives threads that allocate at once arenas of their own (up to 8 a core), and an arena
    keeps the memory it once held: at 50,000 members ``bench/serve_memory.py`` measured ``serve``
    at 493 MB with glibc's defaults and 366 MB with two arenas. The container image and
    ``app.yaml`` set the variable too; this covers every other way of starting ``serve``. False
    where it does not apply (not glibc, or the environment chose).
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl (Alpine) and others: no such library or call
        return False


def freeze_startup_objects() -> int:
    """Leave what start-up made out of every later garbage collection; how many objects that is.

    Modules, classes, functions, the app and its listeners live as long as the process: some
    110,000 objects the collector tracks, which each full collection walked again (68 ms on the
    development machine, stalling every thread: an answer that met one waited for it). Garbage
    is collected first, so that only what is alive is frozen (``gc.freeze``).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def serve(bot: Usagebot) -> int:
    """Run until SIGTERM or Ctrl-C; return the exit status."""
    limit_malloc_arenas()  # before the threads start allocating
    bot.start()
    log.debug("%d start-up objects frozen", freeze_startup_objects())
    stopping = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    try:
        if bot.settings.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert bot.settings.slack_app_token is not None
            handler = SocketModeHandler(bot.app, bot.settings.slack_app_token.get_secret_value())
            handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
            log.info("connected to Slack in Socket Mode")
            # App Engine and load balancers still want a health check on $PORT.
            http = HttpServer(bot, port=bot.settings.port, slack_endpoint=False).start()
            stopping.wait()
            handler.close()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
            http.stop()
        else:
            http = HttpServer(bot, port=bot.settings.port).start()
            log.info("listening on %s/slack/events", http.url)
            stopping.wait()
            http.stop()
    except KeyboardInterrupt:
        pass
    finally:
        bot.stop()
    return 0
