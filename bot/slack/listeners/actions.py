"""Buttons: Cancel, Share in channel, Details in thread. Each carries its request's id.

The click says who clicked and which request; everything else (the channel, the messages) is
read from the stored request, and the front desk checks who may do what.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.frontdesk import FrontDesk


def register(app: App) -> None:
    app.action("cancel")(handle_cancel)
    app.action("share")(handle_share)
    app.action("details")(handle_details)


def _parts(body: dict[str, Any]) -> tuple[str, str]:
    return str(body["actions"][0].get("value", "")), body["user"]["id"]


def handle_cancel(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    desk: FrontDesk = context["desk"]
    desk.cancel(request_id, user_id=user_id)


def handle_share(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    desk: FrontDesk = context["desk"]
    desk.share(request_id, user_id=user_id)


def handle_details(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    desk: FrontDesk = context["desk"]
    desk.details(request_id, user_id=user_id)
