"""Starting campaigns from Slack (buttons, ``/usage reclaim ask``) and showing them.

Starting needs the period's user report, which takes a while: ``start_soon`` checks who asks,
then fetches and starts on a thread of its own, and the campaign's tally says the rest. Every
admin-only path checks ``Admins`` first; while ``RECLAIM_ADMINS`` is empty nothing starts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.browserstack.models import Report, ReportFilters
from bot.clock import Clock
from bot.reclaim.service import CampaignSummary, ReclaimService, Refused
from bot.reclaim.views import when
from bot.reports.analysis import IdleSeatsReport, idle_seats
from bot.slack.access import Admins
from bot.slack.messages import escape_mrkdwn
from bot.slack.views import ReclaimOffer

log = logging.getLogger(__name__)


class ReclaimDesk:
    def __init__(
        self,
        *,
        service: ReclaimService,
        admins: Admins,
        slack: WebClient,
        clock: Clock,
        fetch_users: Callable[[dt.datetime, ReportFilters | None], Report],
        exclude: Collection[str],
    ) -> None:
        self.service = service
        self.admins = admins
        self.slack = slack
        self.clock = clock
        self.fetch_users = fetch_users
        self.exclude = exclude
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reclaim-start")

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def idle_report(self, now: dt.datetime, period: str = "") -> tuple[IdleSeatsReport, str]:
        """The idle seats of ``period`` ("start..end"; the digest's by default) as of ``now``,
        and that period as text."""
        users = self.fetch_users(now, _filters(period))
        start, end = users.filters.start, users.filters.end
        report = idle_seats(
            users.users,
            exclude=self.exclude,
            now=now,
            since=start,
            seat_prices=self.service.policy.prices,
        )
        return report, f"{start}..{end}"

    def offer(self, user_id: str, idle: IdleSeatsReport, period: str) -> ReclaimOffer | None:
        """The "Ask N idle members…" button of a seat admin's private idle answer."""
        if not self.admins.is_admin(user_id):
            return None
        count = len(self.service.plan(idle))
        if not count:
            return None
        labels = tuple(p.label for p in self.service.policy.products)
        return ReclaimOffer(count=count, products=labels, period=period)

    def start_soon(
        self, *, admin: str, channel: str | None, thread_ts: str | None, period: str = ""
    ) -> str | None:
        """Start a campaign in the background; a refusal (a sentence) if ``admin`` is not one."""
        refusal = self.admins.refusal(admin)
        if refusal is not None:
            return refusal
        if not channel:
            return "I cannot tell where to post the campaign: try `/usage reclaim ask`."
        if period and _filters(period) is None:
            return "That button is out of date: ask `/usage idle` again."
        self._pool.submit(self._start, admin, channel, thread_ts, period)
        return None

    def start_now(
        self, *, admin: str, channel: str, thread_ts: str | None, period: str = ""
    ) -> str:
        """Fetch, plan and start (the background part of ``start_soon``)."""
        report, period = self.idle_report(self.clock.now(), period)
        members = self.service.plan(report)
        return self.service.start(
            members, admin=admin, channel=channel, thread_ts=thread_ts, period=period
        )

    def _start(self, admin: str, channel: str, thread_ts: str | None, period: str) -> None:
        try:
            self.start_now(admin=admin, channel=channel, thread_ts=thread_ts, period=period)
        except Refused as refusal:
            self._tell(admin, str(refusal))
        except Exception as error:
            log.exception("a reclaim campaign could not start")
            self._tell(admin, f"The campaign could not start: {error}. Please try again later.")

    def _tell(self, user_id: str, text: str) -> None:
        try:
            self.slack.chat_postMessage(channel=user_id, text=text)
        except SlackApiError as error:
            log.warning("could not tell %s: %s", user_id, error.response.get("error"))

    def status(self, user_id: str) -> str:
        """``/usage reclaim``: the current campaign, for admins; a refusal for anyone else."""
        refusal = self.admins.refusal(user_id)
        if refusal is not None:
            return refusal
        return status_text(self.service.summary(), escape=escape_mrkdwn)

    def home_section(self) -> str | None:
        """The campaign's lines for the admins' Home tab (mrkdwn); None before the first one."""
        summary = self.service.summary()
        return None if summary is None else status_text(summary, escape=escape_mrkdwn)

    def ask_from_home(self, user_id: str) -> None:
        """The Home tab's "Ask idle members": a campaign over the digest's period, its tally in
        the admin's DM (the tab is no channel); a refusal there too."""
        refusal = self.start_soon(admin=user_id, channel=user_id, thread_ts=None)
        if refusal is not None:
            self._tell(user_id, refusal)


def _filters(period: str) -> ReportFilters | None:
    """ "2026-11-01..2026-11-30" as report filters; None for "" or anything else."""
    start, _, end = period.partition("..")
    try:
        return ReportFilters(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))
    except ValueError:
        return None


def status_text(
    summary: CampaignSummary | None, *, escape: Callable[[str], str] = lambda text: text
) -> str:
    """The current campaign as plain lines (Slack mrkdwn and the terminal read it alike);
    ``escape`` is applied to what comes from BrowserStack (emails) before it reaches mrkdwn."""
    if summary is None:
        return "No reclaim campaign yet. Start one with `/usage reclaim ask`."
    t = summary.tally
    products = ", ".join(p.label for p in summary.products)
    state = {
        "open": "open",
        "reminded": "open (reminders sent)",
        "closing": "closing (posting the release list)",
        "closed": "closed",
    }.get(summary.state, summary.state)
    lines = [
        f"Reclaim campaign {summary.id[:8]} ({products}, period {summary.period}): {state}; "
        f"deadline {when(summary.deadline)}",
        f"Members {t.members} · asked {t.asked} · kept {t.kept} · released {t.released} · "
        f"no answer {t.no_answer} · not in Slack {t.not_in_slack} · guests {t.guests} · "
        f"DMs still to send {t.waiting}",
    ]
    if summary.releases:
        monthly = sum(r.monthly for r in summary.releases)
        lines.append(f"Release list: {len(summary.releases)} seats, ${monthly:,.0f} a month:")
        for row in summary.releases:
            done = " (done)" if row.done else ""
            email = escape(row.email)
            lines.append(f"  {email} · {row.product.label} · ${row.monthly:,.0f}{done}")
    if summary.not_in_slack:
        lines.append("Not in Slack: " + ", ".join(map(escape, summary.not_in_slack)))
    if summary.state == "closed":
        if summary.verified:
            monthly = sum(r.monthly for r in summary.verified)
            lines.append(
                f"Verified by a later report: {len(summary.verified)} seats reclaimed, "
                f"${monthly:,.0f} a month"
            )
        else:
            lines.append("Verified by a later report: nothing yet (the weekly digest checks)")
    return "\n".join(lines)
