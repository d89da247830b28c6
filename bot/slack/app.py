"""The Bolt app: its listeners, what they are given, and one central error handler.

Requests reach it verified: in HTTP mode ``bot.server`` checks every signature before Bolt sees
the request (with the bot's clock), so Bolt's own check is off; Socket Mode carries no signatures.
Listeners run before Slack gets its answer (``process_before_response``): a question is stored
before it is acknowledged, and the slow work is handed to the front desk's pool.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.slack import listeners
from bot.slack.delivery import report_unexpected

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.slack.frontdesk import FrontDesk

log = logging.getLogger(__name__)


class _ClientHasTheToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, and then
    warns at every start that the token goes unused: the client holds that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.App").addFilter(_ClientHasTheToken())


def create_app(desk: FrontDesk, *, client: WebClient, reclaim: object | None = None) -> App:
    """A Bolt app whose listeners find the front desk, and only it, in ``context["desk"]``."""
    app = App(
        client=client,
        # Verified before Bolt (bot.server.verified), or carried by Socket Mode.
        request_verification_enabled=False,
        token_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    @app.use
    def _inject(context: BoltContext, next: Callable[[], None]) -> None:
        context["desk"] = desk
        context["reclaim"] = reclaim  # bot.reclaim.starter.ReclaimDesk, or None
        next()

    app.error(handle_error)
    listeners.register(app)
    return app


def handle_error(error: Exception, body: dict[str, Any]) -> None:
    """Anything a listener did not handle: logged once with its traceback, the user told."""
    response_url = body.get("response_url") or next(
        (r.get("response_url") for r in body.get("response_urls", [])), None
    )
    report_unexpected(error, response_url=response_url)
