"""Getting messages to the person who asked, wherever they asked, within Slack's rules.

Private answers replace the ephemeral placeholder through the command's ``response_url``; Slack
allows five uses within 30 minutes, so uses are counted in the store and, once spent or expired,
the bot falls back to ``chat.postEphemeral`` and then to a direct message. Public answers replace
a public placeholder posted (and recorded) before the report was asked for, so answering again
after a crash edits that message instead of posting a second one; their details go in its thread,
counted as they are posted, so a resumed answer goes on where it stopped. Private details go to
the asker's direct messages, the one private place a thread can live.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.browserstack import errors
from bot.browserstack.models import Report, ReportKind
from bot.clock import Clock
from bot.reports.analysis import IdleSeatsReport
from bot.reports.question import Source
from bot.reports.store import PendingRequest, Store
from bot.slack import answers, views
from bot.slack.messages import Answer, Message
from bot.slack.people import NOBODY, People, SlackPeople

log = logging.getLogger(__name__)

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = dt.timedelta(minutes=30)
# Keep two response_url uses for the answer and one spare, whatever happens before it.
_PROGRESS_USES = RESPONSE_URL_USES - 2
# Where the bot cannot post: the answer goes through the command's response_url instead.
_NOT_POSTABLE = ("not_in_channel", "channel_not_found", "is_archived")


def retry_handlers() -> list[Any]:
    """Retry connection errors, 429s (honouring Retry-After) and 5xx answers from Slack."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


