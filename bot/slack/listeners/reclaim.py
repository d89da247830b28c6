"""Reclaim campaigns' buttons and ``/usage reclaim``: thin, the service decides.

``reclaim_keep`` / ``reclaim_release`` come from a member's DM (only its recipient may answer);
``reclaim_start`` from the digest and ``/usage idle`` answers, ``reclaim_done`` /
``reclaim_done_all`` from the release list (admins only). Refusals go back privately through
the click's ``response_url`` (an ephemeral message: in a DM it is the only way to reach the
clicker).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.webhook import WebhookClient

from bot.reclaim.rules import Choice
from bot.reclaim.service import Refused

if TYPE_CHECKING:
    from bot.reclaim.starter import ReclaimDesk

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action("reclaim_keep")(handle_keep)
    app.action("reclaim_release")(handle_release)
    app.action("reclaim_done")(handle_done)
    app.action("reclaim_done_all")(handle_done)
    app.action("reclaim_start")(handle_start)


def tell(response_url: str | None, text: str) -> None:
    """A private note to whoever clicked."""
    if not response_url:
        return
    try:
        WebhookClient(response_url).send_dict(
            {"text": text, "response_type": "ephemeral", "replace_original": False}
        )
    except Exception:
        log.warning("could not tell a clicker why their click did nothing")


def _desk(context: BoltContext) -> ReclaimDesk:
    desk: ReclaimDesk = context["reclaim"]
    return desk


def _answer(body: dict[str, Any], context: BoltContext, choice: Choice) -> None:
    container = body.get("container") or {}
    try:
        _desk(context).service.answer(
            str(body["actions"][0].get("value", "")),
            choice,
            user_id=body["user"]["id"],
            channel=container.get("channel_id"),
            ts=container.get("message_ts"),
        )
    except Refused as refusal:
        tell(body.get("response_url"), str(refusal))


def handle_keep(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    _answer(body, context, Choice.KEEP)


def handle_release(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    _answer(body, context, Choice.RELEASE)


def handle_done(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    try:
        _desk(context).service.done(
            str(body["actions"][0].get("value", "")), user_id=body["user"]["id"]
        )
    except Refused as refusal:
        tell(body.get("response_url"), str(refusal))


def handle_start(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    # The digest's thread when started from the digest; an ephemeral answer has none.
    thread = None if container.get("is_ephemeral") else container.get("message_ts")
    refusal = _desk(context).start_soon(
        admin=body["user"]["id"],
        channel=channel,
        thread_ts=thread,
        period=str(body["actions"][0].get("value") or ""),
    )
    if refusal is not None:
        tell(body.get("response_url"), refusal)
    else:
        tell(body.get("response_url"), "Getting the idle seats: the campaign's tally follows.")
