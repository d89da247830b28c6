"""The one settings object, built once from the environment.

Nothing else in the bot reads ``os.environ``. Each command asks only for what it uses
(``settings.require("browserstack")``), so ``fetch`` runs without any Slack setting. Secrets are
``SecretStr``: they never appear in reprs, logs or error messages.

Each secret, and ``DATABASE_URL`` (a URL may hold a password), may instead be read from a file
named by ``NAME_FILE``: secrets mounted as files (Docker and Compose secrets, Kubernetes, Cloud
Run) then need no copy in the environment. Those files are read here too, with the environment.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
    # Names no variable of its own: DATABASE_URL may stay unset (a SQLite file) except where that
    # file cannot live, on App Engine (``Settings.check_database``).
    "database": (),
}

# Settings that may be read from the file named by NAME_FILE instead of NAME itself: the secrets,
# and DATABASE_URL, whose URL may hold a password.
FILE_SETTINGS = (
    "BROWSERSTACK_ACCESS_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "DATABASE_URL",
)

# What DATABASE_URL looks like on App Engine: Cloud SQL for PostgreSQL through the Unix socket
# that App Engine provides under /cloudsql (psycopg takes the socket's folder as ``host``).
CLOUD_SQL_EXAMPLE = "postgresql+psycopg://USER:PASSWORD@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE"


class Settings(BaseSettings):
    """Every setting, named as its environment variable (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Files before the environment, so that a NAME left blank (as Compose or a template may
        # leave it) does not hide NAME_FILE; NAME and NAME_FILE both set is refused anyway.
        return (
            init_settings,
            _FileSettingsSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
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
    # Ended report datasets older than this are deleted with their reports (``Store.
    # prune_datasets``), so the database stops growing; the latest of each kind is kept. So
    # are requests answered longer ago, and old Slack event ids (``Store.prune_requests``).
    dataset_retention_days: int = Field(14, ge=1, le=3650)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: HttpUrl = HttpUrl("https://slack.com/api/")
    port: int = Field(3000, ge=0, le=65535)
    # Who may use the bot: Slack user ids and/or one user group id. Empty: every full member.
    allowed_users: str = ""
    allowed_usergroup: str | None = None
    # Who administers BrowserStack seats through the bot (reclaim campaigns, the admins' part of
    # the Home tab): Slack user ids (U…, W…) and/or one user group id (S…). Empty: nobody, so
    # nothing admin-only ever happens.
    reclaim_admins: str = ""
    # Reclaim campaigns: days members have to answer, days a "keep" answer spares a member from
    # being asked again, and whether Automate and App Automate access is asked about too.
    reclaim_deadline_days: int = Field(7, ge=1, le=60)
    reclaim_snooze_days: int = Field(90, ge=0, le=3650)
    reclaim_automate: bool = False

    # Storage: pending requests, cached reports, digest history, who works on what. Unset: a
    # SQLite file in the user's data folder (``bot.storage.default_database_url``).
    database_url: str | None = None
    # Set by App Engine itself ("standard"): its disk is read-only, so a SQLite file cannot live
    # there and DATABASE_URL must name a real database (``check_database``).
    gae_env: str | None = None
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
    # Monthly price of one per-user licence, for the cost of idle seats: "live=39,app-live=49".
    # Only Live and App Live are sold per user; Automate and App Automate are priced as parallels.
    seat_prices: str = ""
    # Monthly price of one parallel, for the parallels above peak use: "automate=150".
    parallel_prices: str = ""

    # Subscriptions (``/usage subscribe``, bot/home): weekly ones post on Mondays, monthly ones
    # on the 1st, at this hour (DIGEST_TIMEZONE); a run missed by an outage is still posted if
    # the bot is back within the grace period.
    subscription_hour: int = Field(9, ge=0, le=23)
    subscription_grace_hours: float = Field(24.0, ge=0)
    # Alerts (opt-in): a channel id for "parallels ran full" and "idle licensed seats above
    # ALERT_IDLE_SEATS", each at most once per week.
    alert_channel: str | None = None
    alert_idle_seats: int = Field(10, ge=0)

    @field_validator(
        "browserstack_username",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "allowed_usergroup",
        "digest_channel",
        "alert_channel",
        "database_url",
        "gae_env",
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

    @field_validator("reclaim_admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        _parse_admins(value)
        return value

    @field_validator("seat_prices")
    @classmethod
    def _prices(cls, value: str) -> str:
        _parse_prices(value, SEAT_PRICED, "live=39", "PARALLEL_PRICES")
        return value

    @field_validator("parallel_prices")
    @classmethod
    def _parallel_prices(cls, value: str) -> str:
        _parse_prices(value, PARALLEL_PRICED, "automate=150", "SEAT_PRICES")
        return value

    @property
    def database(self) -> str:
        """DATABASE_URL, or the embedded default; SettingsError where neither can work."""
        from bot.storage import default_database_url

        # Checked here, where every user of the database gets its URL: ``serve`` opens it before
        # it starts anything else, and a command that never opens it is never stopped by it.
        self.check_database()
        return self.database_url or default_database_url()

    def check_database(self) -> None:
        """Raise SettingsError if DATABASE_URL cannot work where the bot runs (App Engine)."""
        if self.gae_env is None:
            return
        url = self.database_url
        if url is not None and _scheme(url) != "sqlite":
            return
        problem = "is not set" if url is None else "is a SQLite database"
        raise SettingsError(
            f"DATABASE_URL {problem}, but this is App Engine (GAE_ENV={self.gae_env}): its disk "
            "is read-only and an instance's files do not outlive it, so requests and reports "
            "would be lost. Use Cloud SQL for PostgreSQL through its Unix socket, e.g. "
            f"DATABASE_URL={CLOUD_SQL_EXAMPLE} (see README, 'Deployment')."
        )

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
        """SEAT_PRICES: monthly price of a Live or App Live seat."""
        return _parse_prices(self.seat_prices, SEAT_PRICED, "live=39", "PARALLEL_PRICES")

    @property
    def parallel_price_map(self) -> dict[Product, float]:
        """PARALLEL_PRICES: monthly price of one Automate or App Automate parallel."""
        return _parse_prices(self.parallel_prices, PARALLEL_PRICED, "automate=150", "SEAT_PRICES")

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
    def reclaim_admin_ids(self) -> frozenset[str]:
        """The user ids in RECLAIM_ADMINS."""
        return _parse_admins(self.reclaim_admins)[0]

    @property
    def reclaim_admin_group(self) -> str | None:
        """The user group in RECLAIM_ADMINS, if any."""
        return _parse_admins(self.reclaim_admins)[1]

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
            from_files = [f"{name}_FILE" for name in missing if name in FILE_SETTINGS]
            files = (
                f", or point {' / '.join(from_files)} at a file holding it" if from_files else ""
            )
            raise SettingsError(
                f"Missing setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)}. "
                f"Set them in the environment{files} (see README, 'Settings')."
            )
        if "database" in parts:
            self.check_database()
        return self


# BrowserStack sells Live and App Live per user, Automate and App Automate as parallels (with
# unlimited users): each price list takes only the products sold its way.
SEAT_PRICED = (Product.LIVE, Product.APP_LIVE)
PARALLEL_PRICED = (Product.AUTOMATE, Product.APP_AUTOMATE)


def _parse_admins(value: str) -> tuple[frozenset[str], str | None]:
    """RECLAIM_ADMINS: (user ids, user group id); ValueError naming what is wrong."""
    users: set[str] = set()
    groups: list[str] = []
    for item in value.replace(",", " ").split():
        if re.fullmatch(r"[UW][A-Z0-9]{2,30}", item):
            users.add(item)
        elif re.fullmatch(r"S[A-Z0-9]{2,30}", item):
            groups.append(item)
        else:
            raise ValueError(
                f"{item!r} is not a Slack user id (U…, W…) or user group id (S…): copy ids from "
                "a profile's or a group's 'Copy member ID' / 'Copy group ID'"
            )
    if len(groups) > 1:
        raise ValueError(f"give one user group, not {len(groups)} ({', '.join(groups)})")
    return frozenset(users), groups[0] if groups else None


def _parse_prices(
    value: str, allowed: tuple[Product, ...], example: str, other: str
) -> dict[Product, float]:
    prices: dict[Product, float] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        name, _, price = pair.partition("=")
        try:
            product = Product.parse(name)
            amount = float(price)
        except ValueError:
            raise ValueError(f"{pair!r} is not 'product=monthly price', e.g. {example}") from None
        if product not in allowed:
            names = " and ".join(p.filter_value.lower() for p in allowed)
            raise ValueError(
                f"{product.label} is not priced here: this setting takes {names} only "
                f"({product.label} is priced in {other})"
            )
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"{pair!r}: the price must be a number ≥ 0")
        prices[product] = amount
    return prices


def _scheme(url: str) -> str:
    """The database of a SQLAlchemy URL: 'sqlite' for sqlite:///... and sqlite+pysqlite://..."""
    return url.partition(":")[0].partition("+")[0].strip().lower()


class _FileSettingsSource(PydanticBaseSettingsSource):
    """NAME from the file named by NAME_FILE, for each of FILE_SETTINGS."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: ``__call__`` reads every file at once (an abstract method of the base class).
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        # Upper-cased, as the settings are case-insensitive (pydantic-settings lower-cases too).
        environ = {name.upper(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name in FILE_SETTINGS:
            path = environ.get(f"{name}_FILE", "").strip()
            if not path:
                continue
            if environ.get(name, "").strip():
                raise SettingsError(
                    f"Both {name} and {name}_FILE are set: set only one of them "
                    f"({name}_FILE names a file holding the value)."
                )
            values[name.lower()] = _read_setting_file(f"{name}_FILE", Path(path))
        return values


def _read_setting_file(variable: str, path: Path) -> str:
    """The content of ``path`` without its trailing newline; errors name the file, never its
    content (a secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(
            f"{variable}: cannot read {path} ({error.strerror or type(error).__name__})"
        ) from None
    except UnicodeDecodeError:
        # The decoder's message quotes the offending byte: not repeated here.
        raise SettingsError(f"{variable}: {path} is not UTF-8 text") from None
    # `echo secret > file` and most editors end the file with a newline that is not the value.
    return text.rstrip("\r\n")


def _is_set(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return value is not None and value != ""


def load_settings() -> Settings:
    """Build the settings from the environment (and the files its ``*_FILE`` variables name), or
    raise SettingsError naming what is wrong."""
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
