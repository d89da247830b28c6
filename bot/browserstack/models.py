"""Typed shapes of the BrowserStack Usage Reports API.

The published documentation disagrees with its own examples, so every model here accepts all
the shapes seen: ``success`` as a bool or a string, ``max_parallels_used`` as an integer or an
object, absent ``product_data`` entries, ``last_activity`` or ``last_test``, numbers sent as
strings, and unknown extra fields (ignored). The documentation:
https://www.browserstack.com/docs/enterprise/api-reference/usage-reports

msgspec does the decoding: on a 50,000-user report it is faster than a bare ``json.loads``
and its structs take a fraction of the memory of dicts, so whole reports fit in memory. The
rows are structs the garbage collector does not track (``gc=False``), so decode time grows with
the rows alone, not with the collector's passes over them.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

log = logging.getLogger(__name__)


class ReportKind(enum.StrEnum):
    """Which report: one row per user, or one row per team."""

    USER = "user"
    TEAM = "team"


class Product(enum.StrEnum):
    """A BrowserStack product, valued by its key in ``product_access`` and ``product_data``."""

    LIVE = "live_testing"
    AUTOMATE = "automate"
    APP_LIVE = "app_live_testing"
    APP_AUTOMATE = "app_automate"

    @property
    def label(self) -> str:
        """Human name, as BrowserStack's own UI spells it."""
        return _LABELS[self]

    @property
    def filter_value(self) -> str:
        """The value of the API's product filter that selects only this product."""
        return _FILTER_VALUES[self]

    @property
    def has_minutes(self) -> bool:
        """Interactive products report minutes; automated ones report parallels."""
        return self in (Product.LIVE, Product.APP_LIVE)

    @classmethod
    def parse(cls, text: str) -> Product:
        """Accept a filter value (``App-Live``), a key (``app_live_testing``) or a label."""
        key = text.strip().lower().replace("-", " ").replace("_", " ")
        key = " ".join(key.split())
        for product, aliases in _ALIASES.items():
            if key in aliases:
                return product
        choices = ", ".join(p.filter_value for p in cls)
        raise ValueError(f"unknown product {text!r}; choose one of {choices}")


_LABELS = {
    Product.LIVE: "Live",
    Product.AUTOMATE: "Automate",
    Product.APP_LIVE: "App Live",
    Product.APP_AUTOMATE: "App Automate",
}
_FILTER_VALUES = {
    Product.LIVE: "Live",
    Product.AUTOMATE: "Automate",
    Product.APP_LIVE: "App-Live",
    Product.APP_AUTOMATE: "App-Automate",
}
_ALIASES = {
    Product.LIVE: {"live", "live testing"},
    Product.AUTOMATE: {"automate"},
    Product.APP_LIVE: {"app live", "app live testing", "applive"},
    Product.APP_AUTOMATE: {"app automate", "appautomate"},
}
ALL_PRODUCTS_FILTER = "All-Products"


