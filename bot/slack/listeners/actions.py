"""Buttons: Cancel, Share in channel, Details in thread. Each carries its request's id.

The click says who clicked and which request; everything else (the channel, the messages) is
read from the stored request, and the front desk checks who may do what.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.frontdesk import Click, FrontDesk


def register(app: App) -> None:
    app.action("cancel")(handle_cancel)
    app.action("share")(handle_share)
    app.action("details")(handle_details)


def _click(body: dict[str, Any]) -> Click:
    return Click(
        request_id=str(body["actions"][0].get("value", "")),
        user_id=body["user"]["id"],
        # Only where to tell the clicker if the request is unknown; never acted upon.
        channel_id=(body.get("channel") or {}).get("id"),
    )


def handle_cancel(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    desk.cancel(_click(body))


def handle_share(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    desk.share(_click(body))


def handle_details(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    desk.details(_click(body))
