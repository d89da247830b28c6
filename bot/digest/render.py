"""The digest as Slack messages: a summary, thread replies, a CSV of every idle member, a chart.

Built the way ``bot.slack.views`` builds answers, with its helpers: list lines come from the
macros of ``templates/_lines.json.j2`` (which escape every outside string), the summary from
``templates/digest.json.j2``, thread replies from ``views.detail_messages`` (the same packing
to Slack's limits as every answer's thread), and every message is validated by ``render``.
Unlike ``/usage idle``, the CSV always comes along when anyone is idle: the digest is what people
act on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Protocol

from bot import spreadsheet
from bot.browserstack.models import Product, TeamRecord, UserRecord
from bot.digest.chart import seat_chart
from bot.digest.rules import Digest, Snapshot, build_digest, seat_key
from bot.reports.analysis import IdleMember, IdleSeatsReport
from bot.reports.humanize import money, relative_time
from bot.reports.index import prices_key
from bot.reports.question import last_days_label
from bot.slack import views
from bot.slack.messages import Answer, CsvFile, Line, Message, fit_lines, line, render
from bot.slack.people import NOBODY, People

__all__ = ["DigestMessages", "ImageFile", "prepare", "render_digest"]

# Thread replies: as many as /usage answers post, for the same reason (one post a second).
SUMMARY_LIST_JSON = views.SUMMARY_LIST_JSON
LINES_IN_SUMMARY = 5
NEW = " · :new: newly idle"


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image to upload in the digest's thread."""

    filename: str
    title: str
    content: bytes


class DigestMessages:
    """The summary to post, its thread replies in order, and the files to upload in the thread.

    The replies are made when first read: ``/usage digest`` shows the summary, and its thread
    waits behind the Details button.
    """

    def __init__(
        self,
        summary: Message,
        details: Callable[[], tuple[Message, ...]],
        csv: CsvFile | None,  # None when nobody is idle
        chart: ImageFile | None,  # None when not asked for, or nobody holds a seat
    ) -> None:
        self.summary = summary
        self._details = details
        self.csv = csv
        self.chart = chart

    @cached_property
    def details(self) -> tuple[Message, ...]:
        return self._details()

    @property
    def answer(self) -> Answer:
        """The summary, replies and CSV as ``bot.slack.delivery`` posts an answer."""
        return Answer(summary=self.summary, thread=lambda: (self.details, self.csv))

    @property
    def messages(self) -> tuple[Message, ...]:
        return (self.summary, *self.details)


def _period(digest: Digest) -> str:
    # The label /usage gives the same days, so the preview's placeholder and answer agree.
    return last_days_label(digest.start, digest.end)


def _new_products(member: IdleMember, new: Collection[tuple[str, str]]) -> tuple[Product, ...]:
    return tuple(p for p in member.idle_products if seat_key(member.email, p) in new)


def _member_line(
    member: IdleMember,
    *,
    now: datetime,
    new: Collection[tuple[str, str]],
    people: People,
    currency: str,
) -> str:
    last = relative_time(member.last_activity, now=now)
    who = views.mention(people, member.email)
    text = line("idle_member", member, last, False, who, currency)
    fresh = _new_products(member, new) if new else ()
    if not fresh:
        return text
    if len(fresh) == len(member.idle_products):
        return text + NEW
    return text + NEW + ": " + ", ".join(p.label for p in fresh)


@dataclass(frozen=True, slots=True)
class ReclaimLines:
    """The digest's part of reclaim campaigns: what they saved, and the button's count."""

    reclaimed: str | None = None  # "Reclaimed this month: …" (plain text)
    ask: int = 0  # members a campaign started now would ask; 0: no button
    products: tuple[str, ...] = ()


# Given how to find the report's members by email and the digest's idle seats, the reclaim
# part (None: none).
ReclaimPart = Callable[[Callable[[str], UserRecord | None], IdleSeatsReport], ReclaimLines | None]


