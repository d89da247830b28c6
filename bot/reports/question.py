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
}


class Source(enum.StrEnum):
    COMMAND = "command"  # /usage: answered through its response_url
    MENTION = "mention"  # @usagebot: answered in the mention's thread


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
