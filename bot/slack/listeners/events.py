"""``@usagebot team Acme``: the same commands by mention, answered in the mention's thread."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext, Say

from bot.reports.question import Source
from bot.reports.store import Origin
from bot.slack import views
from bot.slack.commands import (
    CommandError,
    Verb,
    parse_command,
    parse_subscription,
    usage_forms,
)
from bot.slack.frontdesk import FrontDesk

log = logging.getLogger(__name__)

_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*")


def register(app: App) -> None:
    app.event("app_mention")(handle_mention)


def handle_mention(
    body: dict[str, Any], event: dict[str, Any], say: Say, context: BoltContext
) -> None:
    desk: FrontDesk = context["desk"]
    event_id = str(body.get("event_id", ""))
    thread_ts = event.get("thread_ts") or event["ts"]
    text = _MENTION.sub("", event.get("text", ""), count=1)
    subscriptions = desk.subscriptions
    try:
        subscription = parse_subscription(text) if subscriptions is not None else None
    except CommandError as error:
        if desk.first_time_seen(event_id):
            desk.say_soon(say, thread_ts, views.mistake_message(error.problem, error.example))
        return
    if subscription is not None and subscriptions is not None:
        if desk.first_time_seen(event_id):
            user = event["user"]

            def answer() -> None:
                message = subscriptions.handle(subscription, user)
                say(thread_ts=thread_ts, **message.payload())

            desk.later(answer)
        return
    try:
        request = parse_command(text, today=desk.today(), idle_days=desk.idle_days)
    except CommandError as error:
        if desk.first_time_seen(event_id):
            desk.say_soon(say, thread_ts, views.mistake_message(error.problem, error.example))
        return
    if request.verb is Verb.HELP:
        if desk.first_time_seen(event_id):
            desk.say_soon(say, thread_ts, views.help_message(usage_forms(idle_days=desk.idle_days)))
        return
    origin = Origin(
        user_id=event["user"],
        channel_id=event["channel"],
        team_id=body.get("team_id"),
        thread_ts=thread_ts,
    )
    # Stored with its event id in one transaction, before Slack hears back (the app runs with
    # process_before_response): if this fails, Slack gets no 2xx and sends the event again.
    pending = desk.receive(request, origin, source=Source.MENTION, event_id=event_id)
    if pending is not None:  # None: Slack sent this event before
        log.info(
            "request %s: @usagebot %s, from %s in %s",
            pending.id,
            pending.question.describe,
            origin.user_id,
            origin.channel_id,
        )
        desk.check_soon(pending)
