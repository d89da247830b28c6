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

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec
from slack_sdk.errors import SlackApiError

from bot.browserstack.models import ReportFilters
from bot.clock import Clock
from bot.reports.leases import Leases
from bot.reports.question import Question, Source, Verb
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
from bot.slack.commands import UsageRequest
from bot.slack.delivery import SlackDelivery
from bot.slack.messages import Answer, Message

log = logging.getLogger(__name__)

# The ack waits at most this long for the database before telling the asker to try again:
# within Slack's 3 s, with room for the network.
RECEIVE_TIMEOUT = 2.5
# How long a check may take (Slack lookups, a placeholder post) before another process may.
CHECK_HOLD = 120.0


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
        workers: int = 8,
    ) -> None:
        self.service = service
        self.delivery = delivery
        self.access = access
        self.store = store
        self.leases = leases
        self.clock = clock
        self.digest_period = digest_period
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
            days = (filters.end - filters.start).days
            question = msgspec.structs.replace(
                question,
                start=filters.start,
                end=filters.end,
                period_label=f"the last {days} days",
            )
        return self.store.receive(
            new_request_id(),
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

    def check_soon(self, request_id: str) -> None:
        self._later(self.check, request_id)

    def say_soon(self, say: Callable[..., Any], thread_ts: str, message: Message) -> None:
        """Reply in a thread after the event is acknowledged (a reply needs no stored request)."""
        self._later(lambda: say(thread_ts=thread_ts, **message.payload()))

    # After the ack

    def check(self, request_id: str) -> None:
        """Who asks and about whom; refuse, or put the request on its report."""
        lease = self.leases.take(CHECK_HOLD)
        request = self.store.claim_request(
            request_id, lease, states=(RequestState.RECEIVED,), mine=True
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
            refused = views.error_message(title="I can't answer that", problem=refusal)
            self.delivery.show(request, refused)
            self.store.finish_request(request.id, RequestState.ANSWERED, now=self.clock.now())
            return
        if question != request.question:
            self.store.update_request(request.id, question=question.encode().decode())
        if self._needs_public_placeholder(request) and request.placeholder_ts is None:
            self.delivery.post_placeholder(request, self.placeholder(request))
        self.service.attach(request.id)

    def _needs_public_placeholder(self, request: PendingRequest) -> bool:
        """Public answers replace a visible placeholder, so that a retry edits, never reposts.

        A mention in a thread asking for someone's figures is answered privately instead.
        """
        question = request.question
        if question.public:
            return True
        return question.source is Source.MENTION and not question.personal

    def _vet(self, request: PendingRequest) -> tuple[str | None, Question]:
        """Why the bot will not answer (None: it will), and the question with its email."""
        question = request.question
        refusal = self.access.refusal(request.user_id)
        if refusal is not None:
            return refusal, question
        if question.verb is Verb.ME:
            email = self._email_of(request.user_id)
            if not email:
                return "Slack did not share your email address with me, so I cannot find you.", (
                    question
                )
            return None, question.about(email)
        if question.target_user_id and not question.target:
            email = self._email_of(question.target_user_id)
            if not email:
                return "I could not find that person's email address in Slack.", question
            return None, question.about(email)
        return None, question

    def _email_of(self, user_id: str) -> str | None:
        try:
            return self.access.person(user_id).email
        except SlackApiError:
            return None

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
        answer = self._reanswer(request, shared_by=click.user_id)
        if answer is None:
            return
        self.delivery.share(request, answer, shared_by=click.user_id)

    def _details(self, click: Click) -> None:
        user_id = click.user_id
        request = self._allowed(click, asker_only=None)
        if request is None:
            return
        answer = self._reanswer(request, shared_by=None)
        if answer is None:
            return
        shared = request.shared_ts if request.shared_ts != SHARING else None
        public_ts = shared or (request.placeholder_ts if request.question.public else None)
        parent = request.thread_ts or public_ts
        if parent:
            # Under the request's own public message (or the thread it was asked in), once.
            parts = len(answer.details) + (1 if answer.csv else 0)
            if request.details_posted >= parts or not self.store.claim_details(request.id):
                self.delivery.whisper(user_id, request, "The details are already in the thread.")
                return
            self.delivery.post_details(request.channel_id, parent, answer, request=request)
        else:
            self.delivery.send_direct(request, answer, user_id=user_id)

    def _reanswer(self, request: PendingRequest, *, shared_by: str | None) -> Answer | None:
        report = self.store.report(request.dataset_key)
        if report is None:
            expired = views.error_message(
                title="This report has expired",
                problem="The figures behind this message are no longer kept.",
                example=f"/usage {request.question.describe}",
            )
            self.delivery.ephemeral(request, expired)
            return None
        result = answers.compose(
            request.question,
            report,
            now=self.clock.now(),
            request_id=request.id,
            buttons=(),
            shared_by=shared_by,
            idle_exclude=self.delivery.idle_exclude,
            digest_preview=self.delivery.digest_preview,
            prices=self.delivery.prices,
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
