"""The running bot: every long-lived part, built once from the settings and the clock, wired.

The clock is made here (a ``SystemClock``) unless the caller brings one: tests and the loopback
stack bring a ``ShiftedClock``. Everything that needs the date or the time of day gets this one.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot import redact
from bot.browserstack.client import BrowserStackClient, RetryPolicy
from bot.browserstack.jobs import PollSchedule
from bot.browserstack.models import ReportKind
from bot.budget import account_budget
from bot.clock import Clock, SystemClock
from bot.digest.history import DigestHistory
from bot.digest.post import DigestPoster, routes
from bot.home.runner import HomeSchedule
from bot.home.store import HomeStore
from bot.home.subscriptions import SubscriptionDesk
from bot.home.tab import HomeTab
from bot.reclaim.service import ReclaimPolicy, ReclaimService
from bot.reclaim.starter import ReclaimDesk
from bot.reports.analysis import IdleSeatsReport
from bot.reports.leases import Leases, new_instance_id
from bot.reports.packed import PackedUsers
from bot.reports.question import Source
from bot.reports.service import ReportService, Timing
from bot.reports.store import Store
from bot.scheduling import Worker
from bot.server import RequestVerifier
from bot.settings import Settings
from bot.slack.access import AccessPolicy, Admins
from bot.slack.answers import Prices
from bot.slack.app import create_app
from bot.slack.delivery import SlackDelivery, retry_handlers
from bot.slack.frontdesk import FrontDesk
from bot.slack.people import SlackPeople
from bot.slack.views import ReclaimOffer
from bot.storage import open_database, safe_url

log = logging.getLogger(__name__)


class Usagebot:
    """Settings in; a Slack app, a work loop and everything between them out."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        settings.require("browserstack", "slack")
        if not settings.socket_mode:
            settings.require("slack_http")
        assert settings.slack_bot_token is not None
        redact.install()  # libraries log URLs too (httpx: every request's)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine = open_database(settings.database)
        self.store = Store(self.engine)
        self.leases = Leases(
            owner=new_instance_id(), clock=self.clock, stale=settings.instance_stale_seconds
        )
        self.budget = account_budget(settings, self.engine, clock=self.clock)
        # The work loop's client never waits for the budget (its steps come back later); the
        # digest's, on a thread of its own, may. The work loop's user reports land packed, each
        # member decoded and packed in turn: a list of 50,000 decoded members is ~56 MB.
        self.browserstack = BrowserStackClient.from_settings(
            settings,
            clock=self.clock,
            budget=self.budget,
            blocking=False,
            retry=retry,
            pack=PackedUsers,
        )
        self.digest_browserstack = BrowserStackClient.from_settings(
            settings, clock=self.clock, budget=self.budget, retry=retry
        )
        self.slack = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_base,
            retry_handlers=retry_handlers(),
            timeout=15,
        )
        self.delivery = SlackDelivery(
            client=self.slack,
            store=self.store,
            clock=self.clock,
            idle_exclude=sorted(settings.idle_exclusions),
            directory=SlackPeople(self.slack, self.engine, clock=self.clock),
            prices=Prices(settings.seat_price_map, settings.parallel_price_map),
        )
        self.service = ReportService(
            store=self.store,
            client=self.browserstack,
            notifier=self.delivery,
            leases=self.leases,
            clock=self.clock,
            timing=Timing(
                deadline=settings.report_deadline_seconds,
                cache_ttl=settings.report_cache_seconds,
                schedule=PollSchedule(
                    initial=settings.report_poll_initial_seconds,
                    maximum=settings.report_poll_max_seconds,
                ),
            ),
        )
        self.access = AccessPolicy(
            self.slack,
            clock=self.clock,
            allowed_users=settings.allowed_user_ids,
            allowed_usergroup=settings.allowed_usergroup,
        )
        self.admins = Admins(
            self.slack,
            clock=self.clock,
            user_ids=settings.reclaim_admin_ids,
            usergroup=settings.reclaim_admin_group,
        )
        self.digest = DigestPoster(
            settings=settings,
            browserstack=self.digest_browserstack,
            history=DigestHistory(self.engine),
            slack=self.slack,
            clock=self.clock,
        )
        self.delivery.digest_preview = self.digest.preview
        self.reclaim = ReclaimService(
            engine=self.engine,
            slack=self.slack,
            leases=self.leases,
            clock=self.clock,
            policy=ReclaimPolicy(
                deadline_days=settings.reclaim_deadline_days,
                snooze_days=settings.reclaim_snooze_days,
                automate=settings.reclaim_automate,
                prices=settings.seat_price_map,
            ),
            is_admin=self.admins.is_admin,
        )
        if self.admins.configured:
            self.digest.reclaim = self.reclaim.digest_part
            self.delivery.reclaim_offer = self.reclaim_offer
        self.reclaim_desk = ReclaimDesk(
            service=self.reclaim,
            admins=self.admins,
            slack=self.slack,
            clock=self.clock,
            fetch_users=self.digest.fetch_users,
            exclude=settings.idle_exclusions,
        )
        self.frontdesk = FrontDesk(
            service=self.service,
            delivery=self.delivery,
            access=self.access,
            store=self.store,
            leases=self.leases,
            clock=self.clock,
            digest_period=self.digest.period,
            idle_days=settings.idle_days,
        )
        # The Home tab, subscriptions and alerts (bot.home).
        self.home_store = HomeStore(self.engine)
        self.home = HomeTab(
            slack=self.slack,
            store=self.store,
            home_store=self.home_store,
            access=self.access,
            admins=self.admins,
            settings=settings,
            clock=self.clock,
            prices=self.delivery.prices,
            history=self.digest.history,
            refresh=self.frontdesk.request_home,
            campaign=self.reclaim_desk.home_section,
            ask_idle_members=self.reclaim_desk.ask_from_home,
        )
        self.frontdesk.home = self.home
        # The digest reads a fresh dataset of its period when there is one, as commands do.
        self.digest.cached = self.home.fresh_report
        # And what it had to fetch itself is shared in turn (``/usage idle`` right after it).
        self.digest.share = self.service.share
        self.frontdesk.subscriptions = SubscriptionDesk(
            home_store=self.home_store,
            access=self.access,
            admins=self.admins,
            settings=settings,
            clock=self.clock,
            team_names=self._team_names,
        )
        self.schedule = HomeSchedule(
            home_store=self.home_store,
            store=self.store,
            desk=self.frontdesk,
            slack=self.slack,
            settings=settings,
            clock=self.clock,
            prices=self.delivery.prices,
        )
        self.delivery.handovers = {Source.HOME: self.home, Source.ALERT: self.schedule}
        self.worker = Worker(
            store=self.store,
            leases=self.leases,
            clock=self.clock,
            step=self.service.step,
            check=self.frontdesk.check,
            deliver=self.service.deliver,
            digest=self.digest.run_due if routes(settings) else None,
            # Nothing is ever sent to members unless RECLAIM_ADMINS names someone.
            reclaim=self.reclaim.run if self.admins.configured else None,
            schedule=self.schedule.run_due,
            tick=settings.scheduler_tick_seconds,
            health_bound=settings.health_stale_seconds,
            retention_days=settings.dataset_retention_days,
        )
        self.service.kick = self.worker.kick
        self.app: App = create_app(self.frontdesk, client=self.slack, reclaim=self.reclaim_desk)

    def _team_names(self) -> list[str] | None:
        """The teams of the latest team report (None before the first one)."""
        report = self.store.latest_report(ReportKind.TEAM)
        return None if report is None else [team.name for team in report.teams]

    def reclaim_offer(
        self, user_id: str, idle: IdleSeatsReport, period: str
    ) -> ReclaimOffer | None:
        """A seat admin's "Ask N idle members…" under an idle answer (see ``ReclaimDesk.offer``)."""
        return self.reclaim_desk.offer(user_id, idle, period)

    def request_verifier(self) -> RequestVerifier:
        """HTTP mode's signature check, on this bot's clock."""
        secret = self.settings.slack_signing_secret
        assert secret is not None, "HTTP mode needs SLACK_SIGNING_SECRET"
        return RequestVerifier(secret.get_secret_value(), clock=self.clock)

    def start(self) -> None:
        """Start the work loop: it resumes whatever a previous run left unfinished."""
        self.worker.start()
        log.info(
            "usagebot started as %s on %s: %d reports in progress, %d requests open",
            self.leases.owner,
            safe_url(self.settings.database),
            len(self.store.pending_datasets()),
            self.store.open_requests(),
        )

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait``, finish what was started and hand the rest back."""
        self.frontdesk.close(wait=wait)
        self.reclaim_desk.close(wait=wait)
        self.worker.stop(wait=wait)
        if wait:
            self.store.retire(self.leases.owner)
        self.browserstack.close()
        self.digest_browserstack.close()
        self.engine.dispose()

    def health(self) -> dict[str, object]:
        """What /healthz reports: the work loop ticks, which means the database answers."""
        return {
            "ok": self.worker.healthy(),
            "instance": self.leases.owner,
            "runs_schedule": self.worker.leader,
        }
