"""``@usagebot team Acme``: the same commands by mention, answered in the mention's thread."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, BoltContext, Say

from bot.reports.store import new_request_id
from bot.slack import views
from bot.slack.commands import USAGE_FORMS, CommandError, Verb, parse_command
from bot.slack.frontdesk import Origin

_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*")


def register(app: App) -> None:
    app.event("app_mention")(handle_mention)


def handle_mention(
    body: dict[str, Any], event: dict[str, Any], say: Say, context: BoltContext
) -> None:
    bot = context["usagebot"]
    # Slack retries an event it thinks went unanswered; each event id is handled once.
    if not bot.store.first_time_seen(body.get("event_id", ""), now=bot.now()):
        return
    thread_ts = event.get("thread_ts") or event["ts"]
    text = _MENTION.sub("", event.get("text", ""), count=1)
    try:
        request = parse_command(text, today=bot.today())
    except CommandError as error:
        message = views.error_message(
            title="I didn't understand that",
            problem=error.problem,
            example=f"/usage {error.example}",
        )
        say(thread_ts=thread_ts, **message.payload())
        return
    if request.verb is Verb.HELP:
        say(thread_ts=thread_ts, **views.help_message(USAGE_FORMS).payload())
        return
    origin = Origin(
        user_id=event["user"],
        channel_id=event["channel"],
        team_id=body.get("team_id"),
        thread_ts=thread_ts,
    )
    bot.frontdesk.ask(request, origin, request_id=new_request_id(), source="mention")
