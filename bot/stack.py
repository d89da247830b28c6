"""The whole bot on loopback, built in one place: BrowserStack sandbox, Slack stand-in, the bot.

``make demo``, the tests and ``bench/`` all run the bot this way, on one clock handed to every
part (the sandbox's "today", the stand-in's timestamps and signatures, the bot's decisions), so
they cannot disagree about the date. The bot is the real one: ``Usagebot`` behind its HTTP
endpoint (cheroot, signature checks, Bolt), its work loop and its database; only Slack and
BrowserStack are stand-ins, reached over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.browserstack.client import RetryPolicy
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.clock import Clock
from bot.runtime import Usagebot
from bot.server import HttpServer
from bot.settings import Settings
from bot.slack.standin import AppDriver, SlackStandIn

# The stand-ins' own credentials: nothing here reaches a real Slack or BrowserStack.
SANDBOX_USERNAME = "sandbox-owner"
SANDBOX_ACCESS_KEY = "sandbox-access-key"  # the sandbox's own credential, not a secret
SIGNING_SECRET = "standin-signing-secret"  # noqa: S105
BOT_TOKEN = "xoxb-standin"  # noqa: S105


def slack_user(
    user_id: str, *, name: str, email: str, real_name: str, guest: bool = False
) -> dict[str, Any]:
    """A user as ``users.info`` describes one."""
    return {
        "id": user_id,
        "name": name,
        "is_restricted": guest,
        "is_ultra_restricted": False,
        "is_bot": False,
        "deleted": False,
        "profile": {"email": email, "real_name": real_name},
    }


class LoopbackStack:
    """A running sandbox, stand-in and bot; ``restart`` keeps the database, as a redeploy does."""

    def __init__(
        self,
        *,
        clock: Clock,
        database: Path | str,
        sandbox: SandboxConfig | SandboxServer | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        member_channels: Iterable[str] = (),
        standin: SlackStandIn | None = None,
        settings: Mapping[str, object] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.database = (
            database if isinstance(database, str) else f"sqlite:///{Path(database).resolve()}"
        )
        self._owns: list[SandboxServer | SlackStandIn] = []
        if isinstance(sandbox, SandboxServer):
            self.sandbox = sandbox
        else:
            config = sandbox or SandboxConfig(username=SANDBOX_USERNAME)
            config = replace(
                config, clock=clock, username=SANDBOX_USERNAME, access_key=SANDBOX_ACCESS_KEY
            )
            self.sandbox = SandboxServer(config, host="127.0.0.1", port=0).start()
            self._owns.append(self.sandbox)
        if standin is None:
            standin = SlackStandIn(
                bot_token=BOT_TOKEN, users=users, member_channels=member_channels, clock=clock
            ).start()
            self._owns.append(standin)
        self.standin = standin
        self.settings_extra = dict(settings or {})
        self.retry = retry
        self._bot: Usagebot | None = None
        self._http: HttpServer | None = None
        self._driver: AppDriver | None = None

    @property
    def running(self) -> bool:
        return self._bot is not None

    @property
    def bot(self) -> Usagebot:
        if self._bot is None:
            raise RuntimeError("the stack's bot is not running: start() it")
        return self._bot

    @property
    def http(self) -> HttpServer:
        if self._http is None:
            raise RuntimeError("the stack's bot is not running: start() it")
        return self._http

    @property
    def driver(self) -> AppDriver:
        """Plays Slack towards the running bot: signed commands, clicks, mentions."""
        if self._driver is None:
            raise RuntimeError("the stack's bot is not running: start() it")
        return self._driver

    def settings(self, **extra: object) -> Settings:
        """The bot's settings: the stand-ins' URLs and credentials, then the caller's."""
        values: dict[str, object] = {
            "browserstack_username": SANDBOX_USERNAME,
            "browserstack_access_key": SANDBOX_ACCESS_KEY,
            "browserstack_api_url": self.sandbox.url,
            "slack_bot_token": self.standin.bot_token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": self.standin.api_url,
            "database_url": self.database,
        }
        values.update(self.settings_extra)
        values.update(extra)
        return Settings.from_values(values)

    def start(self) -> LoopbackStack:
        """Start the bot (and its HTTP endpoint) on the current settings."""
        settings = self.settings()
        self._bot = Usagebot(settings, clock=self.clock, retry=self.retry)
        self._bot.start()
        self._http = HttpServer(self._bot, host="127.0.0.1", port=0).start()
        self._driver = AppDriver(f"{self._http.url}/slack/events", SIGNING_SECRET, self.standin)
        return self

    def stop(self, *, wait: bool = True) -> None:
        """Stop the bot; ``wait=False`` drops its work mid-step, as a crash would."""
        if self._driver:
            self._driver.close()
        if self._http:
            self._http.stop()
        if self._bot:
            self._bot.stop(wait=wait)
        self._bot = self._http = self._driver = None

    def restart(self, *, wait: bool = False) -> LoopbackStack:
        self.stop(wait=wait)
        return self.start()

    def close(self) -> None:
        """Stop the bot and every server this stack started."""
        self.stop()
        for server in reversed(self._owns):
            server.stop()
        self._owns.clear()

    def __enter__(self) -> LoopbackStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