class Derive(Protocol):
    """Keeps a digest built from a report with that report (``ReportIndex.derived``)."""

    def __call__(
        self,
        key: Hashable,
        compute: Callable[[], Digest],
        *,
        rows: Callable[[Digest], int] | None = None,
    ) -> Digest: ...


def _summary_context(
    digest: Digest,
    *,
    now: datetime,
    currency: str,
    has: Sequence[str],
    people: People,
    request_id: str | None = None,
    buttons: Sequence[str] = (),
    notices: Sequence[str] = (),
    reclaim: ReclaimLines | None = None,
) -> dict[str, object]:
    def listed(lines: Iterator[str], total: int) -> tuple[list[str], int]:
        kept = fit_lines(lines, max_lines=LINES_IN_SUMMARY, max_json=SUMMARY_LIST_JSON)
        return kept, total - len(kept)

    # A team's own digest has one team: "teams with the most idle seats" would repeat it.
    idle_teams = digest.idle.teams if digest.team is None else ()
    teams, teams_more = listed(
        (line("idle_team_row", t, currency) for t in idle_teams), len(idle_teams)
    )
    change = digest.change
    newly_idle = change.newly_idle if change else ()

    def member(m: IdleMember) -> str:
        last = relative_time(m.last_activity, now=now)
        return line("idle_member", m, last, True, views.mention(people, m.email), currency)

    newly, newly_more = listed(map(member, newly_idle), len(newly_idle))
    never_members = digest.idle.never_used_members
    never, never_more = listed(
        (
            line("person_row", m.name, m.email, views.mention(people, m.email))
            for m in never_members
        ),
        len(never_members),
    )
    parallels_total = digest.parallels_monthly_cost
    advice = digest.advice
    rows = digest.rightsizing
    rightsizing, rightsizing_more = listed((line("rightsizing_row", r) for r in rows), len(rows))
    total = digest.monthly_cost
    return {
        "digest": digest,
        "team": digest.team,
        "period": _period(digest),
        "late": digest.late,
        "fields": [line("seat_field", seat) for seat in digest.seats],
        "cost_total": money(total, currency) if total else None,
        "costs": [
            f"{c.product.label}: {c.idle_seats:,} × {money(c.price, currency)}"
            for c in digest.costs
            if c.monthly
        ],
        "parallels_total": money(parallels_total, currency) if parallels_total else None,
        "parallel_costs": [
            f"{c.product.label}: {c.above_peak:,} × {money(c.price, currency)}"
            for c in digest.parallel_costs
            if c.monthly
        ],
        "advice_days": advice.days if advice is not None else None,
        "advice_note": views.advice_note(advice, hint="set `IDLE_DAYS` to 28 or more"),
        "never": never,
        "never_more": never_more,
        "unused_access": digest.idle.unused_access,
        "access_members": len(digest.idle.access_members),
        "idle_members": len(digest.idle.seat_members),
        "link": views.USERS_PAGE,
        "unpriced": [p.label for p in digest.unpriced],
        "change": change,
        "newly": newly,
        "newly_more": newly_more,
        "teams": teams,
        "teams_more": teams_more,
        "rightsizing": rightsizing,
        "rightsizing_more": rightsizing_more,
        "rightsizing_count": len(rows),
        "freeable": digest.freeable_parallels,
        "thread": has,
        "request_id": request_id,
        "buttons": buttons,
        "notices": list(notices),
        "reclaimed": reclaim.reclaimed if reclaim else None,
        "reclaim_ask": reclaim.ask if reclaim else 0,
        "reclaim_products": list(reclaim.products) if reclaim else [],
    }


def _has_details(digest: Digest) -> bool:
    """Whether ``_details`` has anything to say."""
    return bool(digest.rightsizing or digest.idle.teams)


