"""``/usage``: parse, store, acknowledge within Slack's 3 seconds; the front desk does the rest."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.reports.question import Source
from bot.reports.store import Origin
from bot.slack import views
from bot.slack.commands import (
    CommandError,
    Verb,
    parse_command,
    parse_reclaim,
    parse_subscription,
    usage_forms,
)
from bot.slack.frontdesk import FrontDesk
from bot.storage import TRANSIENT_ERRORS

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command("/usage")(handle_usage)


def handle_usage(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    desk: FrontDesk = context["desk"]
    if context.get("reclaim") is not None:
        try:
            reclaim = parse_reclaim(command.get("text", ""))
        except CommandError as error:
            ack(**views.mistake_message(error.problem, error.example).payload())
            return
        if reclaim is not None:
            _reclaim(ack, command, context, reclaim)
            return
    if desk.subscriptions is not None:
        try:
            subscription = parse_subscription(command.get("text", ""))
        except CommandError as error:
            ack(**views.mistake_message(error.problem, error.example).payload())
            return
        if subscription is not None:
            ack(**desk.subscriptions.handle(subscription, command["user_id"]).payload())
            return
    try:
        request = parse_command(
            command.get("text", ""), today=desk.today(), idle_days=desk.idle_days
        )
    except CommandError as error:
        ack(**views.mistake_message(error.problem, error.example).payload())
        return
    if request.verb is Verb.HELP:
        ack(**views.help_message(usage_forms(idle_days=desk.idle_days)).payload())
        return
    origin = Origin(
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        team_id=command.get("team_id"),
        response_url=command.get("response_url"),
    )
    try:
        # Stored before the ack: an acknowledged question is never lost.
        pending = desk.receive(request, origin, source=Source.COMMAND)
    except TRANSIENT_ERRORS as error:
        log.warning("could not store a /usage request: %s", error)
        ack(**views.unavailable_message().payload())
        return
    assert pending is not None  # only events can be received twice
    # The request id is no longer shown to the asker: the log ties it to who asked what.
    log.info(
        "request %s: /usage %s, from %s in %s",
        pending.id,
        pending.question.describe,
        origin.user_id,
        origin.channel_id,
    )
    ack(**desk.placeholder(pending).payload())
    desk.check_soon(pending)


def _reclaim(ack: Ack, command: dict[str, Any], context: BoltContext, what: str) -> None:
    """``/usage reclaim`` (the current campaign) and ``/usage reclaim ask`` (start one)."""
    reclaim = context["reclaim"]
    user = command["user_id"]
    if what == "ask":
        refusal = reclaim.start_soon(admin=user, channel=command["channel_id"], thread_ts=None)
        ack(
            response_type="ephemeral",
            text=refusal or "Getting the idle seats: the campaign's tally follows here.",
        )
    else:
        ack(response_type="ephemeral", text=reclaim.status(user))
