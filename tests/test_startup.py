"""``python -m bot serve`` asks Slack about its tokens before it starts: one line if Slack says no.

The process tests run the real command against the Slack stand-in on loopback; the rest call
``bot.startup.check_slack`` in this process, against the stand-in or a server that answers
what Slack never would.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.loopback import LoopbackServer
from bot.settings import Settings, SettingsError
from bot.slack.standin import SlackStandIn
from bot.startup import (
    SlackRefused,
    SlackUnavailable,
    check_slack,
)
from tests.cli import Ran, assert_one_clean_line, clean_environment, run_bot
from tests.conftest import ACCESS_KEY

BOT_TOKEN = "xoxb-1-startup-the-good-one"
WRONG_TOKEN = "xoxb-1-startup-a-wrong-one"
APP_TOKEN = "xapp-1-startup-app-token"
SOCKET_URL = "wss://wss-standin.slack.com/link/?ticket=do-not-use"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    # Another process's clock is the real one: the stand-in keeps to it too.
    with SlackStandIn(bot_token=BOT_TOKEN, clock=SystemClock()) as standin:
        yield standin


def serve_env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    """HTTP mode on a free port, its own SQLite file, dummy BrowserStack settings (serve does
    not call BrowserStack at start)."""
    return {
        "BROWSERSTACK_USERNAME": "u",
        "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "startup-signing-secret",
        "SLACK_API_URL": api_url,
        "PORT": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite'}",
        **extra,
    }


def assert_only_the_line(result: Ran, *needles: str) -> str:
    """The failure is one clean ``usagebot:`` line, nothing warned or logged an error before it,
    and no token is anywhere in the output."""
    assert_one_clean_line(result.stderr, *needles)
    output = result.stdout + result.stderr
    for token in (BOT_TOKEN, WRONG_TOKEN, APP_TOKEN):
        assert token not in output
    assert not [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert not [line for line in result.stderr.splitlines() if " ERROR " in line]
    return result.stderr.strip().splitlines()[-1]


# --- the real command ----------------------------------------------------------------------------


def test_a_wrong_bot_token_stops_serve_with_status_2(slack: SlackStandIn, tmp_path: Path) -> None:
    env = serve_env(tmp_path, slack.api_url, SLACK_BOT_TOKEN=WRONG_TOKEN)
    result = run_bot("serve", env=env, process=True)
    assert result.returncode == 2, result.stderr
    line = assert_only_the_line(result, "Slack refused SLACK_BOT_TOKEN (invalid_auth)")
    assert "Bot User OAuth Token" in line  # what to do about it
    assert [call.method for call in slack.calls] == ["auth.test"]


def test_an_unreachable_slack_stops_serve_with_status_1(tmp_path: Path) -> None:
    # A port that is bound but not listening: a connection to it is refused, every time.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
        result = run_bot("serve", env=serve_env(tmp_path, url), process=True)
    assert result.returncode == 1, result.stderr
    assert_only_the_line(result, "SLACK_API_URL", url, "Connection refused")


def test_a_refused_app_token_stops_socket_mode_with_status_2(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    # The stand-in knows the bot token only: it refuses the app token as Slack refuses a bad one.
    env = serve_env(tmp_path, slack.api_url, SLACK_APP_TOKEN=APP_TOKEN)
    result = run_bot("serve", env=env, process=True)
    assert result.returncode == 2, result.stderr
    line = assert_only_the_line(result, "Slack refused SLACK_APP_TOKEN (invalid_auth)")
    assert "connections:write" in line
    assert [call.method for call in slack.calls] == ["auth.test", "apps.connections.open"]


def test_a_good_token_starts_without_a_warning(slack: SlackStandIn, tmp_path: Path) -> None:
    process = subprocess.Popen(  # our own interpreter and module
        [sys.executable, "-m", "bot", "serve"],
        env=clean_environment(serve_env(tmp_path, slack.api_url)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = _lines(process)
    printed: list[str] = []
    try:
        while not any("listening on" in line for line in printed):
            line = lines.get(timeout=30)  # the output of a start: no fixed wait
            assert line is not None, "serve ended before it listened:\n" + "".join(printed)
            printed.append(line)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    while (line := lines.get(timeout=30)) is not None:  # what it said on the way out, too
        printed.append(line)
    text = "".join(printed)
    assert "Traceback" not in text
    assert not [line for line in printed if "slack_bolt" in line and "WARNING" in line], text
    assert not [line for line in printed if " WARNING " in line or " ERROR " in line], text
    assert "Slack takes SLACK_BOT_TOKEN: bot usagebot (UBOT) in team Stand-in (T0001)" in text
    assert BOT_TOKEN not in text
    assert [call.method for call in slack.calls] == ["auth.test"]


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stderr, line by line, as it comes; None once it closes."""
    lines: queue.Queue[str | None] = queue.Queue()
    stream = process.stderr
    assert stream is not None

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="serve stderr", daemon=True).start()
    return lines


# --- check_slack, in this process ----------------------------------------------------------------


def settings(api_url: str, **values: str) -> Settings:
    return Settings.from_values({"slack_bot_token": BOT_TOKEN, "slack_api_url": api_url, **values})


def test_the_bot_is_who_auth_test_says(slack: SlackStandIn) -> None:
    identity = check_slack(settings(slack.api_url))
    assert (identity.user, identity.user_id, identity.team_id) == ("usagebot", "UBOT", "T0001")
    (call,) = slack.calls
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