def _details(
    digest: Digest, *, now: datetime, people: People, currency: str
) -> tuple[Message, ...]:
    new = digest.change.new_seats if digest.change else frozenset()

    def lines() -> Iterator[Line]:
        if digest.rightsizing:
            yield Line("*Parallels that could be freed*", heading=True)
            shown = digest.rightsizing[: views.MAX_RIGHTSIZING_LINES]
            yield from (Line(line("rightsizing_row", row), counted=False) for row in shown)
            if len(digest.rightsizing) > len(shown):
                rest = len(digest.rightsizing) - len(shown)
                yield Line(f"_… and {rest:,} more_", counted=False)
        for team in digest.idle.teams:
            yield Line(line("idle_team", team, currency), heading=True)
            for m in team.members:
                text = _member_line(m, now=now, new=new, people=people, currency=currency)
                yield Line(text)

    title = "Idle members by team" if digest.team is None else f"Idle members: {digest.team}"
    # The digest always attaches its CSV, so whatever is cut here is there.
    messages, _ = views.detail_messages(
        title, lines(), total=len(digest.idle.members), csv_attached=True
    )
    return messages


def _csv(digest: Digest) -> CsvFile | None:
    members = digest.idle.members
    if not members:
        return None
    change = digest.change
    new = change.new_seats if change else frozenset()
    # Only these members have newly idle seats: no need to look the others' seats up.
    newly = {id(m) for m in change.newly_idle} if change else set()
    prices = {c.product: c.price for c in digest.costs}
    # Members share a few tuples of products: name each once (50,000 rows add up).
    named: dict[tuple[Product, ...], str] = {}

    def names(products: tuple[Product, ...]) -> str:
        text = named.get(products)
        if text is None:
            text = named[products] = "; ".join(p.label for p in products)
        return text

    header = [
        "name",
        "email",
        "team",
        "role",
        "idle_products",
        "idle_seats",
        "unused_access",
        "products",
        "not_reported",
        "fully_idle",
        "never_used",
        "never_ran_a_test",
        "newly_idle",
        "last_activity",
        "days_inactive",
    ]
    if prices:
        header.append("idle_cost_monthly")

    # Only BrowserStack's strings go through spreadsheet.cell (which defuses what a spreadsheet
    # would run as a formula): ours are known safe, and calling it on 600,000 cells took a second.
    cell = spreadsheet.cell
    yes_no = ("no", "yes")

    def row(m: IdleMember) -> list[object]:
        cells: list[object] = [
            cell(m.name),
            cell(m.email),
            cell(m.team),
            cell(m.role),
            names(m.idle_products),
            names(m.idle_seats),
            names(m.unused_access),
            names(m.products),
            names(m.unknown_products),
            yes_no[m.fully_idle],
            yes_no[m.never_used],
            yes_no[m.never_tested],
            "" if change is None else names(_new_products(m, new) if id(m) in newly else ()),
            m.last_activity.isoformat() if m.last_activity else "",
            "" if m.days_inactive is None else m.days_inactive,
        ]
        if prices:
            cells.append(round(m.monthly_cost, 2))
        return cells

    def write() -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(map(row, members))
        return out.getvalue()

    title = f"Idle seats{': ' + digest.team if digest.team else ''}, {_period(digest)}"
    filename = f"idle-seats{_suffix(digest.team)}-{digest.end}.csv"
    return CsvFile(filename=filename, title=title, content=write)


def _suffix(team: str | None) -> str:
    """``-acme-team`` for a team's file names: ASCII letters, digits and dashes only."""
    if not team:
        return ""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in team.casefold()).split()
    return "-" + "-".join(words)[:40] if words else ""


