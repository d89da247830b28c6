"""Posting the weekly digest: fetch the reports, claim the week, post, remember what was shown.

The org-wide digest goes to ``DIGEST_CHANNEL`` and each team in ``DIGEST_TEAM_CHANNELS`` gets its
own in its channel. Each (ISO week, channel) is claimed in the database before posting, so a
restart, a second running instance or a misfire never posts twice; a post that fails releases
its claim so that a later run can try again.

A summary Slack refuses (the bot is not in the channel, the channel is gone or archived) is
logged at ERROR with the fix, recorded as failed (``DigestHistory.fail``) and tried again every
hour (``RETRY_AFTER``) while the run is still due (``DIGEST_GRACE_HOURS``); ``failures`` says so
to whoever asks ``/usage digest``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import PollSchedule, run_report
from bot.browserstack.models import Report, ReportFilters, ReportKind
from bot.clock import Clock
from bot.digest.history import RETRY_AFTER, DigestEntry, DigestHistory, DigestState
from bot.digest.render import DigestMessages, ReclaimPart, prepare
from bot.digest.rules import Digest, digest_period, week_key
from bot.digest.schedule import due_run, grace_end, is_late
from bot.reports import cached
from bot.reports.index import index_of
from bot.settings import Settings
from bot.slack.messages import Answer, escape_mrkdwn
from bot.slack.people import NOBODY, People

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """One digest: the whole organisation's (``team`` None) or one team's, to one channel."""

    channel: str
    team: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    route: Route
    week: str
    posted: bool
    reason: str  # "posted", "already posted", or what went wrong


# What a workspace admin does about each error Slack gives for a channel the bot cannot post in.
_FIXES = {
    "not_in_channel": "invite @usagebot to {channel} (`/invite @usagebot` in the channel)",
    "channel_not_found": (
        "check {setting}: no channel {channel} is visible to the bot (invite @usagebot first"
        " if it is private)"
    ),
    "is_archived": "{channel} is archived: unarchive it, or point {setting} at another channel",
}


def failure_fix(error: str, route: Route) -> str:
    """What to do about ``error`` (Slack's, such as ``not_in_channel``) for ``route``."""
    setting = "DIGEST_TEAM_CHANNELS" if route.team else "DIGEST_CHANNEL"
    fix = _FIXES.get(error, "see Slack's error {error} (the bot's log has the details)")
    return fix.format(channel=f"<#{route.channel}>", setting=setting, error=error)


def routes(settings: Settings) -> list[Route]:
    """Where the digests go: the org-wide channel, then each team's own."""
    found = [Route(settings.digest_channel)] if settings.digest_channel else []
    found += [Route(channel, team) for team, channel in settings.team_channels.items()]
    return found


class DigestPoster:
    """Makes and posts digests; ``slack`` may be None for a preview without any Slack setting."""

    def __init__(
        self,
        *,
        settings: Settings,
        browserstack: BrowserStackClient,
        history: DigestHistory,
        clock: Clock,
        slack: WebClient | None = None,
    ) -> None:
        self.settings = settings
        self.browserstack = browserstack
        self.history = history
        self.slack = slack
        # Set by the runtime: a fresh report of this kind and period already in the shared
        # datasets (made for ``/usage digest``, a subscription, the Home tab), or None.
        self.cached: Callable[[ReportKind, ReportFilters], Report | None] = lambda k, f: None
        # Set by the runtime: puts a report this poster had to fetch itself into the shared
        # datasets, so that the commands, the Home tab and subscriptions of its period read it.
        self.share: Callable[[ReportKind, ReportFilters, Report], object] = lambda k, f, r: None
        self.clock = clock
        # Reclaim campaigns' part of the org-wide digest (set by bot.runtime when there are admins).
        self.reclaim: ReclaimPart | None = None

    def period(self, now: dt.datetime) -> ReportFilters:
        start, end = digest_period(now, idle_days=self.settings.idle_days)
        return ReportFilters(start=start, end=end)

    def fetch(self, now: dt.datetime) -> tuple[Report, Report]:
        """The user report of the digest's period, and the team report for rightsizing."""
        filters = self.period(now)
        return self._report(ReportKind.USER, filters), self._report(ReportKind.TEAM, filters)

    def fetch_users(self, now: dt.datetime, filters: ReportFilters | None = None) -> Report:
        """The user report of the digest's period, or of ``filters`` (reclaim campaigns ask
        about its idle seats)."""
        return self._report(ReportKind.USER, filters or self.period(now))

    def _report(self, kind: ReportKind, filters: ReportFilters) -> Report:
        """A fresh shared dataset of this kind and period if there is one, else BrowserStack's
        (then shared in turn)."""
        cached = self.cached(kind, filters)
        if cached is not None:
            return cached
        schedule = PollSchedule(
            initial=self.settings.report_poll_initial_seconds,
            maximum=self.settings.report_poll_max_seconds,
        )
        report = run_report(
            self.browserstack,
            kind,
            filters,
            deadline=self.settings.report_deadline_seconds,
            schedule=schedule,
        )
        try:
            self.share(kind, filters, report)
        except sa.exc.SQLAlchemyError:
            # Sharing only saves later questions a job: the digest goes out all the same.
            log.warning(
                "could not keep the digest's %s report in the shared datasets; the next"
                " question about its period asks BrowserStack again",
                kind,
                exc_info=True,
            )
        return report

    def build(
        self,
        users: Report,
        teams: Report | None,
        route: Route,
        *,
        now: dt.datetime,
        late: bool = False,
        chart: bool = True,
        week: str | None = None,
        request_id: str | None = None,
        buttons: Sequence[str] = (),
        notices: Sequence[str] = (),
        people: People = NOBODY,
    ) -> tuple[Digest, DigestMessages]:
        """One route's digest, compared with the last one posted to its channel."""
        week = week or week_key(now, self.settings.digest_zone)
        previous = self.history.previous_snapshot(route.channel, week) if route.channel else None
        index = index_of(users)
        return prepare(
            users.users,
            teams.teams if teams else None,
            member=index.user,
            derive=index.derived,
            teams_key=None if teams is None else (teams.filters, teams.fetched_at),
            # The org-wide idle seats, shared with /usage idle of the same report.
            idle=(
                cached.idle_seats(
                    users,
                    exclude=self.settings.idle_exclusions,
                    seat_prices=self.settings.seat_price_map,
                )
                if route.team is None and users.filters.start is not None
                else None
            ),
            start=users.filters.start or now.date(),
            end=users.filters.end or now.date(),
            now=now,
            exclude=self.settings.idle_exclusions,
            seat_prices=self.settings.seat_price_map,
            parallel_prices=self.settings.parallel_price_map,
            previous=previous,
            team=route.team,
            late=late,
            chart=chart,
            request_id=request_id,
            buttons=buttons,
            notices=notices,
            people=people,
            reclaim=self.reclaim,
        )

    def preview(
        self,
        users: Report,
        now: dt.datetime,
        *,
        teams: Report,
        request_id: str,
        buttons: Sequence[str],
        people: People = NOBODY,
    ) -> Answer:
        """``/usage digest``: the org-wide digest as it would be posted now, for the asker, with
        its thread behind Details and, first, why the last scheduled post failed if it did.

        ``people``: the asker's private preview may name members as mentions; the posted digest
        never does (a mention in a channel notifies)."""
        notices = self.failures(now)
        route = Route(self.settings.digest_channel or "")
        _, messages = self.build(
            users,
            teams,
            route,
            now=now,
            chart=False,
            request_id=request_id,
            buttons=buttons,
            notices=notices,
            people=people,
        )
        return messages.answer

    def run_due(self) -> list[Outcome]:
        """The work loop's check: post this week's digests if their time came and they are not out.

        Late (and marked so) when the bot catches up within the grace period after an outage.
        """
        now = self.clock.now()
        scheduled = due_run(self.settings, now)
        if scheduled is None:
            return []
        week = week_key(scheduled, self.settings.digest_zone)
        if not any(self._open(week, r, now) for r in routes(self.settings)):
            return []
        late = is_late(scheduled, now)
        if late and not any(self._retrying(week, r) for r in routes(self.settings)):
            log.warning("posting the weekly digest late, after a missed run")
        return self.post_all(now=now, late=late, week=week)

    def _retrying(self, week: str, route: Route) -> bool:
        entry = self.history.entry(week, route.channel)
        return entry is not None and entry.state is DigestState.FAILED

    def failures(self, now: dt.datetime) -> list[str]:
        """A sentence for each route whose last scheduled digest Slack refused (mrkdwn).

        What ``/usage digest`` tells the asker, beside the preview.
        """
        sentences = []
        deadline = grace_end(self.settings, now)
        for route in routes(self.settings):
            entry = self.history.latest(route.channel)
            if entry is None or not entry.failing or entry.error is None:
                continue
            # Escaped here: the error is Slack's string, the team name a setting's.
            team = f" (team {escape_mrkdwn(route.team)})" if route.team else ""
            error = escape_mrkdwn(entry.error)
            sentence = (
                f"The weekly digest of {entry.week} could not be posted to <#{route.channel}>"
                f"{team}: Slack said `{error}`. To fix it,"
                f" {failure_fix(error, route)}."
            )
            sentences.append(sentence + " " + _next_try(entry, deadline))
        return sentences

    def post_all(
        self, *, now: dt.datetime, late: bool = False, force: bool = False, week: str | None = None
    ) -> list[Outcome]:
        """Post every route's digest not yet posted this week (all of them with ``force``)."""
        week = week or week_key(now, self.settings.digest_zone)
        due = [r for r in routes(self.settings) if force or self._open(week, r, now)]
        outcomes = [
            Outcome(r, week, False, "already posted") for r in routes(self.settings) if r not in due
        ]
        if not due:
            return outcomes
        users, teams = self.fetch(now)
        for route in due:
            outcomes.append(
                self._post_one(route, users, teams, now=now, late=late, force=force, week=week)
            )
        return outcomes

    def _open(self, week: str, route: Route, now: dt.datetime) -> bool:
        """Not posted yet, nor being posted by someone alive."""
        entry = self.history.entry(week, route.channel)
        return entry is None or entry.open(now)

    def _post_one(
        self,
        route: Route,
        users: Report,
        teams: Report,
        *,
        now: dt.datetime,
        late: bool,
        force: bool,
        week: str,
    ) -> Outcome:
        # Built before the claim: a claimer that dies leaves its claim for ``ABANDONED_AFTER``,
        # so the claim comes just before the post, not a chart's drawing before it.
        # A retry after Slack refused the post is not late: the bot was running at the time.
        late = late and not self._retrying(week, route)
        digest, messages = self.build(users, teams, route, now=now, late=late, week=week)
        # The claim's own time (``now`` is the run's start, reports ago): its age says whether
        # its claimer may still be posting.
        claimed = self.history.claim(week, route.channel, now=self.clock.now(), late=late)
        if not claimed and not force:
            return Outcome(route, week, False, "already posted")
        try:
            ts = self._post_summary(route.channel, messages, week=week)
        except SlackApiError as error:
            reason = str(error.response.get("error", "slack_error"))
            fix = failure_fix(reason, route)
            log.error(
                "could not post the weekly digest of %s to %s: Slack said %s. To fix it, %s."
                " It is tried again every hour while the run is due (DIGEST_GRACE_HOURS).",
                week,
                route.channel,
                reason,
                fix,
            )
            if claimed:
                # Kept as failed, not released: every process waits an hour before the next try.
                self.history.fail(week, route.channel, now=self.clock.now(), error=reason)
            return Outcome(route, week, False, f"Slack refused: {reason}; to fix it, {fix}")
        outcome = Outcome(route, week, True, "posted")
        try:
            self._post_thread(route.channel, ts, messages)
        except SlackApiError as error:
            # The summary is out: posting it again would be a second digest in the channel.
            reason = error.response.get("error", "slack_error")
            log.error("the digest's thread in %s is incomplete: %s", route.channel, reason)
            outcome = Outcome(route, week, True, f"posted, but its thread is incomplete: {reason}")
        self.history.finish(week, route.channel, now=now, snapshot=digest.snapshot, message_ts=ts)
        return outcome

    def _post_summary(self, channel: str, messages: DigestMessages, *, week: str) -> str:
        assert self.slack is not None, "posting needs a Slack client"
        posted = self.slack.chat_postMessage(channel=channel, **messages.summary.payload())
        ts: str = posted["ts"]
        self.history.posted_summary(week, channel, ts)
        return ts

    def _post_thread(self, channel: str, ts: str, messages: DigestMessages) -> None:
        assert self.slack is not None, "posting needs a Slack client"
        for reply in messages.details:
            self.slack.chat_postMessage(channel=channel, thread_ts=ts, **reply.payload())
        for upload in (messages.csv, messages.chart):
            if upload is None:
                continue
            content = upload.content
            self.slack.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                filename=upload.filename,
                title=upload.title,
                file=io.BytesIO(content.encode() if isinstance(content, str) else content),
            )


def _next_try(entry: DigestEntry, deadline: dt.datetime | None) -> str:
    """When the failed digest is tried again, if it still is."""
    if entry.state is DigestState.CLAIMED:
        return "It is being tried again now."
    retry = entry.claimed_at + RETRY_AFTER
    if deadline is None or retry > deadline:
        return "It is not tried again: the next scheduled digest will be posted there as usual."
    # Numbers only: strftime's day and month names follow the process locale.
    return f"It is tried again every hour until {deadline:%Y-%m-%d %H:%M} UTC."