@pytest.mark.parametrize(
    "code", ["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"]
)
def test_each_refusal_is_a_settings_error(slack: SlackStandIn, code: str) -> None:
    slack.fail_next("auth.test", error=code)
    with pytest.raises(SlackRefused) as raised:
        check_slack(settings(slack.api_url))
    assert isinstance(raised.value, SettingsError)  # exit status 2, from cli.main
    assert str(raised.value).startswith(f"Slack refused SLACK_BOT_TOKEN ({code}): ")
    assert BOT_TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "shown"), [(503, "HTTP 503: service_unavailable"), (429, "HTTP 429: ratelimited")]
)
def test_slack_in_trouble_is_unavailable_not_refused(
    slack: SlackStandIn, status: int, shown: str
) -> None:
    slack.fail_next("auth.test", status=status, retry_after=30)
    with pytest.raises(SlackUnavailable) as raised:
        check_slack(settings(slack.api_url))
    message = str(raised.value)
    assert shown in message
    assert f"SLACK_API_URL ({slack.api_url})" in message
    assert len(slack.calls) == 1  # no retry: a start says why at once, and the process restarts


def test_a_slow_slack_is_a_timeout(slack: SlackStandIn) -> None:
    slack.slow_down("auth.test", 3)
    with pytest.raises(SlackUnavailable) as raised:
        check_slack(settings(slack.api_url), timeout=1)
    assert "Cannot reach Slack at SLACK_API_URL" in str(raised.value)
    assert "no answer within 1 s" in str(raised.value)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, for the loopback server."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Always:
    """A server that gives every request the same answer: what Slack would never send."""

    answer: Answer

    def handle(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return self.answer

    def unreadable(self) -> Answer:
        return self.answer


@pytest.fixture
def not_slack() -> Iterator[Callable[[Answer], str]]:
    """Start a server that gives ``answer`` to everything; the Web API base URL on it."""
    servers: list[LoopbackServer] = []

    def start(answer: Answer) -> str:
        server = LoopbackServer(("127.0.0.1", 0), Always(answer), name="not Slack")
        server.start()
        servers.append(server)
        return f"{server.url}/api/"

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, b"<html><body>\n<h1>Welcome to the proxy</h1>\n" + b"x" * 500, "text/html"),
        Answer(502, b"Bad Gateway\n", "text/plain"),
        Answer(200, b"[1, 2, 3]"),
        Answer(200, b'{"ok": false}'),
    ],
    ids=["an HTML page", "a proxy's 502", "a JSON list", "ok false without an error"],
)
def test_garbage_is_one_line_naming_slack_api_url(
    not_slack: Callable[[Answer], str], answer: Answer
) -> None:
    url = not_slack(answer)
    with pytest.raises(SlackUnavailable) as raised:
        check_slack(settings(url))
    message = str(raised.value)
    assert "\n" not in message
    assert len(message) < 400
    assert f"SLACK_API_URL ({url})" in message


def test_credentials_in_slack_api_url_are_not_shown() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://proxyuser:proxy-password@127.0.0.1:{closed.getsockname()[1]}/api/"
        with pytest.raises(SlackUnavailable) as raised:
            check_slack(settings(url))
    assert "proxy-password" not in str(raised.value)
    assert "http://***@127.0.0.1:" in str(raised.value)


@dataclass(frozen=True)
class SocketModeSlack:
    """The stand-in, plus ``apps.connections.open`` for an app token (the stand-in knows only
    its bot token): Slack's answer, a WebSocket URL good for one connection."""

    slack: SlackStandIn

    def handle(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if target.split("?")[0] != "/api/apps.connections.open":
            reply = self.slack.handle(verb, target, headers, body)
            return Answer(reply.status, reply.body, reply.content_type, tuple(reply.headers))
        if headers.get("Authorization") == f"Bearer {APP_TOKEN}":
            return Answer(200, json.dumps({"ok": True, "url": SOCKET_URL}).encode())
        return Answer(200, b'{"ok": false, "error": "invalid_auth"}')

    def unreadable(self) -> Answer:
        return Answer(400, b"invalid_request", "text/plain")


@pytest.fixture
def socket_mode_slack(slack: SlackStandIn) -> Iterator[str]:
    """The Web API base of a Slack that takes both BOT_TOKEN and APP_TOKEN."""
    server = LoopbackServer(("127.0.0.1", 0), SocketModeSlack(slack), name="Slack, Socket Mode")
    server.start()
    try:
        yield f"{server.url}/api/"
    finally:
        server.stop()


def test_socket_mode_checks_the_app_token_and_uses_nothing_it_returns(
    socket_mode_slack: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    identity = check_slack(settings(socket_mode_slack, slack_app_token=APP_TOKEN))
    assert identity.user_id == "UBOT"
    assert "Slack takes SLACK_APP_TOKEN" in caplog.text
    assert "wss://" not in caplog.text  # the WebSocket URL is a credential for one connection
    assert APP_TOKEN not in caplog.text
    assert BOT_TOKEN not in caplog.text


def test_socket_mode_refusal_names_the_app_token(socket_mode_slack: str) -> None:
    with pytest.raises(SlackRefused) as raised:
        check_slack(settings(socket_mode_slack, slack_app_token="xapp-1-another"))
    assert str(raised.value).startswith("Slack refused SLACK_APP_TOKEN (invalid_auth): ")
    assert "xapp-1-another" not in str(raised.value)
