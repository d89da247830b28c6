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

import datetime as dt
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.browserstack.models import ReportFilters, ReportKind
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.clock import Clock, SystemClock
from bot.fetch import fetch_report
from bot.settings import Settings
from bot.slack.standin import AppDriver, Button, Event, SlackStandIn, render_with_buttons
from bot.stack import SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, LoopbackStack, slack_user

CHANNEL = "C0DEMO"
YOU = "U0YOU"
# You are Steve from the API documentation's example, so that "/usage me" finds you.
PEOPLE = {YOU: slack_user(YOU, name="you", email="steve@example.com", real_name="You")}
# Poll faster than production would: the sandbox's jobs take seconds, not minutes.
DEMO_SETTINGS = {"report_poll_initial_seconds": 1.0, "report_poll_max_seconds": 2.0}
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


# How long the sandbox's report jobs spend queued and processing: seconds, to show the wait.
JOB_SECONDS = (2.0, 3.0)


def sandbox_config(clock: Clock, job_seconds: tuple[float, float] = JOB_SECONDS) -> SandboxConfig:
    return SandboxConfig(
        username=SANDBOX_USERNAME,
        access_key=SANDBOX_ACCESS_KEY,
        users=2000,
        queued_seconds=job_seconds[0],
        processing_seconds=job_seconds[1],
        clock=clock,
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


def wait_until_idle(stack: LoopbackStack, console: Console, *, timeout: float = 90.0) -> None:
    """Until the bot has answered everything it was asked (bounded; the demo's only wait)."""
    assert stack.bot is not None
    store = stack.bot.store
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        busy = store.open_requests() or store.pending_datasets() or console.placeholder_shown
        if not busy:
            pause.wait(0.3)  # let the last thread replies land before the next command
            return
        pause.wait(0.1)


def run_demo(*, fetch: bool = False, script: bool = False, clock: Clock | None = None) -> int:
    """The console (interactive on a terminal, else scripted), or the fetch pipeline."""
    clock = clock or SystemClock()
    if fetch:
        return run_fetch_demo(clock)
    return run_console(clock, interactive=sys.stdin.isatty() and not script, script=SCRIPT)


def run_console(
    clock: Clock,
    *,
    interactive: bool,
    script: Iterable[str],
    out: TextIO = sys.stdout,
    job_seconds: tuple[float, float] = JOB_SECONDS,
) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="usagebot-demo-") as tmp,
        LoopbackStack(
            clock=clock,
            database=Path(tmp) / "usagebot.sqlite",
            sandbox=sandbox_config(clock, job_seconds),
            users=PEOPLE,
            member_channels={CHANNEL},
            settings=DEMO_SETTINGS,
        ) as stack,
    ):
        console = Console(stack.standin, stack.driver, out, prompt=PROMPT if interactive else "")
        stack.standin.on_change = console.show
        out.write(
            f"usagebot demo: BrowserStack sandbox on {stack.sandbox.url} (2,000 people, rate "
            f"limited like the real API),\nSlack stand-in on {stack.standin.url}, the bot on "
            f"{stack.http.url}.\n\n"
        )
        try:
            if interactive:
                out.write(HELP + "\n")
                _repl(console)
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
                        wait_until_idle(stack, console)
                stats = stack.sandbox.stats
                out.write(
                    f"BrowserStack sandbox: {stats.requests} requests, {stats.jobs_created} "
                    f"report jobs, {stats.rate_limited} rate-limited (429) answers.\n"
                )
        finally:
            stack.standin.on_change = None
    return 0


def _repl(console: Console) -> None:
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


def run_fetch_demo(clock: Clock) -> int:
    """The sandbox and ``python -m bot fetch`` end to end."""
    with SandboxServer(sandbox_config(clock), host="127.0.0.1", port=0) as server:
        settings = Settings.from_values(
            {
                "browserstack_username": SANDBOX_USERNAME,
                "browserstack_access_key": SANDBOX_ACCESS_KEY,
                "browserstack_api_url": server.url,
                **DEMO_SETTINGS,
            }
        )
        say(f"BrowserStack sandbox on {server.url}: a synthetic organisation of 2,000 people.\n")
        since = clock.today() - dt.timedelta(days=30)
        for kind, filters in (
            (ReportKind.TEAM, ReportFilters()),
            (ReportKind.USER, ReportFilters(start=since)),
        ):
            say(f"$ python -m bot fetch {kind}" + (f" --since {since}" if filters.start else ""))
            status = fetch_report(settings, kind, filters, fmt="table", output=None, clock=clock)
            if status:
                return status
            say("")
    return 0


def say(text: str) -> None:
    sys.stdout.flush()  # keep the narrative in order with the reports printed on stdout
    print(text, file=sys.stderr, flush=True)