def parse_timestamp(value: str | None) -> dt.datetime | None:
    """Parse an API timestamp; ``None`` for absent or unreadable values (logged once each)."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _warn_once(f"unreadable timestamp {value!r} ignored")
        return None
    # A timestamp without a zone is taken as UTC, as BrowserStack's examples are.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("BrowserStack: %s", message)


def _as_int(value: Any) -> int | None:
    """Reduce ``max_parallels_used`` (documented as Object, sent as int) to one integer."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, dict):
        # No example of the object form exists; its largest number is the safest reading of "max".
        numbers = [
            v for v in value.values() if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if not numbers:
            _warn_once(f"max_parallels_used object without a number: {value!r}")
            return None
        return int(max(numbers))
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    _warn_once(f"unexpected max_parallels_used value {value!r}")
    return None


# ``gc=False``: the rows of a report are never tracked by the garbage collector. A 50,000-user
# report is some 250,000 of these structs; tracked, each collection that the decode's allocations
# trigger walks all of those decoded so far, and the collector took 70% of the decode at 50k and
# 82% at 200k (decode time grew 7x for 4x the rows). They hold only scalars, other such structs
# and lists of them (decoded JSON, never a reference back to a parent): they can never be part of
# a reference cycle, which is what msgspec asks of gc=False types. Subclasses inherit it.
class _Record(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False, gc=False):
    """Base for API objects: absent fields stay absent when written back out."""


class ProductAccess(msgspec.Struct, gc=False):
    """Product access flags; written back out in full, since ``false`` is information.

    Booleans only: untracked by the collector, like ``_Record``."""

    live_testing: bool = False
    automate: bool = False
    app_live_testing: bool = False
    app_automate: bool = False

    def products(self) -> list[Product]:
        """Products this member (or team) has access to, in a stable order."""
        return [p for p in Product if getattr(self, p.value)]


class ProductUsage(_Record):
    """One product's entry in ``product_data``; which fields appear depends on the product."""

    tests_run: int | None = None
    minutes_used: int | None = None
    cypress_executions_run: int | None = None
    current_parallels_allocated: int | None = None
    max_parallels_used: int | dict[str, Any] | str | None = None
    parallel_consumption_type: str | None = None

    def __post_init__(self) -> None:
        if self.max_parallels_used is not None and not isinstance(self.max_parallels_used, int):
            self.max_parallels_used = _as_int(self.max_parallels_used)

    @property
    def active(self) -> bool:
        """Any tests or minutes in the period."""
        return bool(self.tests_run or self.minutes_used or self.cypress_executions_run)


class ProductData(_Record):
    live_testing: ProductUsage | None = None
    automate: ProductUsage | None = None
    app_live_testing: ProductUsage | None = None
    app_automate: ProductUsage | None = None

    def get(self, product: Product) -> ProductUsage | None:
        """The entry for ``product``; ``None`` when the report's product filter left it out."""
        entry: ProductUsage | None = getattr(self, product.value)
        return entry

    def items(self) -> Iterator[tuple[Product, ProductUsage]]:
        """Present entries, in a stable order."""
        for product in Product:
            usage = getattr(self, product.value)
            if usage is not None:
                yield product, usage


class Usage(_Record):
    last_activity: str | None = None
    last_test: str | None = None
    product_data: ProductData = msgspec.field(default_factory=ProductData)

    @property
    def last_activity_at(self) -> dt.datetime | None:
        """The later of ``last_activity`` and ``last_test``.

        The docs say the first includes the second, but team reports send only ``last_test``, and a
        row where they disagree would otherwise look older than it is.
        """
        activity, test = parse_timestamp(self.last_activity), parse_timestamp(self.last_test)
        if activity is None or test is None:
            return activity or test
        return max(activity, test)

    @property
    def last_test_at(self) -> dt.datetime | None:
        return parse_timestamp(self.last_test)


class UserRecord(_Record):
    name: str = ""
    email: str = ""
    role: str | None = None
    team: str | None = None
    product_access: ProductAccess = msgspec.field(default_factory=ProductAccess)
    usage: Usage = msgspec.field(default_factory=Usage)


class TeamRecord(_Record):
    name: str = ""
    user_count: int | None = None
    type: str | None = None
    product_access: ProductAccess = msgspec.field(default_factory=ProductAccess)
    usage: Usage = msgspec.field(default_factory=Usage)


class UserReportData(_Record):
    users: list[UserRecord] = msgspec.field(default_factory=list)


class TeamReportData(_Record):
    teams: list[TeamRecord] = msgspec.field(default_factory=list)


class _Envelope(msgspec.Struct):
    success: bool | str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """``success`` is documented as String but sent as a boolean: accept both."""
        if isinstance(self.success, str):
            return self.success.strip().lower() in ("true", "1", "yes", "success")
        return self.success is not False


class JobCreated(_Envelope):
    data: dict[str, Any] | None = None

    @property
    def job_id(self) -> str | None:
        job_id = (self.data or {}).get("job_id")
        return str(job_id) if job_id not in (None, "") else None


class JobStatusResponse(_Envelope):
    status: str | None = None


class UserReportResponse(_Envelope):
    data: UserReportData | None = None


class TeamReportResponse(_Envelope):
    data: TeamReportData | None = None


class MessageResponse(_Envelope):
    pass


class JobState(enum.StrEnum):
    """Our reading of a job's ``status``: only ``enqueued`` and ``completed`` are documented."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


_KNOWN_STATES = {
    "enqueued": JobState.QUEUED,
    "queued": JobState.QUEUED,
    "pending": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "in_progress": JobState.RUNNING,
    "running": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "complete": JobState.COMPLETED,
    "done": JobState.COMPLETED,
}
_FAILED_WORDS = ("fail", "error", "abort", "cancel", "reject", "expire")


def classify_status(status: str | None) -> JobState:
    """Map a raw status to a state; unknown values are logged once and read as still running."""
    raw = (status or "").strip().lower()
    if raw in _KNOWN_STATES:
        return _KNOWN_STATES[raw]
    if any(word in raw for word in _FAILED_WORDS):
        return JobState.FAILED
    _warn_once(f"unknown job status {status!r}, treated as still running")
    return JobState.RUNNING


class Report(msgspec.Struct, frozen=True, dict=True):
    """A finished report: what was asked, when it arrived, and its rows.

    ``dict=True`` gives each report an instance dictionary, where ``bot.reports.index`` keeps
    what answers derive from it; the dictionary is never encoded.
    """

    kind: ReportKind
    filters: ReportFilters
    fetched_at: dt.datetime
    # A sequence, not a list: a report kept in memory holds its members packed
    # (``bot.reports.packed``); decoded from JSON, it is a list.
    users: Sequence[UserRecord] = msgspec.field(default_factory=list)
    teams: Sequence[TeamRecord] = msgspec.field(default_factory=list)

    @property
    def rows(self) -> Sequence[UserRecord] | Sequence[TeamRecord]:
        return self.users if self.kind is ReportKind.USER else self.teams

    def data(self) -> dict[str, Sequence[Any]]:
        """The report's ``data`` object as the API names it."""
        return {"users": self.users} if self.kind is ReportKind.USER else {"teams": self.teams}


class ReportFilters(msgspec.Struct, frozen=True):
    """Date range and product filter of a report; ``None`` dates mean BrowserStack's default."""

    start: dt.date | None = None
    end: dt.date | None = None
    product: Product | None = None

    def validate(self, *, today: dt.date) -> ReportFilters:
        """Return self when sendable, else raise ValueError with a sentence a user can act on."""
        if self.start and self.start > today:
            raise ValueError(f"the start date {self.start} is in the future")
        if self.end and self.end > today:
            raise ValueError(f"the end date {self.end} is in the future (today is {today})")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"the end date {self.end} is before the start date {self.start}")
        if self.end and not self.start:
            raise ValueError("an end date needs a start date too")
        return self

    def period(self, *, today: dt.date) -> tuple[dt.date, dt.date]:
        """The dates the report covers; without dates BrowserStack reports the last two weeks."""
        start = self.start or today - dt.timedelta(days=14)
        return start, self.end or today

    def params(self) -> dict[str, str]:
        """Parameters as BrowserStack names them (``YYYY-MM-DD`` dates, inferred)."""
        params: dict[str, str] = {}
        if self.start:
            params["startDate"] = self.start.isoformat()
        if self.end:
            params["endDate"] = self.end.isoformat()
        params["product"] = self.product.filter_value if self.product else ALL_PRODUCTS_FILTER
        return params

    @property
    def products(self) -> list[Product]:
        """Products whose ``product_data`` entries the report will carry."""
        return [self.product] if self.product else list(Product)
