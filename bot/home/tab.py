"""The App Home tab: published on ``app_home_opened``, from cached datasets only.

``publish`` never waits on BrowserStack: it reads this month's team and user reports from the
store (fresh READY datasets, the same ones ``/usage teams`` makes). When one is missing or stale,
the tab says "refreshing…" and the report is asked for as a request of source ``HOME``, through
the shared datasets like any command (so it survives restarts and shares BrowserStack jobs); when
it lands, the delivery hands it back here (``landed``) and the full tab is published again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.browserstack.models import (
    Report,
    ReportFilters,
    ReportKind,
    TeamRecord,
)
from bot.clock import Clock
from bot.digest.history import DigestHistory
from bot.digest.schedule import digest_trigger
from bot.home.schedule import next_run_at
from bot.home.store import HomeStore, Subscription
from bot.reports import analysis
from bot.reports.humanize import money
from bot.reports.index import identity, index_of
from bot.reports.question import day_text, range_text
from bot.reports.store import PendingRequest, Store
from bot.settings import Settings
from bot.slack.access import AccessPolicy, Admins
from bot.slack.answers import Prices
from bot.slack.commands import Period, UsageRequest, Verb
from bot.slack.messages import ENV

log = logging.getLogger(__name__)

MAX_VIEW_BLOCKS = 100  # Slack's limit for a view
MAX_SUBSCRIPTIONS_SHOWN = 10
MAX_TEAMS_SHOWN = 8
# The reclaim campaign's state (issue 11): mrkdwn for the admins' part, or None for no campaign.
Campaign = Callable[[], str | None]


def month_to_date(today: dt.date) -> Period:
    """The Home tab's period: this month so far, today included."""
    start = today.replace(day=1)
    return Period(start, today, f"this month ({range_text(start, today)})", "")


@dataclass(frozen=True, slots=True)
class HomeReports:
    teams: Report
    users: Report


