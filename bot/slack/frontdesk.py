"""What happens after a listener has acknowledged: checks, then hand the question to the service.

Listeners ack within Slack's 3 seconds and call one method here, which queues the work on a pool
of its own and returns: Slack API calls (which may wait out a Retry-After) and database writes
never hold the Bolt worker threads that acknowledge the next commands. BrowserStack is asked
later still, by the scheduler.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.browserstack.models import ReportFilters, ReportKind
from bot.reports.service import ReportService
from bot.reports.store import PendingRequest, RequestExists, RequestState, Store
from bot.slack import answers, views
from bot.slack.access import AccessPolicy
from bot.slack.commands import UsageRequest, Verb
from bot.slack.delivery import SlackDelivery, report_unexpected
from bot.slack.messages import Answer, Message

log = logging.getLogger(__name__)

# Views that show one person's figures: private to the asker unless they choose to share.
PERSONAL = frozenset({Verb.USER, Verb.ME, Verb.IDLE, Verb.TOP})


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, and where."""

    user_id: str
    channel_id: str
    team_id: str | None = None
    response_url: str | None = None
    thread_ts: str | None = None  # a mention inside a thread


class FrontDesk:
    def __init__(
        self,
        *,
        service: ReportService,
        delivery: SlackDelivery,
        access: AccessPolicy,
        store: Store,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        digest_period: Callable[[dt.datetime], ReportFilters] | None = None,
        workers: int = 8,
    ) -> None:
        self.digest_period = digest_period
        self.service = service
        self.delivery = delivery
        self.access = access
        self.store = store
        self._clock = clock
        self._work = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="frontdesk")

    def close(self) -> None:
        """Finish the work already queued, then stop."""
        self._work.shutdown(wait=True)

    def _later(
        self, reply_to: str | None, work: Callable[..., None], /, *args: Any, **kw: Any
    ) -> None:
        """Run ``work`` on the pool; a bug in it is reported to ``reply_to`` (a response_url)."""
        self._work.submit(self._run, reply_to, work, args, kw)

    @staticmethod
    def _run(
        response_url: str | None, work: Callable[..., None], args: tuple, kwargs: dict
    ) -> None:
        try:
            work(*args, **kwargs)
        except Exception as error:
            report_unexpected(error, response_url=response_url)

    # What the listeners call: each returns at once.

    def ask(self, request: UsageRequest, origin: Origin, *, request_id: str, source: str) -> None:
        """Check the asker, then answer from the cache or get the report going."""
        self._later(
            origin.response_url, self._ask, request, origin, request_id=request_id, source=source
        )

    def cancel(
        self, request_id: str, *, user_id: str, channel_id: str, response_url: str | None
    ) -> None:
        self._later(
            response_url,
            self._cancel,
            request_id,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
        )

    def share(self, request_id: str, *, user_id: str, response_url: str | None = None) -> None:
        """Post a private answer in the channel, on its asker's say-so."""
        self._later(response_url, self._share, request_id, user_id=user_id)

    def details(
        self,
        request_id: str,
        *,
        user_id: str,
        message_ts: str | None,
        response_url: str | None = None,
    ) -> None:
        """The breakdown: under the public message, or in the asker's DMs for a private one."""
        self._later(response_url, self._details, request_id, user_id=user_id, message_ts=message_ts)

    # The work itself.

    def _ask(self, request: UsageRequest, origin: Origin, *, request_id: str, source: str) -> None:
        refusal, email = self._check(request, origin)
        command = answers.command_record(request, source=source, email=email)
        kind, filters = self._report_for(request, command)
        if refusal is not None:
            refused = views.error_message(title="I can't answer that", problem=refusal)
            self._tell_now(origin, request_id, command, refused)
            return
        placeholder_ts = None
        if origin.response_url is None and (request.public or request.verb not in PERSONAL):
            # A mention has no response_url: a visible placeholder in its thread, which the
            # answer replaces. Personal figures asked for in a thread come as ephemerals.
            placeholder_ts = self._post_placeholder(origin, command, request_id)
        try:
            submitted = self.service.submit(
                kind,  # type: ignore[arg-type]
                filters,
                command=command,
                user_id=origin.user_id,
                channel_id=origin.channel_id,
                team_id=origin.team_id,
                response_url=origin.response_url,
                thread_ts=origin.thread_ts,
                placeholder_ts=placeholder_ts,
                request_id=request_id,
            )
        except RequestExists:
            # Its Cancel button was clicked before we got this far (see ``cancel``).
            cancelled = self.store.request(request_id)
            if cancelled is not None:
                self.delivery.cancelled(cancelled, by_user=cancelled.user_id)
            return
        # The ack's placeholder already says "starting"; only news is worth a response_url use.
        if submitted.outcome in ("started", "joined") and submitted.status != "starting":
            self.delivery.progress(submitted.request, submitted.status)

    def _check(self, request: UsageRequest, origin: Origin) -> tuple[str | None, str | None]:
        """Why the bot will not answer (None: it will), and the email the command is about."""
        refusal = self.access.refusal(origin.user_id)
        if refusal is not None:
            return refusal, None
        if request.verb is Verb.ME:
            email = self.access.person(origin.user_id).email
            if not email:
                return "Slack did not share your email address with me, so I cannot find you.", None
            return None, email
        if request.target_user_id:
            email = self._email_of(request.target_user_id)
            if not email:
                return "I could not find that person's email address in Slack.", None
            return None, email
        return None, None

    def _report_for(
        self, request: UsageRequest, command: dict
    ) -> tuple[ReportKind | None, ReportFilters]:
        """Which report answers the request: always every product (a product is a view)."""
        if request.verb is Verb.DIGEST and self.digest_period is not None:
            # The digest covers its own period (IDLE_DAYS), whatever the command said.
            filters = self.digest_period(self._clock())
            days = (filters.end - filters.start).days  # type: ignore[operator]
            command["period_label"] = f"the last {days} days"
            return ReportKind.USER, filters
        return request.kind, request.period.filters(None)

    def _email_of(self, user_id: str) -> str | None:
        try:
            return self.access.person(user_id).email
        except SlackApiError:
            return None

    def _post_placeholder(self, origin: Origin, command: dict, request_id: str) -> str | None:
        message = views.placeholder_message(
            title=answers.title(command),
            period_label=command["period_label"],
            status="starting",
            elapsed=None,
            request_id=request_id,
        )
        posted = self.delivery.client.chat_postMessage(
            channel=origin.channel_id, thread_ts=origin.thread_ts, **message.payload()
        )
        return posted["ts"]

    def _tell_now(self, origin: Origin, request_id: str, command: dict, message: Message) -> None:
        request = self.store.add_request(
            command=command,
            user_id=origin.user_id,
            channel_id=origin.channel_id,
            team_id=origin.team_id,
            response_url=origin.response_url,
            thread_ts=origin.thread_ts,
            now=self._clock(),
            request_id=request_id,
        )
        self.store.mark(request.id, RequestState.ANSWERED, now=self._clock())
        self.delivery.show(request, message)

    # Buttons

    def _cancel(
        self, request_id: str, *, user_id: str, channel_id: str, response_url: str | None
    ) -> None:
        request = self.store.request(request_id)
        if request is None:
            # Clicked before ``ask`` stored the request: leave a tombstone for ``ask`` to find.
            try:
                self.store.add_request(
                    command={},
                    user_id=user_id,
                    channel_id=channel_id,
                    team_id=None,
                    response_url=response_url,
                    thread_ts=None,
                    now=self._clock(),
                    request_id=request_id,
                    state=RequestState.CANCELLED,
                )
                return
            except RequestExists:
                request = self.store.request(request_id)
                assert request is not None
        if request.user_id != user_id:
            self._refuse_button(request, user_id, "Only the person who asked can cancel it.")
            return
        self.service.cancel(request_id, by_user=user_id)

    def _share(self, request_id: str, *, user_id: str) -> None:
        request, answer = self._reanswer(request_id, user_id, shared_by=user_id, buttons=())
        if request is None or answer is None:
            return
        self.delivery.post_public(request, answer, threaded=False, shared_by=user_id)
        note = views.cancelled_message(
            title="Shared in the channel", by_user=None, note="Everyone here can see it now."
        )
        self.delivery.show(request, note)

    def _details(self, request_id: str, *, user_id: str, message_ts: str | None) -> None:
        request, answer = self._reanswer(request_id, user_id, shared_by=None, buttons=())
        if request is None or answer is None:
            return
        if message_ts and (request.command.get("public") or request.thread_ts):
            self.delivery.post_details(request.channel_id, request.thread_ts or message_ts, answer)
        else:
            self.delivery.send_direct(request, answer)

    def _reanswer(
        self, request_id: str, user_id: str, *, shared_by: str | None, buttons: tuple[str, ...]
    ) -> tuple[PendingRequest | None, Answer | None]:
        request = self.store.request(request_id)
        if request is None or request.dataset_key is None:
            return None, None
        if request.user_id != user_id and not request.command.get("public"):
            self._refuse_button(request, user_id, "Only the person who asked can share it.")
            return None, None
        report = self.store.report(request.dataset_key)
        if report is None:
            expired = views.error_message(
                title="This report has expired",
                problem="The figures behind this message are no longer kept.",
                example=f"/usage {request.command.get('describe', 'help')}",
            )
            self.delivery.ephemeral(request, expired)
            return None, None
        result = answers.compose(
            request.command,
            report,
            now=self._clock(),
            request_id=request.id,
            buttons=buttons,
            shared_by=shared_by,
            idle_exclude=self.delivery.idle_exclude,
            digest_preview=self.delivery.digest_preview,
        )
        return request, result if isinstance(result, Answer) else None

    def _refuse_button(self, request: PendingRequest, user_id: str, why: str) -> None:
        self.delivery.client.chat_postEphemeral(
            channel=request.channel_id, user=user_id, text=why, thread_ts=request.thread_ts
        )
