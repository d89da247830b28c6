"""Buttons: Cancel, Share in channel, Details in thread. Each carries the request id."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext


def register(app: App) -> None:
    app.action("cancel")(handle_cancel)
    app.action("share")(handle_share)
    app.action("details")(handle_details)


def _parts(body: dict[str, Any]) -> tuple[str, str]:
    return body["actions"][0]["value"], body["user"]["id"]


def handle_cancel(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    context["usagebot"].frontdesk.cancel(
        request_id,
        user_id=user_id,
        channel_id=body["channel"]["id"],
        response_url=body.get("response_url"),
    )


def handle_share(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    context["usagebot"].frontdesk.share(
        request_id, user_id=user_id, response_url=body.get("response_url")
    )


def handle_details(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    request_id, user_id = _parts(body)
    container = body.get("container") or {}
    message_ts = None if container.get("is_ephemeral") else container.get("message_ts")
    context["usagebot"].frontdesk.details(
        request_id, user_id=user_id, message_ts=message_ts, response_url=body.get("response_url")
    )
