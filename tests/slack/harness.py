"""The whole bot on loopback: BrowserStack sandbox, Slack stand-in, and the bot's HTTP endpoint."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.browserstack.sandbox import SandboxServer
from bot.runtime import Usagebot
from bot.server import HttpServer
from bot.settings import Settings
from bot.slack.standin import AppDriver, SlackStandIn
from tests.conftest import ACCESS_KEY, USERNAME, make_sandbox_client

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0001"
ANA, BEN, GUEST = "U0ANA", "U0BEN", "U0GUEST"
PEOPLE = {
    ANA: {"name": "ana", "email": "steve@example.com", "real_name": "Ana"},
    BEN: {"name": "ben", "email": "ben@example.com", "real_name": "Ben"},
    GUEST: {"name": "gus", "email": "gus@partner.test", "real_name": "Gus", "guest": True},
}


def slack_users() -> dict[str, dict]:
    return {
        user_id: {
            "id": user_id,
            "name": p["name"],
            "is_restricted": bool(p.get("guest")),
            "is_ultra_restricted": False,
            "is_bot": False,
            "deleted": False,
            "profile": {"email": p["email"], "real_name": p["real_name"]},
        }
        for user_id, p in PEOPLE.items()
    }


def bot_settings(
    sandbox: SandboxServer, standin: SlackStandIn, db: Path, **extra: object
) -> Settings:
    values: dict[str, object] = {
        "browserstack_username": USERNAME,
        "browserstack_access_key": ACCESS_KEY,
        "browserstack_api_url": sandbox.url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": standin.api_url,
        "database_url": f"sqlite:///{db}",
        "report_poll_initial_seconds": 0.05,
        "report_poll_max_seconds": 0.2,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Stack:
    """One running bot and the fakes around it; ``restart`` keeps the database."""

    sandbox: SandboxServer
    standin: SlackStandIn
    db: Path
    settings_extra: dict[str, object] = field(default_factory=dict)
    clock: Callable[[], dt.datetime] | None = None
    bot: Usagebot | None = None
    http: HttpServer | None = None
    driver: AppDriver | None = None

    def start(self) -> Stack:
        settings = bot_settings(self.sandbox, self.standin, self.db, **self.settings_extra)
        options: dict[str, object] = {"browserstack": make_sandbox_client(self.sandbox)}
        if self.clock:
            options["clock"] = self.clock
        self.bot = Usagebot(settings, **options)  # type: ignore[arg-type]
        self.bot.start()
        self.http = HttpServer(self.bot, host="127.0.0.1", port=0).start()
        self.driver = AppDriver(f"{self.http.url}/slack/events", SIGNING_SECRET, self.standin)
        return self

    def stop(self, *, wait: bool = True) -> None:
        if self.http:
            self.http.stop()
        if self.bot:
            self.bot.stop(wait=wait)
        self.bot = self.http = self.driver = None

    def restart(self) -> Stack:
        self.stop(wait=False)
        return self.start()
