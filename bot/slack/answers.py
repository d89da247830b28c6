"""From a question and a report to the message that answers it: analysis, then a view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from bot.browserstack.models import Product, ProductData, Report
from bot.reports import analysis
from bot.reports.humanize import find_by_name
from bot.slack import views
from bot.slack.commands import Verb
from bot.slack.messages import Answer, Message


def command_record(request: Any, *, source: str, email: str | None = None) -> dict[str, Any]:
    """A UsageRequest as the JSON kept with a pending request (it must survive a restart)."""
    return {
        "verb": request.verb.value,
        "target": email if request.verb is Verb.ME else request.target,
        "target_user_id": request.target_user_id,
        "product": request.product.value if request.product else None,
        "count": request.count,
        "thread": request.thread,
        "public": request.public,
        "period_label": request.period.label,
        "describe": request.describe(),
        "source": source,
    }


def title(command: dict[str, Any]) -> str:
    """What is being made, for placeholders: "Generating the team report for Acme"."""
    verb = Verb(command.get("verb", Verb.HELP))
    target = command.get("target")
    return {
        Verb.TEAM: f"Generating the team report for {target}",
        Verb.TEAMS: "Generating the report of all teams",
        Verb.USER: f"Generating the usage report for {target}",
        Verb.ME: "Generating your usage report",
        Verb.IDLE: "Looking for idle seats",
        Verb.TOP: "Finding the top users",
        Verb.DIGEST: "Preparing a preview of the weekly digest",
    }.get(verb, "Generating the report")


def compose(
    command: dict[str, Any],
    report: Report,
    *,
    now: dt.datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    idle_exclude: Sequence[str] = (),
    digest_preview: Callable[[Report, dt.datetime], Answer] | None = None,
) -> Answer | Message:
    """The answer to ``command`` from ``report``; a "did you mean" message when nothing matches."""
    verb = Verb(command["verb"])
    product = Product(command["product"]) if command.get("product") else None
    period = command["period_label"]
    common = {"request_id": request_id, "buttons": buttons, "shared_by": shared_by}
    if product is not None and verb not in (Verb.IDLE, Verb.TOP):
        # idle and top take the product themselves (and judge "fully idle" on every product).
        report = only_product(report, product)
    if verb is Verb.TEAM:
        by_name = {team.name: team for team in report.teams}
        match = find_by_name(by_name, command["target"] or "")
        if match.match is None:
            return views.not_found_message(
                what="team",
                query=command["target"] or "",
                suggestions=match.suggestions,
                example_prefix="/usage team",
            )
        summary = analysis.team_summary(by_name[match.match], now=now)
        return views.team_answer(summary, period_label=period, now=now, **common)
    if verb is Verb.TEAMS:
        overview = analysis.org_overview(report.teams, now=now)
        rightsizing = analysis.parallel_rightsizing(report.teams)
        return views.teams_answer(
            overview, period_label=period, now=now, rightsizing=rightsizing, **common
        )
    if verb in (Verb.USER, Verb.ME):
        return _user(command, report, now=now, period=period, common=common)
    if verb is Verb.IDLE:
        idle = analysis.idle_seats(
            report.users, products=[product] if product else None, exclude=idle_exclude, now=now
        )
        label = product.label if product else None
        return views.idle_answer(idle, period_label=period, product_label=label, now=now, **common)
    if verb is Verb.DIGEST and digest_preview is not None:
        return digest_preview(report, now)
    if verb is Verb.TOP:
        top = analysis.top_users(report.users, product=product, n=command["count"])
        label = product.label if product else None
        return views.top_answer(top, product_label=label, period_label=period, **common)
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
    command: dict[str, Any], report: Report, *, now: dt.datetime, period: str, common: dict
) -> Answer | Message:
    wanted = (command.get("target") or "").strip().lower()
    by_email = {user.email.lower(): user for user in report.users if user.email}
    user = by_email.get(wanted)
    if user is None:
        me = Verb(command["verb"]) is Verb.ME
        match = find_by_name([u.email for u in report.users if u.email], wanted)
        return views.not_found_message(
            what="user",
            query=wanted or "your account",
            suggestions=() if me else match.suggestions,
            example_prefix="/usage user",
        )
    summary = analysis.user_summary(user, now=now)
    return views.user_answer(summary, period_label=period, now=now, **common)
