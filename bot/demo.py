"""``make demo``: the whole bot on embedded defaults, with a console standing in for Slack.

It starts the BrowserStack sandbox (a synthetic organisation, rate limited like the real API),
the Slack stand-in, and the real bot in HTTP mode between them, with a temporary SQLite database.
Lines typed at the prompt go to the bot as signed slash commands, exactly as Slack would send
them, and every message the bot sends is drawn in the terminal from the same Block Kit it would
send to Slack: the placeholder and its updates, the answer, buttons, and thread replies.

Without a terminal (CI, a pipe) it plays a short scripted session and exits 0. ``--fetch`` runs
the command-line pipeline (``python -m bot fetch``) against the sandbox instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.browserstack.models import ReportKind
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.settings import Settings
from bot.slack.standin import AppDriver, Button, Event, SlackStandIn, render_with_buttons

DEMO_USERNAME = "demo-owner"
DEMO_ACCESS_KEY = "demo-access-key"  # the sandbox's own credential, not a secret
# The stand-in's own credentials: nothing here reaches a real Slack.
SIGNING_SECRET = "demo-signing-secret"  # noqa: S105
BOT_TOKEN = "xoxb-demo"  # noqa: S105
CHANNEL = "C0DEMO"
YOU = "U0YOU"
# You are Steve from the API documentation's example, so that "/usage me" finds you.
PEOPLE = {
    YOU: {
        "id": YOU,
        "name": "you",
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "deleted": False,
        "profile": {"email": "steve@example.com", "real_name": "You"},
    }
}
SCRIPT = (
    "/usage help",
    "/usage teams",
    "/usage team acme",
    "/usage team Acme team",
    "/usage idle automate last 30d",
    "click Share in channel",
    "/usage top live 5",
    "/usage me thread",
    "@usagebot team Acme team",
    "/usage tem",
)
PROMPT = "you> "
HELP = """Type what you would type in Slack:
  /usage help             every command, with examples
  /usage teams            e.g. also: /usage team Acme team, /usage idle, /usage me
  @usagebot team Acme     a mention: answered in a thread under it
  click N                 click button N of the last message (or: click Share in channel)
  quit                    stop the demo
