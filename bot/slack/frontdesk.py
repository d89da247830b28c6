"""Between the listeners and the report service: store, check, hand over; and the buttons.

A listener calls ``receive`` before it acknowledges: the question is stored (one short
transaction) with the asker's lease on it, so that nothing acknowledged can be lost. The check
that follows (who is asking, their email for ``me``, a visible placeholder for public answers)
calls Slack, so it runs after the ack on the desk's own pool (``check_soon``); if the process
dies first, the work loop finds the request still ``received`` once its lease goes stale and
runs ``check`` itself.

Every button goes through the same access policy as the command, and acts only on what the
stored request says (its channel, its messages), never on what the click claims.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from slack_sdk.errors import SlackApiError

from bot.browserstack.models import ReportFilters
from bot.clock import Clock
from bot.digest.rules import DEFAULT_IDLE_DAYS
from bot.reports.leases import Leases
from bot.reports.question import Question, Source, Verb, last_days_label
from bot.reports.service import MAX_ATTEMPTS, ReportService
from bot.reports.store import (
    SHARING,
    Origin,
    PendingRequest,
    RequestState,
    Store,
    new_request_id,
)
from bot.slack import answers, views
from bot.slack.access import AccessPolicy
from bot.slack.commands import UsageRequest, parse_command
from bot.slack.delivery import SlackDelivery
from bot.slack.messages import Answer, Message

if TYPE_CHECKING:
    from bot.home.subscriptions import SubscriptionDesk
    from bot.home.tab import HomeTab

log = logging.getLogger(__name__)

# The ack waits at most this long for the database before telling the asker to try again:
# within Slack's 3 s, with room for the network.
RECEIVE_TIMEOUT = 2.5
# How long a check may take (Slack lookups, a placeholder post) before another process may.
CHECK_HOLD = 120.0
# A check this soon after its request was received here runs on the receiving lease, which
# nobody else may take for CHECK_HOLD: claiming the request again would change nothing but cost a
# transaction on every command. A check that starts later (the desk's pool was that busy) claims
# it anew, as the work loop's does. (A Cancel clicked meanwhile is found by ``attach``, as one
# clicked during the check always was.)
FRESH_CHECK_SECONDS = CHECK_HOLD / 2
# Threads for the work after an ack (checks, placeholders, cached answers): mostly waiting on
# Slack's Web API, a few at a time is enough; more would queue on the GIL and each costs memory.
WORKERS = 4


@dataclass(frozen=True, slots=True)
class Click:
    """A button click: which request, who clicked, and where (to answer them only)."""

    request_id: str
    user_id: str
    channel_id: str | None = None


class FrontDesk:
    def __init__(
        self,
        *,
        service: ReportService,
        delivery: SlackDelivery,
        access: AccessPolicy,
        store: Store,
        leases: Leases,
        clock: Clock,
        digest_period: Callable[[dt.datetime], ReportFilters] | None = None,
        idle_days: int = DEFAULT_IDLE_DAYS,
        workers: int = WORKERS,
    ) -> None:
        self.service = service
        self.delivery = delivery
        self.access = access
        self.store = store
        self.leases = leases
        self.clock = clock
        self.digest_period = digest_period
        self.idle_days = idle_days  # IDLE_DAYS: the default period of idle and digest
        # Set by the runtime (bot.home): the Home tab, and the subscription commands.
        self.home: HomeTab | None = None
        self.subscriptions: SubscriptionDesk | None = None
        self._work = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="frontdesk")

    def close(self, *, wait: bool = True) -> None:
        """Finish the work already queued (unless ``wait`` is False), then stop."""
        self._work.shutdown(wait=wait, cancel_futures=not wait)

    # What listeners call before they acknowledge

    def today(self) -> dt.date:
        return self.clock.today()

    def first_time_seen(self, event_id: str) -> bool:
        """Slack retries an event it thinks went unanswered: handle each event id once."""
        return self.store.first_time_seen(event_id, now=self.clock.now())

    def receive(
        self,
        request: UsageRequest,
        origin: Origin,
        *,
        source: Source,
        event_id: str | None = None,
        request_id: str | None = None,
    ) -> PendingRequest | None:
        """Store a question before it is acknowledged; raises the database's error if it can't.

        None when ``event_id`` was received before (Slack retried the event).
        """
        question = request.question(source=source)
        if question.verb is Verb.DIGEST and self.digest_period is not None:
            # The digest covers its own period (IDLE_DAYS), whatever the command said.
            filters = self.digest_period(self.clock.now())
            assert filters.start
            assert filters.end
            question = msgspec.structs.replace(
                question,
                start=filters.start,
                end=filters.end,
                period_label=last_days_label(filters.start, filters.end),
            )
        return self.store.receive(
            request_id or new_request_id(),
            question,
            origin,
            lease=self.leases.take(CHECK_HOLD),
            timeout=RECEIVE_TIMEOUT,
            event_id=event_id,
        )

    def placeholder(self, request: PendingRequest) -> Message:
        """What the ack shows while the report is made."""
        return views.placeholder_message(
            title=answers.title(request.question),
            period_label=request.question.period_label,
            status="starting",
            elapsed=None,
            request_id=request.id,
        )

    def check_soon(self, request: PendingRequest) -> None:
        """Check ``request``, as ``receive`` just stored it, after the ack."""
        self._later(self._check_received, request)

    def _check_received(self, request: PendingRequest) -> None:
        self.check(request.id, received=request)

    def say_soon(self, say: Callable[..., Any], thread_ts: str, message: Message) -> None:
        """Reply in a thread after the event is acknowledged (a reply needs no stored request)."""
        self._later(lambda: say(thread_ts=thread_ts, **message.payload()))

    # After the ack

    def check(self, request_id: str, *, received: PendingRequest | None = None) -> None:
        """Who asks and about whom; refuse, or put the request on its report.

        ``received``: the request as this process's ``receive`` returned it, still on its lease.
        """
        lease = self.leases.take(CHECK_HOLD)
        fresh = (
            received is not None
            and (lease.now - received.created_at).total_seconds() < FRESH_CHECK_SECONDS
        )
        request = (
            received
            if fresh
            else self.store.claim_request(
                request_id, lease, states=(RequestState.RECEIVED,), mine=True
            )
        )
        if request is None:
            return  # cancelled, done, or being checked elsewhere
        try:
            self._check(request)
        except Exception:
            if request.attempts >= MAX_ATTEMPTS:
                report_unexpected_to(self.delivery, request)
                self.store.finish_request(request.id, RequestState.ANSWERED, now=self.clock.now())
            else:
                retry = self.clock.now() + dt.timedelta(seconds=self.service.timing.retry_after)
                self.store.release_request(request.id, lease.owner, retry_at=retry)
            raise

    def _check(self, request: PendingRequest) -> None:
        refusal, question = self._vet(request)
        if refusal is not None:
            self.delivery.show(request, refusal)
            self.store.finish_request(request.id, RequestState.ANSWERED, now=self.clock.now())
            return
        completed = question != request.question
        if completed:
            # Stored as the request is attached (``attach``): one transaction fewer for ``me``.
            request = dataclasses.replace(request, question=question)
            if question.target_user_id and not self._needs_public_placeholder(request):
                # The ack could only say "the person you mentioned": now it names them, before
                # any answer can come (a cached report answers within ``attach``).
                self.delivery.progress(request, "starting")
        if self._needs_public_placeholder(request) and request.placeholder_ts is None:
            posted = self.delivery.post_placeholder(request, self.placeholder(request))
            if posted is None and request.question.source is Source.SUBSCRIPTION:
                # No response_url to fall back on: the subscriber hears why, in their DMs.
                self.delivery.send_note(
                    request.user_id,
                    f"I could not post your subscription ({request.question.describe}) in "
                    f"<#{request.channel_id}>: invite me there with `/invite @usagebot`. "
                    "The next one comes at its usual time.",
                )
                self.store.finish_request(request.id, RequestState.ANSWERED, now=self.clock.now())
                return
        self.service.attach(request.id, question=question if completed else None)

    def _needs_public_placeholder(self, request: PendingRequest) -> bool:
        """Public answers replace a visible placeholder, so that a retry edits, never reposts.

        A mention in a thread asking for someone's figures is answered privately instead.
        """
        question = request.question
        if question.public:
            return True
        return question.source is Source.MENTION and not question.personal

    def _vet(self, request: PendingRequest) -> tuple[Message | None, Question]:
        """Why the bot will not answer (None: it will), and the question with its email.

        ``me`` and ``user @person`` both find their email through the one cached ``users.info``
        (``AccessPolicy.person``); an email asked for directly needs no lookup.
        """
        question = request.question
        if question.source is Source.ALERT:
            return None, question  # the bot's own check for ALERT_CHANNEL: nobody to vet
        refusal = self.access.refusal(request.user_id)
        if refusal is not None:
            return _refused(refusal), question
        if question.verb is Verb.ME:
            email = self._email_of(request.user_id)
            if not email:
                return _refused(
                    "Slack did not share your email address with me, so I cannot find you."
                ), question
            return None, question.about(email)
        if question.target_user_id and not question.target:
            problem, email = self._mentioned(question.target_user_id)
            if email is None:
                return _refused(problem, example="user name@company.com"), question
            return None, question.about(email)
        return None, question

    def _mentioned(self, user_id: str) -> tuple[str, str | None]:
        """The email of the person ``user @person`` names, or why there is none."""
        try:
            person = self.access.person(user_id)
        except SlackApiError as error:
            code = error.response.get("error")
            log.info("users.info for a mentioned user failed: %s", code)
            if code == "user_not_found":
                return (
                    f"Slack does not know the person you mentioned ({user_id}): pick them "
                    "from Slack's @ list, or ask by their email address.",
                    None,
                )
            return "I could not look that person up in Slack just now. Please try again.", None
        who = person.name or "That person"
        if person.bot:
            return f"{who} is an app, not a person: apps have no BrowserStack usage.", None
        if not person.email:
            return (
                f"Slack did not share {who}'s email address with me, so I cannot match them "
                "to BrowserStack. Ask by their email address instead.",
                None,
            )
        return "", person.email

    def _email_of(self, user_id: str) -> str | None:
        try:
            return self.access.person(user_id).email
        except SlackApiError:
            return None

    # The Home tab (bot.home): opened, and its buttons

    def later(self, work: Callable[..., None], /, *args: Any) -> None:
        """Run ``work`` after the ack, on the desk's pool (errors logged once)."""
        self._later(work, *args)

    def request_home(self, request: UsageRequest, user_id: str) -> None:
        """Ask for the Home tab's reports for ``user_id``: answered by publishing the tab."""
        origin = Origin(user_id=user_id, channel_id=user_id)
        pending = self.receive(request, origin, source=Source.HOME)
        assert pending is not None
        self.check(pending.id, received=pending)

    def ask_in_dm(self, user_id: str, text: str) -> None:
        """Run ``/usage <text>`` for ``user_id`` and answer in their DM with the bot (the Home
        tab's and the alerts' buttons): the same flow as the command, placeholder and all."""
        request = dataclasses.replace(
            parse_command(text, today=self.today(), idle_days=self.idle_days), public=True
        )
        origin = Origin(user_id=user_id, channel_id=self.delivery.dm_channel(user_id))
        pending = self.receive(request, origin, source=Source.COMMAND)
        assert pending is not None
        self.check(pending.id, received=pending)

    # Buttons: each checks the policy first, then acts on the stored request only.

    def cancel(self, click: Click) -> None:
        self._later(self._cancel, click)

    def share(self, click: Click) -> None:
        """Post a private answer in the channel, on its asker's say-so."""
        self._later(self._share, click)

    def details(self, click: Click) -> None:
        """The breakdown: under the public message, or in the asker's DMs for a private one."""
        self._later(self._details, click)

    def _allowed(self, click: Click, *, asker_only: str | None) -> PendingRequest | None:
        """The request, if the clicker may act on it; else they are told why not."""
        user_id = click.user_id
        request = self.store.request(click.request_id)
        if request is None:
            self.delivery.whisper(
                user_id, None, "That request is no longer known to me.", channel=click.channel_id
            )
            return None
        refusal = self.access.refusal(user_id)
        if refusal is not None:
            self.delivery.whisper(user_id, request, refusal)
            return None
        visible = request.question.public or request.shared_ts not in (None, SHARING)
        if request.user_id != user_id and (asker_only or not visible):
            self.delivery.whisper(
                user_id, request, asker_only or "Only the person who asked can do that."
            )
            return None
        return request

    def _cancel(self, click: Click) -> None:
        request = self._allowed(click, asker_only="Only the person who asked can cancel it.")
        if request is not None:
            self.service.cancel(request.id, by_user=click.user_id)

    def _share(self, click: Click) -> None:
        request = self._allowed(click, asker_only="Only the person who asked can share it.")
        if request is None:
            return
        answer = self._reanswer(request, shared_by=click.user_id, public=True)
        if answer is None:
            return
        self.delivery.share(request, answer, shared_by=click.user_id)

    def _details(self, click: Click) -> None:
        user_id = click.user_id
        request = self._allowed(click, asker_only=None)
        if request is None:
            return
        shared = request.shared_ts if request.shared_ts != SHARING else None
        public_ts = shared or (request.placeholder_ts if request.question.public else None)
        parent = request.thread_ts or public_ts
        answer = self._reanswer(request, shared_by=None, public=parent is not None)
        if answer is None:
            return
        if parent:
            # Under the request's own public message (or the thread it was asked in), once.
            parts = len(answer.details) + (1 if answer.csv else 0)
            if request.details_posted >= parts or not self.store.claim_details(request.id):
                self.delivery.whisper(user_id, request, "The details are already in the thread.")
                return
            self.delivery.post_details(request.channel_id, parent, answer, request=request)
        else:
            self.delivery.send_direct(request, answer, user_id=user_id)

    def _reanswer(
        self, request: PendingRequest, *, shared_by: str | None, public: bool
    ) -> Answer | None:
        reports = self.service.reports(request.question)
        if reports is None:
            expired = views.error_message(
                title="This report has expired",
                problem="The figures behind this message are no longer kept.",
                example=f"/usage {request.question.describe}",
            )
            self.delivery.ephemeral(request, expired)
            return None
        result = self.delivery.compose(
            request, reports, public=public, buttons=(), shared_by=shared_by
        )
        return result if isinstance(result, Answer) else None

    # The pool

    def _later(self, work: Callable[..., None], /, *args: Any) -> None:
        self._work.submit(self._run, work, args)

    @staticmethod
    def _run(work: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            work(*args)
        except Exception:
            # Logged once, with its traceback; the request's lease brings it back later.
            log.exception("%s failed", getattr(work, "__name__", work))


def _refused(problem: str, *, example: str | None = None) -> Message:
    return views.error_message(title="I can't answer that", problem=problem, example=example)


def report_unexpected_to(delivery: SlackDelivery, request: PendingRequest) -> None:
    """Tell the asker that their request failed for a reason of ours, not theirs."""
    try:
        delivery.show(
            request,
            views.error_message(
                title="Something went wrong on my side",
                problem="The error has been logged for the bot's admins. Please try again.",
            ),
        )
    except Exception:
        log.warning("could not tell the asker of %s about the error either", request.id)
