"""From a question and a report to the message that answers it: analysis, then a view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypedDict

import msgspec

from bot.browserstack.models import Product, ProductData, Report
from bot.reports import analysis
from bot.reports.humanize import find_by_name
from bot.reports.question import Question, Verb
from bot.slack import views
from bot.slack.messages import Answer, Message
from bot.slack.people import NOBODY, People


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


def evidence_start(report: Report) -> dt.date | None:
    """The period's first day when the report covers All-Products: what the idle rules need to
    judge a missing entry (``bot.reports.analysis``); None for a one-product report."""
    return report.filters.start if report.filters.product is None else None


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
    if product is not None and verb not in (Verb.IDLE, Verb.TOP):
        # idle and top take the product themselves (and judge "fully idle" on every product).
        report = only_product(report, product)
        users = only_product(users, product) if users is not None else None
    since = evidence_start(report)
    if verb is Verb.TEAM:
        by_name = {team.name: team for team in report.teams}
        match = find_by_name(by_name, question.target or "")
        if match.match is None:
            return views.not_found_message(
                what="team",
                query=question.target or "",
                suggestions=match.suggestions,
                example_prefix="/usage team",
            )
        # The team report has the team's figures; the user report, who its members are.
        members = analysis.members_of(users.users, match.match) if users is not None else None
        evidence = evidence_start(users) if users is not None else None
        summary = analysis.team_summary(
            by_name[match.match], members=members, now=now, since=evidence
        )
        return views.team_answer(
            summary,
            period_label=period,
            now=now,
            members=[
                analysis.user_summary(member, now=now, since=evidence) for member in members or ()
            ],
            people=people,
            **common,
        )
    if verb is Verb.TEAMS:
        overview = analysis.org_overview(
            report.teams,
            users=users.users if users is not None else None,
            now=now,
            since=evidence_start(users) if users is not None else None,
        )
        start, end = report.filters.period(today=now.date())
        advice = analysis.parallels_advice(report.teams, start=start, end=end)
        costs = analysis.parallel_costs(overview.totals, prices.parallels)
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
        return _user(
            question, report, now=now, period=period, common=common, people=people, since=since
        )
    if verb is Verb.IDLE:
        idle = analysis.idle_seats(
            report.users,
            products=[product] if product else None,
            exclude=idle_exclude,
            now=now,
            since=since,
            seat_prices=prices.seats,
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
        top = analysis.top_users(report.users, product=product, n=question.count)
        label = product.label if product else None
        return views.top_answer(
            top, product_label=label, period_label=period, people=people, **common
        )
    raise ValueError(f"no report answers {verb}")


def only_product(report: Report, product: Product) -> Report:
    """The report as BrowserStack's product filter would have made it: one product's entries."""

    def narrow(record: Any) -> Any:
        kept = msgspec.structs.replace(
            ProductData(), **{product.value: record.usage.product_data.get(product)}
        )
        usage = msgspec.structs.replace(record.usage, product_data=kept)
        return msgspec.structs.replace(record, usage=usage)

    return msgspec.structs.replace(
        report,
        filters=msgspec.structs.replace(report.filters, product=product),
        users=[narrow(user) for user in report.users],
        teams=[narrow(team) for team in report.teams],
    )


def _user(
    question: Question,
    report: Report,
    *,
    now: dt.datetime,
    period: str,
    common: _Common,
    people: People,
    since: dt.date | None = None,
) -> Answer | Message:
    wanted = (question.target or "").strip().lower()
    by_email = {user.email.lower(): user for user in report.users if user.email}
    user = by_email.get(wanted)
    if user is None:
        me = question.verb is Verb.ME
        match = find_by_name([u.email for u in report.users if u.email], wanted)
        # A single close email is a suggestion, never an answer about someone else.
        close = match.suggestions or ([match.match] if match.match else [])
        return views.not_found_message(
            what="user",
            query=wanted or "your account",
            suggestions=() if me else close,
            example_prefix="/usage user",
        )
    summary = analysis.user_summary(user, now=now, since=since)
    return views.user_answer(summary, period_label=period, now=now, people=people, **common)
