"""``python -m bot serve``: Socket Mode, or HTTP behind cheroot (not Bolt's development server).

cheroot (CherryPy's production WSGI server) runs in one process with a thread pool and starts and
stops cleanly from code: exactly what an app with an in-process scheduler needs (a pre-forking
server would start one scheduler per worker on the same job store). HTTP mode serves
``POST /slack/events`` (commands, interactivity and events, each signature-checked by Bolt) and
``GET /healthz``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cheroot.wsgi import Server
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.runtime import Usagebot

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(bot: Usagebot, *, slack_endpoint: bool = True) -> WSGIApp:
    """Route ``/healthz`` here and everything else to Bolt (when ``slack_endpoint``)."""
    slack = SlackRequestHandler(bot.app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            health = bot.health()
            status = "200 OK" if health["ok"] else "503 Service Unavailable"
            body = json.dumps(health).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        if not slack_endpoint:
            # Socket Mode verifies nothing over HTTP: accepting events here would be a back door.
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        return slack(environ, start_response)

    return application


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
        app = wsgi_app(bot, slack_endpoint=slack_endpoint)
        self._server = Server((host, port), app, numthreads=16, server_name="usagebot")
        self._server.prepare()  # binds now, so that ``url`` knows the port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.bind_addr[:2]
        return f"http://{host}:{port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread:
            self._thread.join(timeout=5)


def serve(bot: Usagebot) -> int:
    """Run until SIGTERM or Ctrl-C; return the exit status."""
    bot.start()
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
            handler.connect()
            log.info("connected to Slack in Socket Mode")
            # App Engine and load balancers still want a health check on $PORT.
            http = HttpServer(bot, port=bot.settings.port, slack_endpoint=False).start()
            stopping.wait()
            handler.close()
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