"""


def demo_settings(api_url: str, **extra: object) -> Settings:
    """Settings for the built-in sandbox, polling faster than production would."""
    values: dict[str, object] = {
        "browserstack_username": DEMO_USERNAME,
        "browserstack_access_key": DEMO_ACCESS_KEY,
        "browserstack_api_url": api_url,
        "report_poll_initial_seconds": 1.0,
        "report_poll_max_seconds": 2.0,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        username=DEMO_USERNAME,
        access_key=DEMO_ACCESS_KEY,
        users=2000,
        queued_seconds=2.0,
        processing_seconds=3.0,
    )


class Console:
    """Draws what Slack would show, and turns typed lines into what Slack would send."""

    def __init__(
        self, slack: SlackStandIn, driver: AppDriver, out: TextIO, *, prompt: str = ""
    ) -> None:
        self.slack = slack
        self.driver = driver
        self.out = out
        self.prompt = prompt  # redrawn after each message, which arrives while you type
        self.buttons: list[tuple[Button, str]] = []  # (button, ts of its message)
        self._lock = threading.Lock()
        self.shown = threading.Condition(self._lock)  # notified for every message drawn
        self.count = 0
        self.placeholder_shown = False  # the latest message says "Generating ..."

    def show(self, event: Event) -> None:
        msg = event.msg
        if msg.user != self.slack.bot_user_id and not msg.ephemeral:
            return  # your own messages were echoed at the prompt
        if event.kind == "deleted":
            self._print("  (usagebot removed its placeholder)\n")
            return
        where = "only visible to you" if msg.ephemeral else "in #demo"
        if msg.channel.startswith("D"):
            where = "direct message"
        if msg.thread_ts:
            where += ", in thread"
        label = {"updated": "updated", "file": "file"}.get(event.kind, "new")
        self.placeholder_shown = ":hourglass" in str(msg.blocks)
        text, buttons = render_with_buttons(msg, width=88)
        lines = [f"── usagebot · {where} · {label} ".ljust(88, "─"), text.rstrip()]
        if buttons:
            with self._lock:
                self.buttons = [(button, msg.ts) for button in buttons]
        for file in msg.files:
            lines.append(f"   📎 {file.filename} ({len(file.content):,} bytes)")
        self._print("\n" + "\n".join(lines) + "\n\n" + self.prompt)

    def _print(self, text: str) -> None:
        with self._lock:
            self.out.write(text)
            self.out.flush()
            self.count += 1
            self.shown.notify_all()

    def wait_for_messages(self, since: int, *, timeout: float = 15.0) -> None:
        """Until something new was drawn after the ``since``-th message (a click's answer)."""
        with self._lock:
            self.shown.wait_for(lambda: self.count > since, timeout=timeout)

    def send(self, line: str) -> str | None:
        """Act on one typed line; return a message for the person when it made no sense."""
        line = line.strip()
        if not line:
            return None
        if line.startswith("/usage"):
            response = self.driver.command(
                line.removeprefix("/usage").strip(), user=YOU, channel=CHANNEL
            )
            return (
                None
                if response.status_code == 200
                else f"the bot answered HTTP {response.status_code}"
            )
        if line.startswith("@usagebot"):
            self.driver.mention(line.removeprefix("@usagebot").strip(), user=YOU, channel=CHANNEL)
            return None
        if line.startswith("click"):
            return self._click(line.removeprefix("click").strip())
        return "type /usage ..., @usagebot ..., click N, or quit"

    def _click(self, which: str) -> str | None:
        with self._lock:
            buttons = list(self.buttons)
        chosen = None
        if which.isdigit() and 0 < int(which) <= len(buttons):
            chosen = buttons[int(which) - 1]
        else:
            chosen = next((b for b in buttons if b[0].text.lower() == which.lower()), None)
        if chosen is None:
            return "no such button on the last message"
        button, ts = chosen
        self.driver.click(button.action_id, button.value, user=YOU, channel=CHANNEL, message_ts=ts)
        return None


def wait_until_idle(bot: object, console: Console, *, timeout: float = 90.0) -> None:
    """Until the bot has answered everything it was asked (bounded; the demo's only wait)."""
    store = bot.store  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        busy = store.open_requests() or store.pending_datasets() or console.placeholder_shown
        if not busy:
            pause.wait(0.3)  # let the last thread replies land before the next command
            return
        pause.wait(0.1)


def run_demo(*, fetch: bool = False, script: bool = False) -> int:
    """The console (interactive on a terminal, else scripted), or the fetch pipeline."""
    if fetch:
        return run_fetch_demo()
    return run_console(interactive=sys.stdin.isatty() and not script, script=SCRIPT)


def run_console(*, interactive: bool, script: Iterable[str], out: TextIO = sys.stdout) -> int:
    from bot.runtime import Usagebot
    from bot.server import HttpServer

    with (
        tempfile.TemporaryDirectory(prefix="usagebot-demo-") as tmp,
        SandboxServer(sandbox_config(), host="127.0.0.1", port=0) as sandbox,
        SlackStandIn(bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}) as slack,
    ):
        settings = demo_settings(
            sandbox.url,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url,
            database_url=f"sqlite:///{Path(tmp) / 'usagebot.sqlite'}",
        )
        bot = Usagebot(settings)
        bot.start()
        http = HttpServer(bot, host="127.0.0.1", port=0).start()
        driver = AppDriver(f"{http.url}/slack/events", SIGNING_SECRET, slack)
        console = Console(slack, driver, out, prompt=PROMPT if interactive else "")
        slack.on_change = console.show
        out.write(
            f"usagebot demo: BrowserStack sandbox on {sandbox.url} (2,000 people, rate limited "
            f"like the real API),\nSlack stand-in on {slack.url}, the bot on {http.url}.\n\n"
        )
        try:
            if interactive:
                out.write(HELP + "\n")
                _repl(console, bot)
            else:
                for line in script:
                    out.write(f"you> {line}\n\n")
                    before = console.count
                    problem = console.send(line)
                    if problem:
                        out.write(f"  ({problem})\n")
                    else:
                        # Every line makes the bot show something; then wait for it to settle.
                        console.wait_for_messages(before)
                        wait_until_idle(bot, console)
                stats = sandbox.stats
                out.write(
                    f"BrowserStack sandbox: {stats.requests} requests, {stats.jobs_created} "
                    f"report jobs, {stats.rate_limited} rate-limited (429) answers.\n"
                )
        finally:
            slack.on_change = None
            driver.close()
            http.stop()
            bot.stop(wait=False)
    return 0


def _repl(console: Console, bot: object) -> None:
    while True:
        try:
            line = input(PROMPT)
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.strip() in ("quit", "exit"):
            return
        problem = console.send(line)
        if problem:
            print(f"  ({problem})")


def run_fetch_demo() -> int:
    """The sandbox and ``python -m bot fetch`` end to end."""
    from bot.cli import cmd_fetch

    with SandboxServer(sandbox_config(), host="127.0.0.1", port=0) as server:
        settings = demo_settings(server.url)
        say(f"BrowserStack sandbox on {server.url}: a synthetic organisation of 2,000 people.\n")
        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
        for kind, extra in ((ReportKind.TEAM, {}), (ReportKind.USER, {"since": since})):
            say(f"$ python -m bot fetch {kind}" + (f" --since {since}" if extra else ""))
            status = cmd_fetch(_fetch_args(kind, "table", **extra), settings=settings)
            if status:
                return status
            say("")
    return 0


def _fetch_args(kind: ReportKind, fmt: str, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "kind": kind.value,
        "since": None,
        "until": None,
        "product": None,
        "fmt": fmt,
        "output": None,
    }
    values.update(extra)
    return argparse.Namespace(**values)


def say(text: str) -> None:
    sys.stdout.flush()  # keep the narrative in order with the reports printed on stdout
    print(text, file=sys.stderr, flush=True)
