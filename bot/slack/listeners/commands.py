"""``/usage``: parse, acknowledge within Slack's 3 seconds, hand over to the front desk."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.reports.store import new_request_id
from bot.slack import answers, views
from bot.slack.commands import USAGE_FORMS, CommandError, Verb, parse_command
from bot.slack.frontdesk import Origin


def register(app: App) -> None:
    app.command("/usage")(handle_usage)


def handle_usage(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    bot = context["usagebot"]
    try:
        request = parse_command(command.get("text", ""), today=bot.today())
    except CommandError as error:
        message = views.error_message(
            title="I didn't understand that",
            problem=error.problem,
            example=f"/usage {error.example}",
        )
        ack(**message.payload())
        return
    if request.verb is Verb.HELP:
        ack(**views.help_message(USAGE_FORMS).payload())
        return
    request_id = new_request_id()
    placeholder = views.placeholder_message(
        title=answers.title(answers.command_record(request, source="command")),
        period_label=request.period.label,
        status="starting",
        elapsed=None,
        request_id=request_id,
    )
    ack(**placeholder.payload())
    origin = Origin(
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        team_id=command.get("team_id"),
        response_url=command.get("response_url"),
    )
    bot.frontdesk.ask(request, origin, request_id=request_id, source="command")