def render_digest(
    digest: Digest,
    *,
    now: datetime,
    chart: bool = True,
    currency: str = "$",
    people: People = NOBODY,
    request_id: str | None = None,
    buttons: Sequence[str] = (),
    notices: Sequence[str] = (),
    reclaim: ReclaimLines | None = None,
) -> DigestMessages:
    """The digest's messages; ``chart=False`` skips drawing (a preview in a terminal).

    ``people`` names members as Slack mentions where it knows them (NOBODY: name and email);
    ``buttons`` and ``request_id``: the ``/usage digest`` preview's, whose thread content is
    behind its Details button; ``notices``: mrkdwn warnings above it (a failed post).
    """
    attachment = _csv(digest)
    png = seat_chart(digest) if chart else None
    image = None
    if png is not None:
        image = ImageFile(
            filename=f"seat-use{_suffix(digest.team)}-{digest.end}.png",
            title=f"Seat use, {_period(digest)}",
            content=png,
        )
    has = [
        what
        for what, present in (
            ("idle members by team", _has_details(digest)),
            ("a CSV of every idle member", attachment),
            ("a chart of seat use", image),
        )
        if present
    ]
    # A Details button with nothing behind it would promise nothing.
    shown = tuple(b for b in buttons if b != "details" or _has_details(digest) or attachment)
    context = _summary_context(
        digest,
        now=now,
        currency=currency,
        has=has,
        people=people,
        request_id=request_id,
        buttons=shown,
        notices=notices,
        reclaim=reclaim,
    )
    summary = render("digest", **context)
    return DigestMessages(
        summary=summary,
        details=lambda: _details(digest, now=now, people=people, currency=currency),
        csv=attachment,
        chart=image,
    )


def _finder(users: Sequence[UserRecord]) -> Callable[[str], UserRecord | None]:
    """Finds a member by email (case-insensitive), as ``ReportIndex.user`` does."""
    by_email = {u.email.lower(): u for u in users if u.email}
    return lambda email: by_email.get(email.strip().lower())


def prepare(
    users: Sequence[UserRecord],
    teams: Sequence[TeamRecord] | None = None,
    *,
    start: date,
    end: date,
    now: datetime,
    exclude: Collection[str] = (),
    seat_prices: Mapping[Product, float] | None = None,
    parallel_prices: Mapping[Product, float] | None = None,
    currency: str = "$",
    previous: Snapshot | None = None,
    team: str | None = None,
    late: bool = False,
    chart: bool = True,
    people: People = NOBODY,
    request_id: str | None = None,
    buttons: Sequence[str] = (),
    notices: Sequence[str] = (),
    reclaim: ReclaimPart | None = None,
    member: Callable[[str], UserRecord | None] | None = None,
    derive: Derive | None = None,
    teams_key: Hashable = None,
    idle: IdleSeatsReport | None = None,
) -> tuple[Digest, DigestMessages]:
    """Build and render one channel's digest: what the scheduler, the CLI and ``/usage`` need.

    ``member`` finds a member of ``users`` by email (built here when not given); ``derive``
    keeps the digest with the report it was built from (``ReportIndex.derived``), so that the
    ``/usage digest`` preview builds it once per report, ``teams_key`` naming the team report.
    """

    def build() -> Digest:
        return build_digest(
            users,
            teams=teams,
            now=now,
            start=start,
            end=end,
            exclude=exclude,
            seat_prices=seat_prices,
            parallel_prices=parallel_prices,
            previous=previous,
            team=team,
            late=late,
            idle=idle,
        )

    key = (
        "digest",
        teams_key,
        start,
        end,
        tuple(exclude),
        prices_key(seat_prices),
        prices_key(parallel_prices),
        previous,
        team,
        late,
    )
    digest = (
        # The idle list is counted where it is kept (``bot.reports.cached``) when it is shared.
        derive(key, build, rows=lambda built: len(built.team_seats))
        if derive is not None
        else build()
    )

    messages = render_digest(
        digest,
        now=now,
        chart=chart,
        currency=currency,
        people=people,
        request_id=request_id,
        buttons=buttons,
        notices=notices,
        # The org-wide digest's: a campaign covers the whole organisation.
        reclaim=(
            reclaim(member or _finder(users), digest.idle)
            if reclaim is not None and team is None
            else None
        ),
    )
    return digest, messages
