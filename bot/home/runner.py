"""The schedule's part of issue 12: subscriptions' posts and the alerts' check, once each.

``run_due`` is called by the work loop on the instance that holds the schedule role (about once
a minute). For each subscription whose run is due (``bot.home.schedule``), it claims
``sub:<id>:<period>`` with a new request id, then stores that request (source SUBSCRIPTION,
public, to the subscription's channel or the subscriber's DM): from there it is an ordinary
request, answered from the shared datasets and surviving restarts. A claim whose request was
never stored (the process died between the two) is completed by the next run.

With ``ALERT_CHANNEL`` set, once a day it asks for the last 7 days' team and user reports as a
request of source ALERT; when they land (``landed``), every alert condition that holds
(``bot.home.alerts``) is claimed for the ISO week and posted, so each is said once a week.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from slack_sdk import WebClient

from bot.browserstack.models import Report, ReportKind
from bot.clock import Clock
from bot.home.alerts import Alert, alerts
from bot.home.schedule import Run, due, last_run, week_key
from bot.home.store import HomeStore, Scope, Subscription
from bot.reports.humanize import money
from bot.reports.question import Source, Verb, range_text
from bot.reports.store import Origin, PendingRequest, Store, new_request_id
from bot.settings import Settings
from bot.slack.answers import Prices
from bot.slack.commands import Period, UsageRequest
from bot.slack.frontdesk import FrontDesk
from bot.slack.messages import Message, render
from bot.storage import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

# A claim whose request is still missing this long after: its process died in between.
ORPHANED_AFTER = dt.timedelta(minutes=5)
ALERT_DAYS = 7
# Who "asks" the alerts' check: not a person (the front desk does not vet it).
ALERT_ASKER = "usagebot"

_VERBS = {Scope.TEAM: Verb.TEAM, Scope.TEAMS: Verb.TEAMS, Scope.ME: Verb.ME}


class HomeSchedule:
    def __init__(
        self,
        *,
        home_store: HomeStore,
        store: Store,
        desk: FrontDesk,
        slack: WebClient,
        settings: Settings,
        clock: Clock,
        prices: Prices,
    ) -> None:
        self.home_store = home_store
        self.store = store
        self.desk = desk
        self.slack = slack
        self.settings = settings
        self.clock = clock
        self.prices = prices

    def run_due(self) -> list[str]:
        """Start every subscription post and alert check that is due; their claim keys."""
        now = self.clock.now()
        started = []
        for sub in self.home_store.active():
            try:
                key = self._subscription(sub, now)
            except TRANSIENT_ERRORS:
                raise
            except Exception:
                log.exception("subscription #%d could not be started; tried again later", sub.id)
                continue
            if key:
                started.append(key)
        if self.settings.alert_channel:
            key = self._alert_check(now)
            if key:
                started.append(key)
        return started

    # Subscriptions

    def _subscription(self, sub: Subscription, now: dt.datetime) -> str | None:
        hour, zone = self.settings.subscription_hour, self.settings.digest_zone
        run = last_run(sub.cadence, now, hour=hour, zone=zone)
        grace = dt.timedelta(hours=self.settings.subscription_grace_hours)
        if not due(run, now, grace=grace, since=sub.created_at):
            return None
        key = f"sub:{sub.id}:{run.key}"
        request_id = self._claim(key, now)
        if request_id is None:
            return None
        self._post(sub, run, request_id)
        return key

    def _claim(self, key: str, now: dt.datetime) -> str | None:
        """The request id to start ``key``'s work with; None when it is done or not ours.

        A claim whose request was never stored (its process died between the two writes) is
        taken up again once ``ORPHANED_AFTER`` has passed, with the same request id: storing it
        twice fails on the id, so it still runs once.
        """
        claimed = self.home_store.claimed(key)
        if claimed is None:
            request_id = new_request_id()
            return (
                request_id if self.home_store.claim(key, now=now, request_id=request_id) else None
            )
        at, stored_id = claimed
        if stored_id is None or self.store.request(stored_id) is not None:
            return None  # done, or under way
        if now - at < ORPHANED_AFTER:
            return None
        log.warning("%s was claimed but never started; starting it now", key)
        return stored_id

    def _post(self, sub: Subscription, run: Run, request_id: str) -> None:
        channel = sub.channel_id or self.desk.delivery.dm_channel(sub.user_id)
        period = Period(run.start, run.end, range_text(run.start, run.end), "")
        request = UsageRequest(verb=_VERBS[sub.scope], period=period, target=sub.team, public=True)
        pending = self.desk.receive(
            request,
            Origin(user_id=sub.user_id, channel_id=channel),
            source=Source.SUBSCRIPTION,
            request_id=request_id,
        )
        assert pending is not None
        log.info(
            "subscription #%d: posting %s (%s) as request %s",
            sub.id,
            sub.command,
            run.key,
            request_id,
        )
        self.desk.check_soon(pending)

    # Alerts

    def _alert_check(self, now: dt.datetime) -> str | None:
        today = self.clock.today()
        key = f"alert-check:{today.isoformat()}"
        request_id = self._claim(key, now)
        if request_id is None:
            return None
        channel = self.settings.alert_channel
        assert channel is not None
        request = UsageRequest(verb=Verb.TEAMS, period=Period.last_days(ALERT_DAYS, today=today))
        pending = self.desk.receive(
            request,
            Origin(user_id=ALERT_ASKER, channel_id=channel),
            source=Source.ALERT,
            request_id=request_id,
        )
        assert pending is not None
        self.desk.check_soon(pending)
        return key

    # The delivery's handover (Source.ALERT)

    def landed(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None:
        """Post every alert that holds and was not posted this week."""
        channel = self.settings.alert_channel
        if not channel:
            return
        now = self.clock.now()
        question = request.question
        found = alerts(
            reports[ReportKind.TEAM].teams,
            reports[ReportKind.USER].users,
            idle_threshold=self.settings.alert_idle_seats,
            since=question.start,
            seat_prices=self.prices.seats,
        )
        week = week_key(self.clock.today())
        for alert in found:
            key = f"alert:{week}:{alert.key}"
            if not self.home_store.claim(key, now=now, request_id=request.id):
                continue
            try:
                self.slack.chat_postMessage(
                    channel=channel, **self.message(alert, question.period_label).payload()
                )
            except Exception:
                self.home_store.release(key)  # nothing posted: the next check tries again
                raise
            log.info("alert posted in %s: %s", channel, key)

    def failed(self, request: PendingRequest, problem: str) -> None:
        log.warning("the alerts' check could not get its reports: %s", problem)

    def message(self, alert: Alert, period: str) -> Message:
        idle = [f"{n} {p.label}" for p, n in (alert.idle or {}).items()]
        product = alert.product.label if alert.product else ""
        cost = money(alert.monthly_cost) if alert.monthly_cost else None
        return render(
            "alert",
            alert=alert,
            product=product,
            period=period,
            idle=idle,
            threshold=self.settings.alert_idle_seats,
            cost=cost,
        )


__all__ = ["HomeSchedule"]
