"""The one settings object, built once from the environment.

Nothing else in the bot reads ``os.environ``. Each command asks only for what it uses
(``settings.require("browserstack")``), so ``fetch`` runs without any Slack setting. Secrets are
``SecretStr``: they never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.browserstack.models import Product


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it and says how to fix it."""


# Which settings each part of the bot needs: env var names, checked by ``Settings.require``.
REQUIRED = {
    "browserstack": ("BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY"),
    "slack": ("SLACK_BOT_TOKEN",),
    # HTTP mode verifies every request's signature; Socket Mode needs the app-level token instead.
    "slack_http": ("SLACK_SIGNING_SECRET",),
    "digest": ("DIGEST_CHANNEL",),
}


class Settings(BaseSettings):
    """Every setting, named as its environment variable (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    # BrowserStack
    browserstack_username: str | None = None
    browserstack_access_key: SecretStr | None = None
    browserstack_api_url: HttpUrl = HttpUrl("https://api.browserstack.com")
    browserstack_filters_in: Literal["body", "query"] = Field(
        "body", description="Send report filters as a JSON body or as query parameters."
    )
    browserstack_rate_burst: int = Field(5, ge=1)
    browserstack_rate_per_minute: float = Field(15.0, gt=0)
    browserstack_connect_timeout: float = Field(5.0, gt=0)
    browserstack_read_timeout: float = Field(30.0, gt=0)
    browserstack_retry_attempts: int = Field(5, ge=1)
    # How long a report job may take before it is deleted and the asker told.
    report_deadline_seconds: float = Field(900.0, gt=0)
    report_poll_initial_seconds: float = Field(4.0, gt=0)
    report_poll_max_seconds: float = Field(30.0, gt=0)
    # How long a finished report answers new questions before BrowserStack is asked again.
    report_cache_seconds: float = Field(3600.0, ge=0)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: HttpUrl = HttpUrl("https://slack.com/api/")
    port: int = Field(3000, ge=0, le=65535)
    # Who may use the bot: Slack user ids and/or one user group id. Empty: every full member.
    allowed_users: str = ""
    allowed_usergroup: str | None = None

    # Storage: pending requests, cached reports, digest history, who works on what. Unset: a
    # SQLite file in the user's data folder (``bot.storage.default_database_url``).
    database_url: str | None = None
    # The work loop: how often it looks for due work, and how long a silent instance's leases
    # hold before another takes its work over.
    scheduler_tick_seconds: float = Field(1.0, gt=0, le=60)
    instance_stale_seconds: float = Field(15.0, gt=0)
    # /healthz answers 503 when no tick of the work loop has succeeded for this long.
    health_stale_seconds: float = Field(30.0, gt=0)

    # The weekly idle-seat digest
    digest_channel: str | None = None
    digest_cron: str = "0 9 * * mon"
    digest_timezone: str = "UTC"
    # A digest missed by an outage is still posted (marked late) if the bot is back within this.
    digest_grace_hours: float = Field(24.0, ge=0)
    # "Team name=C0123,Other team=C0456": each team's own digest goes to its channel too.
    digest_team_channels: str = ""
    idle_days: int = Field(30, ge=1, le=366)
    # Service accounts and the like, never counted as idle: comma-separated emails.
    idle_exclude: str = ""
    # Monthly price of one seat per product, for the cost of idle seats: "automate=129,live=29".
    seat_prices: str = ""

    @field_validator(
        "browserstack_username",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "allowed_usergroup",
        "digest_channel",
        "database_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token_kind(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        prefix = "xoxb-" if info.field_name == "slack_bot_token" else "xapp-"
        if value is not None and not value.get_secret_value().startswith(prefix):
            raise ValueError(f"should start with {prefix!r} (is it the right token?)")
        return value

    @field_validator("digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"not a crontab expression like '0 9 * * mon' ({error})") from None
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use a name like Europe/Berlin"
            ) from None
        return value

    @field_validator("digest_team_channels")
    @classmethod
    def _team_channels(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            team, _, channel = pair.rpartition("=")
            if not team.strip() or not channel.strip():
                raise ValueError(f"{pair!r} is not 'Team name=CHANNEL_ID'")
        return value

    @field_validator("seat_prices")
    @classmethod
    def _prices(cls, value: str) -> str:
        _parse_prices(value)
        return value

    @property
    def database(self) -> str:
        """DATABASE_URL, or the embedded default."""
        from bot.storage import default_database_url

        return self.database_url or default_database_url()

    @property
    def digest_zone(self) -> ZoneInfo:
        return ZoneInfo(self.digest_timezone)

    @property
    def team_channels(self) -> dict[str, str]:
        """Team name -> channel id, from DIGEST_TEAM_CHANNELS."""
        pairs = (p.strip().rpartition("=") for p in self.digest_team_channels.split(","))
        return {team.strip(): channel.strip() for team, _, channel in pairs if team.strip()}

    @property
    def idle_exclusions(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.idle_exclude.split(",") if e.strip())

    @property
    def seat_price_map(self) -> dict[Product, float]:
        return _parse_prices(self.seat_prices)

    @property
    def slack_api_base(self) -> str:
        return str(self.slack_api_url).rstrip("/") + "/"

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def allowed_user_ids(self) -> frozenset[str]:
        return frozenset(u for u in self.allowed_users.replace(",", " ").split() if u)

    @property
    def api_url(self) -> str:
        return str(self.browserstack_api_url).rstrip("/")

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> Settings:
        """Settings from ``values`` alone, validated as the environment would be; the
        environment itself is not read (the loopback stack, tests, the demo)."""
        return cls.model_validate(dict(values))

    def require(self, *parts: str) -> Settings:
        """Raise SettingsError naming every missing setting that ``parts`` need."""
        missing = [
            name
            for part in parts
            for name in REQUIRED[part]
            if not _is_set(getattr(self, name.lower()))
        ]
        if missing:
            raise SettingsError(
                f"Missing setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)}. "
                "Set them in the environment (see README, 'Settings')."
            )
        return self


def _parse_prices(value: str) -> dict[Product, float]:
    prices: dict[Product, float] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        name, _, price = pair.partition("=")
        try:
            prices[Product.parse(name)] = float(price)
        except ValueError:
            raise ValueError(
                f"{pair!r} is not 'product=monthly price', e.g. automate=129"
            ) from None
    return prices


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return value is not None and value != ""


def load_settings() -> Settings:
    """Build the settings from the environment, or raise SettingsError naming what is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = "_".join(str(part) for part in item["loc"]).upper()
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return load_settings()
