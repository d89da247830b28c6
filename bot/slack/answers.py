"""From a question and a report to the message that answers it: analysis, then a view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol, TypedDict, TypeVar, overload

from bot.browserstack.models import Product, Report, TeamRecord, UserRecord
from bot.reports import analysis, cached
from bot.reports.cached import evidence_start
from bot.reports.index import identity, index_of, narrow, prices_key
from bot.reports.question import Question, Verb
from bot.slack import views
from bot.slack.messages import Answer, Message
from bot.slack.people import NOBODY, People

R = TypeVar("R", UserRecord, TeamRecord)


class _Common(TypedDict):
    """What every answer view takes besides its figures."""

    request_id: str
    buttons: Sequence[str]
    shared_by: str | None


class DigestPreview(Protocol):
    """Renders ``/usage digest`` (this week's digest, for the asker) from the user report and
    the team report (for the parallels section) of the digest's period."""

    def __call__(
        self,
        users: Report,
        now: dt.datetime,
        *,
        teams: Report,
        request_id: str,
        buttons: Sequence[str],
        people: People,
    ) -> Answer: ...


class Prices(NamedTuple):
    """Monthly prices from the settings: a Live / App Live seat, an Automate parallel."""

    seats: Mapping[Product, float] = {}
    parallels: Mapping[Product, float] = {}


NO_PRICES = Prices()


def title(question: Question) -> str:
    """What is being made, for placeholders: "Generating the team report for Acme"."""
    target = question.target or "the person you mentioned"
    return {
        Verb.TEAM: f"Generating the team report for {target}",
        Verb.TEAMS: "Generating the report of all teams",
        Verb.USER: f"Generating the usage report for {target}",
        Verb.ME: "Generating your usage report",
        Verb.IDLE: "Looking for idle seats",
        Verb.TOP: "Finding the top users",
        Verb.DIGEST: "Preparing a preview of the weekly digest",
    }.get(question.verb, "Generating the report")


def compose(
    question: Question,
    report: Report,
    *,
    now: dt.datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    users: Report | None = None,
    people: People = NOBODY,
    idle_exclude: Sequence[str] = (),
    digest_preview: DigestPreview | None = None,
    teams: Report | None = None,
    prices: Prices = NO_PRICES,
    reclaim: Callable[[analysis.IdleSeatsReport, str], views.ReclaimOffer | None] | None = None,
) -> Answer | Message:
    """The answer to ``question`` from ``report``; a "did you mean" message when nothing matches.

    ``users``: the user report of the same period, for the team answers (seats, members);
    ``teams``: the team report of the same period, for the digest preview's parallels section;
    ``people``: who to name as Slack mentions (``NOBODY`` in anything posted publicly);
    ``reclaim``: the asker's reclaim offer for an idle answer and its period (admins only).
    """
    verb = question.verb
    product = question.product
    period = question.period_label
    common = _Common(request_id=request_id, buttons=buttons, shared_by=shared_by)
    if verb is Verb.TEAM:
        return _team(question, report, users, now=now, common=common, people=people)
    if verb is Verb.TEAMS:
        start, end = report.filters.period(today=now.date())
        overview, advice, costs = index_of(report).derived(
            ("teams", product, _users_key(users), start, end, prices_key(prices.parallels)),
            lambda: _teams(report, users, product, start=start, end=end, prices=prices),
            rows=lambda found: len(found[0].teams),
        )
        return views.teams_answer(
            overview,
            period_label=period,
            now=now,
            advice=advice,
            parallel_costs=costs,
            people=people,
            **common,
        )
    if verb in (Verb.USER, Verb.ME):
        return _user(question, report, now=now, period=period, common=common, people=people)
    if verb is Verb.IDLE:
        idle = cached.idle_seats(
            report, product=product, exclude=idle_exclude, seat_prices=prices.seats
        )
        label = product.label if product else None
        start, end = report.filters.period(today=now.date())
        offer = reclaim(idle, f"{start}..{end}") if reclaim is not None else None
        return views.idle_answer(
            idle,
            period_label=period,
            product_label=label,
            now=now,
            people=people,
            reclaim=offer,
            **common,
        )
    if verb is Verb.DIGEST and digest_preview is not None:
        if teams is None:  # Question.kinds asks for it: a missing one is a bug, not a gap to hide
            raise ValueError("the digest preview needs the team report of its period")
        return digest_preview(
            report, now, teams=teams, request_id=request_id, buttons=buttons, people=people
        )
    if verb is Verb.TOP:
        top = cached.top_users(report, product=product, n=question.count)
        label = product.label if product else None
        return views.top_answer(
            top, product_label=label, period_label=period, people=people, **common
        )
    raise ValueError(f"no report answers {verb}")


def _users_key(users: Report | None) -> tuple[object, ...] | None:
    return None if users is None else identity(users)


def _evidence(report: Report, product: Product | None) -> dt.date | None:
    """``evidence_start`` of the report as narrowed to ``product``: a one-product view of it
    judges missing entries as a one-product report would."""
    return None if product is not None else evidence_start(report)


def _rows(rows: Sequence[R], product: Product | None) -> Sequence[R]:
    return [narrow(row, product) for row in rows] if product is not None else rows


class _Narrowed(Sequence[UserRecord]):
    """A report's members as ``_rows`` gives them, each narrowed as it is read: the teams
    overview passes over every member, and a list of them all, decoded from the packed report
    and narrowed, would be some 55 MB at 50,000 members for the length of the pass."""

    def __init__(self, users: Sequence[UserRecord], product: Product) -> None:
        self._users = users
        self._product = product

    def __len__(self) -> int:
        return len(self._users)

    def __iter__(self) -> Iterator[UserRecord]:
        return (narrow(user, self._product) for user in self._users)

    @overload
    def __getitem__(self, index: int) -> UserRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[UserRecord]: ...

    def __getitem__(self, index: int | slice) -> UserRecord | list[UserRecord]:
        if isinstance(index, slice):
            return [narrow(user, self._product) for user in self._users[index]]
        return narrow(self._users[index], self._product)


def _members(users: Sequence[UserRecord], product: Product | None) -> Sequence[UserRecord]:
    """``_rows`` of a whole report's members, narrowed as they are read."""
    return _Narrowed(users, product) if product is not None else users


def _team(
    question: Question,
    report: Report,
    users: Report | None,
    *,
    now: dt.datetime,
    common: _Common,
    people: People,
) -> Answer | Message:
    """A team from the team report; who its members are, from the user report."""
    index = index_of(report)
    match = index.team_names.find(question.target or "")
    found = index.team(match.match) if match.match is not None else None
    if match.match is None or found is None:
        return views.not_found_message(
            what="team",
            query=question.target or "",
            suggestions=match.suggestions,
            example_prefix="/usage team",
        )
    name, team, product = match.match, found, question.product

    def summarise() -> tuple[analysis.TeamSummary, list[analysis.UserSummary]]:
        as_of = report.fetched_at
        record = narrow(team, product) if product is not None else team
        if users is None:
            return analysis.team_summary(record, members=None, now=as_of), []
        members = _rows(index_of(users).members(name), product)
        evidence = _evidence(users, product)
        summary = analysis.team_summary(record, members=members, now=as_of, since=evidence)
        return summary, [analysis.user_summary(m, now=as_of, since=evidence) for m in members]

    summary, members = index.derived(
        ("team", name, product, _users_key(users)), summarise, rows=lambda found: len(found[1])
    )
    return views.team_answer(
        summary,
        period_label=question.period_label,
        now=now,
        members=members,
        people=people,
        **common,
    )


def _teams(
    report: Report,
    users: Report | None,
    product: Product | None,
    *,
    start: dt.date,
    end: dt.date,
    prices: Prices,
) -> tuple[analysis.OrgOverview, analysis.ParallelsAdvice, list[analysis.ParallelCost]]:
    """The teams overview, its parallels advice and their cost: the whole org, once a report."""
    teams = _rows(report.teams, product)
    overview = analysis.org_overview(
        teams,
        users=_members(users.users, product) if users is not None else None,
        now=report.fetched_at,
        since=_evidence(users, product) if users is not None else None,
    )
    advice = analysis.parallels_advice(teams, start=start, end=end)
    return overview, advice, list(analysis.parallel_costs(overview.totals, prices.parallels))


def _user(
    question: Question,
    report: Report,
    *,
    now: dt.datetime,
    period: str,
    common: _Common,
    people: People,
) -> Answer | Message:
    wanted = (question.target or "").strip().lower()
    index = index_of(report)
    user = index.user(wanted)
    if user is None:
        me = question.verb is Verb.ME
        match = index.emails.find(wanted)
        # A single close email is a suggestion, never an answer about someone else.
        close = match.suggestions or ([match.match] if match.match else [])
        return views.not_found_message(
            what="user",
            query=wanted or "your account",
            suggestions=() if me else close,
            example_prefix="/usage user",
        )
    product = question.product
    record = narrow(user, product) if product is not None else user
    summary = analysis.user_summary(record, now=now, since=_evidence(report, product))
    return views.user_answer(summary, period_label=period, now=now, people=people, **common)