class HomeTab:
    """Builds and publishes each person's Home tab."""

    def __init__(
        self,
        *,
        slack: WebClient,
        store: Store,
        home_store: HomeStore,
        access: AccessPolicy,
        admins: Admins,
        settings: Settings,
        clock: Clock,
        prices: Prices,
        history: DigestHistory | None = None,
        campaign: Campaign = lambda: None,
        refresh: Callable[[UsageRequest, str], None] | None = None,
        ask_idle_members: Callable[[str], None] | None = None,
    ) -> None:
        self.slack = slack
        self.store = store
        self.home_store = home_store
        self.access = access
        self.admins = admins
        self.settings = settings
        self.clock = clock
        self.prices = prices
        self.history = history
        # Issue 11's hook: the reclaim campaign's state; None on a branch without campaigns.
        self.campaign = campaign
        # Asks for this month's reports for a user (the front desk's ``request_home``).
        self.refresh = refresh
        # Issue 11's hook: start asking idle members (an admin pressed the button); None here.
        self.ask_idle_members = ask_idle_members

    # What the listener and the buttons call

    def opened(self, user_id: str) -> None:
        """The Home tab was opened (or Refresh pressed): publish it, refreshing what is stale."""
        self.publish(user_id, refresh=True)

    def ask_idle(self, user_id: str) -> None:
        """The admins' "Ask idle members" button: issue 11's campaign when it is there."""
        refusal = self.admins.refusal(user_id)
        if refusal is None and self.ask_idle_members is not None:
            self.ask_idle_members(user_id)
            return
        text = refusal or (
            "Asking idle members is not available yet: it comes with reclaim campaigns."
        )
        self.slack.chat_postMessage(channel=user_id, text=text)

    def unsubscribe(self, user_id: str, number: int) -> None:
        """The Remove button by a subscription: its owner's (or an admin's); then the new tab."""
        sub = self.home_store.get(number)
        if sub is not None and (sub.user_id == user_id or self.admins.is_admin(user_id)):
            self.home_store.remove(number, now=self.clock.now())
            note = None
        else:
            note = f"Subscription #{number} is not yours to remove (or is gone already)."
        self.publish(user_id, refresh=False, note=note)

    # The delivery's handover (Source.HOME)

    def landed(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None:
        self.publish(request.user_id, refresh=False)

    def failed(self, request: PendingRequest, problem: str) -> None:
        self.publish(
            request.user_id, refresh=False, note=f"The figures could not be refreshed: {problem}"
        )

    # Building

    def cached(self, period: Period) -> HomeReports | None:
        """This period's reports if both are fresh in the store; never asks BrowserStack."""
        teams = self.fresh_report(ReportKind.TEAM, period.filters(None))
        users = self.fresh_report(ReportKind.USER, period.filters(None))
        return HomeReports(teams, users) if teams and users else None

    def fresh_report(self, kind: ReportKind, filters: ReportFilters) -> Report | None:
        """A report of this kind and period from a fresh dataset (also the digest's source)."""
        return self.store.fresh_report(kind, filters, now=self.clock.now())

    def publish(self, user_id: str, *, refresh: bool, note: str | None = None) -> dict[str, Any]:
        """Publish ``user_id``'s tab; with ``refresh``, ask for missing reports too.

        The tab goes out first, then the request: an answer from a dataset that became fresh
        meanwhile can then only replace "refreshing…", never be replaced by it.
        """
        view, stale = self.view(user_id, refresh=refresh, note=note)
        self.slack.views_publish(user_id=user_id, view=view)
        if stale and self.refresh is not None:
            period = month_to_date(self.clock.today())
            self.refresh(UsageRequest(verb=Verb.TEAMS, period=period), user_id)
        return view

    def view(
        self, user_id: str, *, refresh: bool, note: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The tab, and whether its reports must be asked for (stale, and ``refresh``)."""
        now = self.clock.now()
        period = month_to_date(self.clock.today())
        context: dict[str, Any] = {
            "period": period.label,
            "updated": None,
            "refusal": None,
            "refreshing": False,
            "note": note,
            "me": None,
            "me_missing": None,
            "team": None,
            "subscriptions": [],
            "max_subscriptions": MAX_SUBSCRIPTIONS_SHOWN,
            "admin": None,
        }
        refusal = self.access.refusal(user_id)
        if refusal is not None:
            context["refusal"] = refusal
            return _render(context), False
        context["subscriptions"] = [
            self._subscription(s, now) for s in self.home_store.active(user_id=user_id)
        ]
        admin = self.admins.is_admin(user_id)
        reports = self.cached(period)
        stale = reports is None and refresh and self.refresh is not None
        if reports is None:
            if stale:
                context["refreshing"] = True
            elif note is None:
                context["note"] = "The figures are not available just now: press Refresh."
        else:
            context["updated"] = reports.users.fetched_at.strftime("%H:%M UTC")
            self._member(context, user_id, reports, period, now)
            if admin:
                context["admin"] = self._admin(reports, period, now)
        if admin and context["admin"] is None:
            context["admin"] = {
                "seats": [],
                "parallels": [],
                "teams": [],
                "teams_more": 0,
                "idle_cost": None,
                **self._digest(now),
                "campaign": self.campaign(),
            }
        return _render(context), stale

    def _subscription(self, sub: Subscription, now: dt.datetime) -> dict[str, Any]:
        hour, zone = self.settings.subscription_hour, self.settings.digest_zone
        upcoming = next_run_at(sub.cadence, now, hour=hour, zone=zone)
        return {
            "id": sub.id,
            "what": describe(sub),
            "cadence": sub.cadence.value,
            "channel": sub.channel_id,
            "where": "my DMs",
            "next": day_text(upcoming.astimezone(zone).date()),
        }

    def _member(
        self,
        context: dict[str, Any],
        user_id: str,
        reports: HomeReports,
        period: Period,
        now: dt.datetime,
    ) -> None:
        try:
            email = self.access.person(user_id).email
        except SlackApiError:
            email = None
        user = index_of(reports.users).user(email) if email else None
        if user is None:
            context["me_missing"] = (
                "Slack did not share your email address with me."
                if not email
                else f"{email} has no BrowserStack account in this organisation."
            )
            return
        summary = analysis.user_summary(user, now=now, since=period.start)
        context["me"] = {
            "team": user.team,
            "products": [
                {
                    "product": row.product.label,
                    "tests": row.tests_run or 0,
                    "minutes": row.minutes_used or 0,
                    "idle": row.state is analysis.SeatState.IDLE,
                }
                for row in summary.products
                if row.reported or row.has_access
            ],
            "last_test": summary.last_test_text,
        }
        team = _find_team(reports.teams.teams, user.team)
        if team is None:
            return

        def summarise() -> tuple[int, analysis.TeamSummary]:
            members = index_of(reports.users).members(team.name)
            as_of = reports.teams.fetched_at
            return len(members), analysis.team_summary(
                team, members=members, now=as_of, since=period.start
            )

        # Kept with the report (bot.reports.index): a team of thousands is read once, not at
        # every opening of the tab.
        member_count, team_summary = index_of(reports.teams).derived(
            ("home team", team.name, period.start, identity(reports.users)), summarise
        )
        context["team"] = {
            "name": team.name,
            "members": member_count,
            "tests": team_summary.tests_run,
            "minutes": team_summary.minutes_used,
            "parallels": team_summary.parallels_used,
            "idle": team_summary.idle_members or 0,
            "saturated": [
                {
                    "product": r.product.label,
                    "peak": r.max_parallels_used,
                    "allocated": r.parallels_allocated,
                }
                for r in team_summary.products
                if r.saturated
            ],
        }

    def _admin(self, reports: HomeReports, period: Period, now: dt.datetime) -> dict[str, Any]:
        users, teams = reports.users.users, reports.teams.teams

        def whole() -> tuple[tuple[analysis.SeatCount, ...], analysis.OrgOverview]:
            seats = analysis.seat_counts(users, products=analysis.SEAT_PRODUCTS, since=period.start)
            as_of = reports.teams.fetched_at
            return seats, analysis.org_overview(teams, users=users, now=as_of, since=period.start)

        # The organisation's figures, once per pair of reports rather than at every opening.
        seats, overview = index_of(reports.teams).derived(
            ("home admin", period.start, identity(reports.users)),
            whole,
            rows=lambda found: len(found[1].teams),
        )
        costs, _ = analysis.seat_costs(seats, self.prices.seats)
        cost_of = {c.product: c.monthly for c in costs}
        parallel_costs = {
            c.product: c for c in analysis.parallel_costs(overview.totals, self.prices.parallels)
        }
        totals = [
            {
                "product": t.product.label,
                "peak": t.max_parallels_used or 0,
                "allocated": t.parallels_allocated,
                "cost": money(parallel_costs[t.product].monthly)
                if t.product in parallel_costs
                else None,
            }
            for t in overview.totals
            if t.product in analysis.PARALLEL_PRODUCTS and t.parallels_allocated
        ]
        rows = team_parallels(teams, now=now)
        return {
            "seats": [
                {
                    "product": s.product.label,
                    "used": s.used,
                    "idle": s.idle,
                    "seats": s.seats,
                    "cost": money(cost_of[s.product]) if s.product in cost_of else None,
                }
                for s in seats
                if s.seats
            ],
            "idle_cost": money(sum(cost_of.values())) if cost_of else None,
            "parallels": totals,
            "teams": rows[:MAX_TEAMS_SHOWN],
            "teams_more": max(0, len(rows) - MAX_TEAMS_SHOWN),
            **self._digest(now),
            "campaign": self.campaign(),
        }

    def _digest(self, now: dt.datetime) -> dict[str, Any]:
        """When the next digest goes out, and a link to the last one posted."""
        channel = self.settings.digest_channel
        if not channel:
            return {"digest_next": None, "digest_link": None, "digest_last": None}
        upcoming = digest_trigger(self.settings).get_next_fire_time(None, now)
        found: dict[str, Any] = {
            "digest_next": upcoming.strftime("%a %d %b %H:%M %Z") if upcoming else None,
            "digest_link": None,
            "digest_last": None,
        }
        entry = self.history.latest(channel) if self.history else None
        if entry is not None and entry.message_ts:
            found["digest_last"] = f"week {entry.week}"
            try:
                found["digest_link"] = self.slack.chat_getPermalink(
                    channel=channel, message_ts=entry.message_ts
                )["permalink"]
            except SlackApiError as error:
                log.info("no permalink for the last digest: %s", error.response.get("error"))
                found["digest_link"] = f"slack://channel?id={channel}&message={entry.message_ts}"
        return found


def describe(sub: Subscription) -> str:
    if sub.team:
        return f"team {sub.team}"
    return "all teams" if sub.scope.value == "teams" else "my usage"


def team_parallels(teams: Sequence[TeamRecord], *, now: dt.datetime) -> list[dict[str, Any]]:
    """Every team's allocated parallels per product: saturated first, then fullest."""
    rows: list[dict[str, Any]] = []
    for team in teams:
        for row in analysis.team_summary(team, now=now).products:
            if row.parallels_allocated:
                rows.append(
                    {
                        "team": team.name,
                        "product": row.product.label,
                        "peak": row.max_parallels_used or 0,
                        "allocated": row.parallels_allocated,
                        "saturated": row.saturated,
                    }
                )
    rows.sort(
        key=lambda r: (
            not r["saturated"],
            -int(r["peak"]) / int(r["allocated"]),
            str(r["team"]).casefold(),
        )
    )
    return rows


def _find_team(teams: Sequence[TeamRecord], name: str | None) -> TeamRecord | None:
    if not name:
        return None
    wanted = name.strip().casefold()
    return next((t for t in teams if t.name.strip().casefold() == wanted), None)


def _render(context: Mapping[str, Any]) -> dict[str, Any]:
    """The view from ``templates/home.json.j2``, within Slack's 100 blocks."""
    source = ENV.get_template("home.json.j2").render(**context)
    data = json.loads(source)
    blocks = data["blocks"]
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError(f"the Home tab has {len(blocks)} blocks, over Slack's {MAX_VIEW_BLOCKS}")
    return {"type": "home", "blocks": blocks}


__all__ = ["Campaign", "HomeTab", "month_to_date"]
