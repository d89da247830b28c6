"""Getting messages to the person who asked, wherever they asked, within Slack's rules.

Private answers replace the ephemeral placeholder through the command's ``response_url``; Slack
allows five uses within 30 minutes, so uses are counted in the store and, once spent or expired,
the bot falls back to ``chat.postEphemeral`` and then to a direct message. Public answers (and
Share) are posted in the channel, and details go in a thread under them. Private details go to
the asker's direct messages, the one private place a thread can live.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.browserstack import errors
from bot.browserstack.models import Report
from bot.reports.store import PendingRequest, Store
from bot.slack import answers, views
from bot.slack.messages import Answer, Message

log = logging.getLogger(__name__)

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = dt.timedelta(minutes=30)
# Keep two response_url uses for the answer and one spare, whatever happens before it.
_PROGRESS_USES = RESPONSE_URL_USES - 2


def retry_handlers() -> list[Any]:
    """Retry connection errors, 429s (honouring Retry-After) and 5xx answers from Slack."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


class SlackDelivery:
    """The Slack side of ReportService's Notifier, and the poster for buttons' results."""

    def __init__(
        self,
        *,
        client: WebClient,
        store: Store,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        idle_exclude: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.store = store
        self.idle_exclude = tuple(idle_exclude)
        # Set by the runtime: renders ``/usage digest`` from a user report.
        self.digest_preview: Callable[[Report, dt.datetime], Answer] | None = None
        self._clock = clock

    # Notifier

    def progress(self, request: PendingRequest, status: str) -> None:
        if request.response_url is None and request.placeholder_ts is None:
            return  # an ephemeral placeholder in a thread cannot be updated; don't add noise
        if request.response_url and request.response_url_uses >= _PROGRESS_USES:
            return
        elapsed = self._clock() - request.created_at
        message = views.placeholder_message(
            title=answers.title(request.command),
            period_label=request.command["period_label"],
            status=status,
            elapsed=_duration(elapsed),
            request_id=request.id,
        )
        self.show(request, message)

    def answer(self, request: PendingRequest, report: Report) -> None:
        command = request.command
        # A visible placeholder (a mention in a thread) is answered in place, in public.
        public = bool(command.get("public")) or request.placeholder_ts is not None
        threaded = bool(command.get("thread"))
        buttons = () if public and threaded else ("details",) if public else ("share", "details")
        result = answers.compose(
            command,
            report,
            now=self._clock(),
            request_id=request.id,
            buttons=buttons,
            idle_exclude=self.idle_exclude,
            digest_preview=self.digest_preview,
        )
        if isinstance(result, Message):
            self.show(request, result)
        elif public:
            self.post_public(request, result, threaded=threaded)
        elif threaded and result.details:
            self.send_direct(request, result)
        else:
            self.show(request, result.summary)

    def fail(self, request: PendingRequest, error: errors.BrowserStackError) -> None:
        self.show(request, views.error_message(**failure_text(error)))

    def cancelled(
        self, request: PendingRequest, *, by_user: str | None, note: str | None = None
    ) -> None:
        message = views.cancelled_message(
            title=answers.title(request.command).replace("Generating", "Cancelled"),
            by_user=by_user,
            note=note,
        )
        self.show(request, message)

    # Where messages go

    def show(self, request: PendingRequest, message: Message) -> None:
        """Replace what the asker sees (placeholder) with ``message``, privately or in place."""
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

    def post_public(
        self,
        request: PendingRequest,
        answer: Answer,
        *,
        threaded: bool,
        shared_by: str | None = None,
    ) -> str | None:
        """Post ``answer`` in the request's channel (details in a thread when asked)."""
        thread_ts = request.thread_ts
        summary = answer.summary.payload()
        try:
            if request.placeholder_ts and not shared_by:
                self.client.chat_update(
                    channel=request.channel_id, ts=request.placeholder_ts, **summary
                )
                ts = request.placeholder_ts
            else:
                posted = self.client.chat_postMessage(
                    channel=request.channel_id, thread_ts=thread_ts, **summary
                )
                ts = posted["ts"]
        except SlackApiError as error:
            if error.response.get("error") not in ("not_in_channel", "channel_not_found"):
                raise
            # The bot is not in this channel: the command's response_url can still post there.
            payload = {**summary, "response_type": "in_channel", "replace_original": False}
            if not self._respond(request, payload):
                raise
            self._respond(request, {"delete_original": True})
            return None
        if request.response_url and not request.placeholder_ts and not shared_by:
            self._respond(request, {"delete_original": True})
        if threaded:
            self.post_details(request.channel_id, thread_ts or ts, answer)
        return ts

    def send_direct(self, request: PendingRequest, answer: Answer) -> None:
        """The summary and its details, privately: a DM thread only the asker can read."""
        channel = self._dm(request.user_id)
        posted = self.client.chat_postMessage(channel=channel, **answer.summary.payload())
        self.post_details(channel, posted["ts"], answer)
        note = views.cancelled_message(
            title="Sent to you as a direct message",
            by_user=None,
            note="The summary is in your DMs with me, with the details in its thread.",
        )
        self.show(request, note)

    def post_details(self, channel: str, thread_ts: str, answer: Answer) -> None:
        for message in answer.details:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message.payload())
        if answer.csv:
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                filename=answer.csv.filename,
                title=answer.csv.title,
                file=io.BytesIO(answer.csv.content.encode("utf-8")),
            )

    def _respond(self, request: PendingRequest, payload: dict[str, Any]) -> bool:
        """Use the response_url if it still has uses and life left; False when it cannot."""
        url = request.response_url
        if not url:
            return False
        if self._clock() - request.created_at > RESPONSE_URL_LIFETIME:
            return False
        if self.store.use_response_url(request.id) > RESPONSE_URL_USES:
            return False
        response = WebhookClient(url, retry_handlers=retry_handlers()).send_dict(payload)
        if response.status_code != 200:
            log.info("response_url refused: %s %s", response.status_code, response.body)
            return False
        return True

    def _dm(self, user_id: str) -> str:
        return self.client.conversations_open(users=user_id)["channel"]["id"]


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


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def failure_text(error: errors.BrowserStackError) -> dict[str, str | None]:
    """Title, problem and hint of the message for each way BrowserStack can fail."""
    hint: str | None = None
    if isinstance(error, errors.AuthenticationError):
        title = "BrowserStack refused the bot's credentials"
        hint = "A workspace admin needs to check the bot's BrowserStack username and access key."
    elif isinstance(error, errors.TransportError | errors.ServerError):
        title = "BrowserStack is not answering"
        hint = "Nothing is lost on your side: try the same command again in a few minutes."
    elif isinstance(error, errors.RateLimitedError):
        title = "BrowserStack is rate limiting the bot"
        hint = "Try again in a few minutes."
    elif isinstance(error, errors.JobTimedOutError):
        title = "The report took too long"
        hint = "Try a shorter period, or again later when BrowserStack is less busy."
    elif isinstance(error, errors.JobFailedError):
        title = "BrowserStack could not make the report"
        hint = "Try again; if it keeps failing, BrowserStack support can check the account."
    else:
        title = "The report could not be made"
    return {"title": title, "problem": str(error), "hint": hint}
