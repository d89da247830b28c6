"""The Bolt app: built from the running bot, with its listeners and one central error handler."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack import listeners
from bot.slack.delivery import report_unexpected

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.runtime import Usagebot

log = logging.getLogger(__name__)


def create_app(bot: Usagebot, *, client: WebClient) -> App:
    """A Bolt app whose listeners find the bot in ``context["usagebot"]``."""
    settings = bot.settings
    secret = settings.slack_signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode carries no signatures; in HTTP mode every request must be signed.
        request_verification_enabled=not settings.socket_mode,
        token_verification_enabled=True,
        # Listeners ack at once and hand work on; more threads than Bolt's 5 absorb bursts.
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt"),
        raise_error_for_unhandled_request=False,
    )

    @app.use
    def _inject(context: BoltContext, next: Callable[[], None]) -> None:
        context["usagebot"] = bot
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
