"""What someone asked: the typed record kept with each pending request, so it survives a restart.

A question is stored the moment it is acknowledged and read back by whichever process answers it,
so it carries everything the answer needs: the verb, the report and period that answer it, the
product and count, where the answer goes (``public``, ``thread``) and how to say it back
(``period_label``, ``describe``). It is encoded as JSON with msgspec: a field added later gets a
default, and an old row still decodes.
"""

from __future__ import annotations

import datetime as dt
import enum

import msgspec

from bot.browserstack.models import Product, ReportFilters, ReportKind

DEFAULT_TOP = 10

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Verb(enum.StrEnum):
    HELP = "help"
    TEAM = "team"
    TEAMS = "teams"
    USER = "user"
    ME = "me"
    IDLE = "idle"
    TOP = "top"
    DIGEST = "digest"


# Which report answers each verb; the digest preview reads the user report.
REPORT_OF = {
    Verb.USER: ReportKind.USER,
    Verb.ME: ReportKind.USER,
    Verb.IDLE: ReportKind.USER,
    Verb.TOP: ReportKind.USER,
    Verb.DIGEST: ReportKind.USER,
    Verb.TEAM: ReportKind.TEAM,
    Verb.TEAMS: ReportKind.TEAM,
}
# Every report a verb's answer reads, its own first: the team answers take seats and members
# from the user report of the same period (each a shared dataset, made at the same time).
REPORTS_OF = {
    Verb.TEAM: (ReportKind.TEAM, ReportKind.USER),
    Verb.TEAMS: (ReportKind.TEAM, ReportKind.USER),
    Verb.DIGEST: (ReportKind.USER, ReportKind.TEAM),  # the digest's parallels section
}


def day_text(day: dt.date) -> str:
    """``1 Dec 2026``: not strftime, whose month names follow the process locale."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def range_text(start: dt.date, end: dt.date) -> str:
    """``18 Nov – 1 Dec 2026``: both days counted; the year once unless the range spans two."""
    if start == end:
        return day_text(start)
    if start.year == end.year:
        return f"{start.day} {_MONTHS[start.month - 1]} – {day_text(end)}"
    return f"{day_text(start)} – {day_text(end)}"


def day_count(start: dt.date, end: dt.date) -> int:
    """How many days ``start..end`` covers, both counted, as BrowserStack counts them."""
    return (end - start).days + 1


def last_days_label(start: dt.date, end: dt.date) -> str:
    """``the last 14 days (18 Nov – 1 Dec 2026)``: the days up to ``end``, named exactly."""
    days = day_count(start, end)
    span = "the last day" if days == 1 else f"the last {days} days"
    return f"{span} ({range_text(start, end)})"


def range_label(start: dt.date, end: dt.date) -> str:
    """``1 Oct – 25 Nov 2026 (56 days)``: a noun phrase that reads after "in" and alone."""
    days = day_count(start, end)
    return f"{range_text(start, end)} ({'one day' if days == 1 else f'{days} days'})"


class Source(enum.StrEnum):
    COMMAND = "command"  # /usage: answered through its response_url
    MENTION = "mention"  # @usagebot: answered in the mention's thread
    HOME = "home"  # the Home tab's refresh: answered by publishing the tab again (bot.home)
    SUBSCRIPTION = "subscription"  # a subscription's scheduled post, in its channel or DM
    ALERT = "alert"  # the alerts' check: answered by posting alerts that hold (bot.home)


class Question(msgspec.Struct, frozen=True, kw_only=True):
    verb: Verb
    start: dt.date
    end: dt.date
    period_label: str
    describe: str  # canonical command text, e.g. "team Acme last 7d", for "try again" hints
    source: Source = Source.COMMAND
    target: str | None = None  # a team name, or the email of the person asked about
    target_user_id: str | None = None  # the Slack user mentioned in ``user @person``
    product: Product | None = None
    count: int = DEFAULT_TOP
    thread: bool = False
    public: bool = False

    @property
    def kind(self) -> ReportKind:
        return REPORT_OF[self.verb]

    @property
    def kinds(self) -> tuple[ReportKind, ...]:
        """Every report the answer reads: ``kind`` first, then its companions."""
        return REPORTS_OF.get(self.verb, (self.kind,))

    @property
    def filters(self) -> ReportFilters:
        """The report that answers it: every product, since a product is a view of it."""
        return ReportFilters(start=self.start, end=self.end)

    @property
    def personal(self) -> bool:
        """One person's figures (or a list of people's): private unless the asker shares them."""
        return self.verb in (Verb.USER, Verb.ME, Verb.IDLE, Verb.TOP)

    def about(self, email: str) -> Question:
        """The same question, about the person Slack says ``me`` or ``@person`` is."""
        return msgspec.structs.replace(self, target=email)

    def encode(self) -> bytes:
        return _encoder.encode(self)

    @classmethod
    def decode(cls, data: bytes | str) -> Question:
        return _decoder.decode(data)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Question)