class Handover(Protocol):
    """Answers that are not messages to the asker: the Home tab's refresh, the alerts' check
    (``bot.home``). Told the same news as the asker would be."""

    def landed(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None: ...

    def failed(self, request: PendingRequest, problem: str) -> None: ...


class CannotAnswer(Exception):
    """No way to reach the asker is left (the request is tried again later)."""


class SlackDelivery:
    """The Slack side of ReportService's Notifier, and the poster for buttons' results."""

    def __init__(
        self,
        *,
        client: WebClient,
        store: Store,
        clock: Clock,
        idle_exclude: Sequence[str] = (),
        directory: SlackPeople | None = None,
        prices: answers.Prices = answers.NO_PRICES,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.idle_exclude = tuple(idle_exclude)
        # The workspace's members by email: mentions in private answers only (``people``).
        self.directory = directory
        self.prices = prices
        # Set by the runtime: renders ``/usage digest`` from a user report.
        self.digest_preview: answers.DigestPreview | None = None
        # Set by the runtime when there are seat admins: (asker, idle seats, period) -> the
        # "Ask N idle members…" button of a private idle answer, None for anyone else.
        self.reclaim_offer: (
            Callable[[str, IdleSeatsReport, str], views.ReclaimOffer | None] | None
        ) = None
        # Set by the runtime: who answers requests of these sources instead of a message.
        self.handovers: dict[Source, Handover] = {}

    def _handover(self, request: PendingRequest) -> Handover | None:
        return self.handovers.get(request.question.source)

    # Notifier

    def progress(self, request: PendingRequest, status: str) -> None:
        if self._handover(request) is not None:
            return  # the Home tab already says "refreshing…"; alerts have nobody to tell
        if request.response_url is None and request.placeholder_ts is None:
            return  # an ephemeral placeholder in a thread cannot be updated; don't add noise
        if (
            request.placeholder_ts is None
            and request.response_url
            and request.response_url_uses >= _PROGRESS_USES
        ):
            return
        elapsed = self.clock.now() - request.created_at
        message = views.placeholder_message(
            title=answers.title(request.question),
            period_label=request.question.period_label,
            status=status,
            elapsed=errors.duration(elapsed.total_seconds()),
            request_id=request.id,
        )
        self.show(request, message)

    def answer(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None:
        handover = self._handover(request)
        if handover is not None:
            handover.landed(request, reports)
            return
        question = request.question
        public = question.public or request.placeholder_ts is not None
        threaded = question.thread
        buttons = () if public and threaded else ("details",) if public else ("share", "details")
        result = self.compose(request, reports, public=public, buttons=buttons)
        if isinstance(result, Message):
            self.show(request, result)
        elif public:
            self._answer_public(request, result, threaded=threaded)
        elif threaded and result.details:
            self.send_direct(request, result)
        else:
            self.show(request, result.summary)

    def compose(
        self,
        request: PendingRequest,
        reports: Mapping[ReportKind, Report],
        *,
        public: bool,
        buttons: Sequence[str],
        shared_by: str | None = None,
    ) -> Answer | Message:
        """The answer to a request from its reports.

        Members are Slack mentions only where the asker alone reads them: a mention in a
        channel notifies that person, and a usage answer must not ping anyone by surprise.
        """
        question = request.question
        return answers.compose(
            question,
            reports[question.kind],
            now=self.clock.now(),
            request_id=request.id,
            buttons=buttons,
            shared_by=shared_by,
            users=reports.get(ReportKind.USER) if question.kind is not ReportKind.USER else None,
            teams=reports.get(ReportKind.TEAM) if question.kind is not ReportKind.TEAM else None,
            people=self.people(public=public),
            idle_exclude=self.idle_exclude,
            digest_preview=self.digest_preview,
            prices=self.prices,
            reclaim=(
                functools.partial(self.reclaim_offer, request.user_id)
                if self.reclaim_offer is not None and not public
                else None
            ),
        )

    def people(self, *, public: bool) -> People:
        """Who an answer names as Slack mentions: workspace members where only the asker reads
        it (ephemeral, DM); nobody in anything posted in a channel, where a mention pings."""
        if public or self.directory is None:
            return NOBODY
        return self.directory.for_answer()

    def fail(self, request: PendingRequest, failure: errors.Failure) -> None:
        handover = self._handover(request)
        if handover is not None:
            handover.failed(request, failure.message)
            return
        self.show(request, failure_message(failure))

    def cancelled(
        self, request: PendingRequest, *, by_user: str | None, note: str | None = None
    ) -> None:
        handover = self._handover(request)
        if handover is not None:
            handover.failed(request, "The report was cancelled.")
            return
        message = views.cancelled_message(
            title=answers.title(request.question).replace("Generating", "Cancelled"),
            by_user=by_user,
            note=note,
        )
        self.show(request, message)

    # Where messages go

    def show(self, request: PendingRequest, message: Message) -> None:
        """Replace what the asker sees (the placeholder) with ``message``, in place."""
        if request.placeholder_ts:
            self.client.chat_update(
                channel=request.channel_id, ts=request.placeholder_ts, **message.payload()
            )
            return
        if self._respond(request, {**message.payload(), "replace_original": True}):
            return
        self.ephemeral(request, message)

    def ephemeral(self, request: PendingRequest, message: Message) -> None:
        """Only the asker sees it; a direct message when the channel refuses ephemerals."""
        try:
            self.client.chat_postEphemeral(
                channel=request.channel_id,
                user=request.user_id,
                thread_ts=request.thread_ts,
                **message.payload(),
            )
        except SlackApiError as error:
            log.info("ephemeral refused (%s); sending a DM", error.response.get("error"))
            self.client.chat_postMessage(channel=self._dm(request.user_id), **message.payload())

    def whisper(
        self,
        user_id: str,
        request: PendingRequest | None,
        text: str,
        *,
        channel: str | None = None,
    ) -> None:
        """A short private note to someone who clicked: in the request's channel (or the one
        they clicked in when there is no request), else in a DM."""
        where = request.channel_id if request else channel
        if where is not None:
            try:
                self.client.chat_postEphemeral(
                    channel=where,
                    user=user_id,
                    text=text,
                    thread_ts=request.thread_ts if request else None,
                )
                return
            except SlackApiError as error:
                log.info("ephemeral refused (%s); sending a DM", error.response.get("error"))
        self.client.chat_postMessage(channel=self._dm(user_id), text=text)

    def post_placeholder(self, request: PendingRequest, message: Message) -> str | None:
        """Post a public placeholder for ``request`` and record it; None where the bot can't.

        The answer will replace it (``chat.update``), so a resumed answer never posts twice.
        """
        try:
            posted = self.client.chat_postMessage(
                channel=request.channel_id, thread_ts=request.thread_ts, **message.payload()
            )
        except SlackApiError as error:
            if error.response.get("error") not in _NOT_POSTABLE:
                raise
            log.info("cannot post in %s: answering through the response_url", request.channel_id)
            return None
        ts: str = posted["ts"]
        self.store.update_request(request.id, placeholder_ts=ts)
        if request.response_url:
            # The private "starting" ack is replaced by the public placeholder.
            self._respond(request, {"delete_original": True})
        return ts

    def _answer_public(self, request: PendingRequest, answer: Answer, *, threaded: bool) -> None:
        summary = answer.summary.payload()
        if request.placeholder_ts:
            self.client.chat_update(
                channel=request.channel_id, ts=request.placeholder_ts, **summary
            )
            parent = request.thread_ts or request.placeholder_ts
        else:
            # The bot cannot post in this channel: the command's response_url still can.
            payload = {**summary, "response_type": "in_channel", "replace_original": False}
            if not self._respond(request, payload):
                raise CannotAnswer(
                    f"neither chat.update nor the response_url reach {request.channel_id}"
                )
            self._respond(request, {"delete_original": True})
            return
        if threaded:
            self.post_details(request.channel_id, parent, answer, request=request)

    def share(self, request: PendingRequest, answer: Answer, *, shared_by: str) -> None:
        """Post a private answer in its channel, once; the asker's view says where it went."""
        if not self.store.claim_share(request.id):
            self.whisper(shared_by, request, "This answer is already in the channel.")
            return
        try:
            posted = self.client.chat_postMessage(
                channel=request.channel_id, thread_ts=request.thread_ts, **answer.summary.payload()
            )
        except Exception:
            self.store.update_request(request.id, shared_ts=None)  # not shared: may try again
            raise
        self.store.update_request(request.id, shared_ts=posted["ts"])
        note = views.cancelled_message(
            title="Shared in the channel", by_user=None, note="Everyone here can see it now."
        )
        self.show(request, note)

    def send_direct(
        self, request: PendingRequest, answer: Answer, *, user_id: str | None = None
    ) -> None:
        """The summary and its details, privately: a DM thread only the asker can read."""
        channel = self._dm(user_id or request.user_id)
        posted = self.client.chat_postMessage(channel=channel, **answer.summary.payload())
        self.post_details(channel, posted["ts"], answer)
        note = views.cancelled_message(
            title="Sent to you as a direct message",
            by_user=None,
            note="The summary is in your DMs with me, with the details in its thread.",
        )
        if user_id is None:
            self.show(request, note)

    def post_details(
        self,
        channel: str,
        thread_ts: str,
        answer: Answer,
        *,
        request: PendingRequest | None = None,
    ) -> None:
        """The answer's thread replies and CSV; with ``request``, resumed from where it stopped."""
        done = request.details_posted if request else 0
        parts: list[Message | None] = (
            [*answer.details, None] if answer.csv else list(answer.details)
        )
        for index, part in enumerate(parts):
            if index < done:
                continue
            if part is None:
                assert answer.csv is not None
                self.client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    filename=answer.csv.filename,
                    title=answer.csv.title,
                    file=io.BytesIO(answer.csv.content.encode("utf-8")),
                )
            else:
                self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, **part.payload())
            if request is not None:
                self.store.update_request(request.id, details_posted=index + 1)

    def _respond(self, request: PendingRequest, payload: dict[str, Any]) -> bool:
        """Use the response_url if it still has uses and life left; False when it cannot."""
        url = request.response_url
        if not url:
            return False
        if self.clock.now() - request.created_at > RESPONSE_URL_LIFETIME:
            return False
        if self.store.use_response_url(request.id) > RESPONSE_URL_USES:
            return False
        response = WebhookClient(url, retry_handlers=retry_handlers()).send_dict(payload)
        if response.status_code != 200:
            log.info("response_url refused: %s %s", response.status_code, response.body)
            return False
        return True

    def send_note(self, user_id: str, text: str) -> None:
        """A short note to ``user_id`` in their DM with the bot (``text`` is mrkdwn we wrote)."""
        self.client.chat_postMessage(channel=self._dm(user_id), text=text)

    def dm_channel(self, user_id: str) -> str:
        """The id of ``user_id``'s DM with the bot."""
        return self._dm(user_id)

    def _dm(self, user_id: str) -> str:
        channel: str = self.client.conversations_open(users=user_id)["channel"]["id"]
        return channel


def report_unexpected(error: BaseException, *, response_url: str | None) -> None:
    """A bug, not a BrowserStack or Slack failure: logged once with its traceback, the user told."""
    log.error("unexpected error while handling a Slack request", exc_info=error)
    if not response_url:
        return
    message = views.error_message(
        title="Something went wrong on my side",
        problem="The error has been logged for the bot's admins. Please try again.",
    )
    try:
        WebhookClient(response_url).send_dict({**message.payload(), "response_type": "ephemeral"})
    except Exception:
        log.warning("could not tell the user about the error either")


_FAILURES: dict[errors.FailureKind, tuple[str, str | None]] = {
    errors.FailureKind.CREDENTIALS: (
        "BrowserStack refused the bot's credentials",
        "A workspace admin needs to check the bot's BrowserStack username and access key.",
    ),
    errors.FailureKind.UNREACHABLE: (
        "BrowserStack is not answering",
        "Nothing is lost on your side: try the same command again in a few minutes.",
    ),
    errors.FailureKind.RATE_LIMITED: (
        "BrowserStack is rate limiting the bot",
        "Try again in a few minutes.",
    ),
    errors.FailureKind.TIMED_OUT: (
        "The report took too long",
        "Try a shorter period, or again later when BrowserStack is less busy.",
    ),
    errors.FailureKind.JOB_FAILED: (
        "BrowserStack could not make the report",
        "Try again; if it keeps failing, BrowserStack support can check the account.",
    ),
    errors.FailureKind.OTHER: ("The report could not be made", None),
}


def failure_message(failure: errors.Failure) -> Message:
    """The message for each way a report can fail: what happened, and what to do."""
    title, hint = _FAILURES[failure.kind]
    return views.error_message(title=title, problem=failure.message, hint=hint)
