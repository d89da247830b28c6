"""The running bot: every long-lived part, built once from the settings and wired together."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from slack_bolt import App
from slack_sdk import WebClient

from bot import scheduling
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import PollSchedule
from bot.browserstack.models import Report
from bot.digest.history import DigestHistory
from bot.digest.post import DigestPoster, Route, routes
from bot.digest.schedule import ensure_digest_job
from bot.reports.service import ReportService, Timing
from bot.reports.store import Store, create_engine
from bot.settings import Settings
from bot.slack.access import AccessPolicy
from bot.slack.app import create_app
from bot.slack.delivery import SlackDelivery, retry_handlers
from bot.slack.frontdesk import FrontDesk
from bot.slack.messages import Answer

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Usagebot:
    """Settings in; a Slack app, a scheduler and everything between them out."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        browserstack: BrowserStackClient | None = None,
    ) -> None:
        settings.require("browserstack", "slack")
        if not settings.socket_mode:
            settings.require("slack_http")
        assert settings.slack_bot_token is not None
        self.settings = settings
        self._clock = clock
        self.engine = create_engine(settings.database_url)
        self.store = Store(self.engine)
        self.browserstack = browserstack or BrowserStackClient.from_settings(settings)
        self.slack = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_base,
            retry_handlers=retry_handlers(),
            timeout=15,
        )
        self.scheduler = scheduling.build_scheduler(self.engine)
        self.polls = scheduling.Polls(self.scheduler)
        self.delivery = SlackDelivery(
            client=self.slack, store=self.store, clock=clock, idle_exclude=settings.idle_exclusions
        )
        self.service = ReportService(
            store=self.store,
            client=self.browserstack,
            notifier=self.delivery,
            schedule_poll=self.polls.schedule,
            cancel_poll=self.polls.cancel,
            timing=Timing(
                deadline=settings.report_deadline_seconds,
                cache_ttl=settings.report_cache_seconds,
                schedule=PollSchedule(
                    initial=settings.report_poll_initial_seconds,
                    maximum=settings.report_poll_max_seconds,
                ),
            ),
            clock=clock,
        )
        self.access = AccessPolicy(
            self.slack,
            allowed_users=settings.allowed_user_ids,
            allowed_usergroup=settings.allowed_usergroup,
        )
        self.digest = DigestPoster(
            settings=settings,
            browserstack=self.browserstack,
            history=DigestHistory(self.engine),
            slack=self.slack,
            clock=clock,
        )
        self.delivery.digest_preview = self._digest_preview
        self.frontdesk = FrontDesk(
            service=self.service,
            delivery=self.delivery,
            access=self.access,
            store=self.store,
            clock=clock,
            digest_period=self.digest.period,
        )
        self.app: App = create_app(self, client=self.slack)

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        return self._clock().date()

    def start(self) -> None:
        """Start polling; resume whatever a previous run left unfinished."""
        scheduling.install(self.service, self.digest)
        # Paused until the jobs are in order, so that a digest missed during an outage is seen
        # (and run late) rather than replaced by next week's.
        self.scheduler.start(paused=True)
        if routes(self.settings):
            ensure_digest_job(self.scheduler, self.settings, scheduling.run_weekly_digest)
        resumed = self.service.recover(has_poll=self.polls.has)
        self.scheduler.resume()
        pending = len(self.store.pending_datasets())
        log.info("usagebot started: %d reports in progress, %d resumed", pending, resumed)

    def stop(self, *, wait: bool = True) -> None:
        self.frontdesk.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        scheduling.install(None)
        self.browserstack.close()
        self.engine.dispose()

    def health(self) -> dict[str, object]:
        """What /healthz reports: the scheduler runs and the database answers."""
        pending = len(self.store.pending_datasets())
        return {"ok": self.scheduler.running, "reports_in_progress": pending}

    def _digest_preview(self, report: Report, now: dt.datetime) -> Answer:
        """``/usage digest``: this week's digest as it would be posted, for the asker only."""
        channel = self.settings.digest_channel or ""
        _, messages = self.digest.build(report, None, Route(channel), now=now, chart=False)
        return messages.answer
