"""What Slack sends an app (signed slash commands, clicks, events) and a driver that sends them.

Shapes follow Slack's wire formats (see ``REFERENCE.md``, "Slack wire formats"); the ids default to
those the stand-in uses (team ``T0001``, app ``A0001``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.slack.standin.server import Msg, SlackStandIn

log = logging.getLogger(__name__)

# The deprecated verification token Slack still sends; Bolt ignores it in favour of signatures.
VERIFICATION_TOKEN = "standin-verification-token"  # noqa: S105 (not a secret)
TEAM_DOMAIN = "standin"


def sign(body: bytes, secret: str, *, timestamp: float) -> dict[str, str]:
    """Slack's v0 signature headers for ``body``: HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(timestamp))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _channel_name(channel_id: str) -> str:
    # Slack names DMs and private channels generically in payloads.
    if channel_id.startswith("D"):
        return "directmessage"
    if channel_id.startswith("G"):
        return "privategroup"
    return f"channel-{channel_id.lower()}"


def slash_command(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/usage",
    team_id: str = "T0001",
    user_name: str | None = None,
    channel_name: str | None = None,
    trigger_id: str | None = None,
    api_app_id: str = "A0001",
    enterprise_id: str | None = None,
) -> dict[str, str]:
    """The form fields of a slash command; ``enterprise_id`` only appears on Enterprise Grid."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name or _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }
    if enterprise_id is not None:
        fields["enterprise_id"] = enterprise_id
    return fields


def form_body(fields: Mapping[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` bytes, as Slack sends them."""
    return urlencode(fields).encode()


def block_actions(
    *,
    user_id: str,
    channel_id: str,
    action_id: str,
    value: str | None,
    block_id: str = "b",
    response_url: str,
    message_ts: str | None = None,
    is_ephemeral: bool = True,
    message: Mapping[str, Any] | None = None,
    team_id: str = "T0001",
    text: str | None = None,
    user_name: str | None = None,
    api_app_id: str = "A0001",
    action_ts: float,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click; ``message`` is left out when ephemeral."""
    now = f"{action_ts:.6f}"
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text or action_id, "emoji": True},
        "action_ts": now,
    }
    if value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_name or user_id.lower(),
            "name": user_name or user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts or now,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": _channel_name(channel_id)},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    if not is_ephemeral and message is not None:
        payload["message"] = dict(message)
    return payload


def interactive_body(payload: Mapping[str, Any]) -> bytes:
    """The form body interactivity requests carry: one field ``payload`` holding JSON."""
    return form_body({"payload": json.dumps(payload)})


def app_mention(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    ts: str,
    thread_ts: str | None = None,
    event_id: str | None = None,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    bot_user_id: str = "UBOT",
) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around an ``app_mention``."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user_id,
        "text": text,
        "ts": ts,
        "channel": channel_id,
        "event_ts": ts,
        "team": team_id,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return _event_callback(event, ts, event_id, team_id, api_app_id, bot_user_id)


def app_home_opened(
    *,
    user_id: str,
    channel_id: str,
    event_ts: str,
    tab: str = "home",
    event_id: str | None = None,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    bot_user_id: str = "UBOT",
) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around an ``app_home_opened``."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel_id,
        "tab": tab,
        "event_ts": event_ts,
    }
    return _event_callback(event, event_ts, event_id, team_id, api_app_id, bot_user_id)


def _event_callback(
    event: dict[str, Any],
    ts: str,
    event_id: str | None,
    team_id: str,
    api_app_id: str,
    bot_user_id: str,
) -> dict[str, Any]:
    """The Events API envelope Slack wraps around every event it sends."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def url_verification(challenge: str) -> dict[str, Any]:
    """The handshake Slack sends when an Events API URL is saved."""
    return {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}


def _find_button(
    msgs: list[Msg], action_id: str, value: str | None
) -> tuple[Msg, dict[str, Any], str] | None:
    """The newest message with a button ``action_id`` (and ``value``), the button, its block id."""
    for msg in reversed(msgs):
        for block in msg.blocks:
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                elements.append(block["accessory"])
            for element in elements:
                if element.get("action_id") == action_id and value in (None, element.get("value")):
                    return msg, element, str(block.get("block_id", "b"))
    return None


class AppDriver:
    """Plays Slack's part towards the app: signed commands, clicks and mentions, over HTTP."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        standin: SlackStandIn,
        *,
        timeout: float = 10.0,
        button_timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.standin = standin
        self.last_response_url: str | None = None  # of the latest command
        self.last_event: dict[str, Any] | None = None  # the latest event sent, for retries
        self.button_timeout = button_timeout
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AppDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(
        self, body: bytes, *, content_type: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST ``body`` to the app, signed as Slack signs it."""
        signed = sign(body, self.signing_secret, timestamp=self.standin.clock.timestamp())
        all_headers = {"Content-Type": content_type, **signed}
        all_headers.update(headers or {})
        return self._http.post(self.app_url, content=body, headers=all_headers)

    def command(
        self, text: str, *, user: str, channel: str, command: str = "/usage"
    ) -> httpx.Response:
        """Run ``/usage text`` as ``user`` in ``channel``; an ack body is shown as Slack would."""
        response_url = self.standin.new_response_url(channel=channel, user=user, awaiting_ack=True)
        self.last_response_url = response_url
        fields = slash_command(
            text,
            user_id=user,
            channel_id=channel,
            response_url=response_url,
            command=command,
            team_id=self.standin.team_id,
        )
        ack = None
        try:
            response = self.send(
                form_body(fields), content_type="application/x-www-form-urlencoded"
            )
            if response.status_code == 200:
                ack = _json_body(response)
        finally:
            self.standin.record_ack(response_url, ack)  # also releases posts waiting for it
        return response

    def click(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user: str,
        channel: str,
        response_url: str | None = None,
        message_ts: str | None = None,
        is_ephemeral: bool | None = None,
    ) -> httpx.Response:
        """Click a button: the newest one ``user`` sees with that action_id (and value).

        Without ``message_ts`` this waits, as a person would, up to ``button_timeout`` for such a
        button to appear (AssertionError if none does). With ``message_ts`` the click is sent even
        when that message has no such button, to test stale clicks. Without ``response_url``, a
        fresh one whose original is the clicked message, as Slack does.
        """
        found = self._button(action_id, value, user=user, channel=channel, message_ts=message_ts)
        block_id, text, message = "b", None, None
        if found is not None:
            msg, element, block_id = found
            value = element.get("value") if value is None else value
            text = (element.get("text") or {}).get("text")
            message_ts = message_ts or msg.ts
            is_ephemeral = msg.ephemeral if is_ephemeral is None else is_ephemeral
            message = msg.to_dict()
        if is_ephemeral is None:
            is_ephemeral = True
        if response_url is None:
            response_url = self.standin.new_response_url(
                channel=channel, user=user, original_ts=message_ts
            )
        payload = block_actions(
            user_id=user,
            channel_id=channel,
            action_id=action_id,
            value=value,
            block_id=block_id,
            response_url=response_url,
            message_ts=message_ts,
            is_ephemeral=is_ephemeral,
            message=message,
            team_id=self.standin.team_id,
            text=text,
            action_ts=self.standin.clock.timestamp(),
        )
        return self.send(
            interactive_body(payload), content_type="application/x-www-form-urlencoded"
        )

    def click_home(
        self, action_id: str, value: str | None = None, *, user: str, view_of: str | None = None
    ) -> httpx.Response:
        """Click a button on ``user``'s Home tab (the last view published for them), as Slack
        sends it: a ``block_actions`` from a view, with no channel and no response_url.

        ``view_of``: another user's tab, whose buttons ``user`` never saw (a forged click)."""
        view = self.standin.home_view(view_of or user) or {}
        buttons = [
            element
            for block in view.get("blocks", [])
            for element in [*block.get("elements", []), block.get("accessory") or {}]
            if element.get("type") == "button"
            and element.get("action_id") == action_id
            and (value is None or element.get("value") == value)
        ]
        if not buttons:
            raise AssertionError(f"No button {action_id} on {user}'s Home tab")
        payload = block_actions(
            user_id=user,
            channel_id="",
            action_id=action_id,
            value=buttons[0].get("value"),
            response_url="",
            team_id=self.standin.team_id,
            text=(buttons[0].get("text") or {}).get("text"),
            action_ts=self.standin.clock.timestamp(),
        )
        for key in ("channel", "response_url"):
            del payload[key]
        payload["container"] = {"type": "view", "view_id": "V000001"}
        payload["view"] = {"id": "V000001", **view}
        return self.send(
            interactive_body(payload), content_type="application/x-www-form-urlencoded"
        )

    def _button(
        self, action_id: str, value: str | None, *, user: str, channel: str, message_ts: str | None
    ) -> tuple[Msg, dict[str, Any], str] | None:
        if message_ts is not None:
            msg = self.standin.message(channel, message_ts)
            return _find_button([msg], action_id, value) if msg is not None else None
        try:
            return self.standin.wait_for(
                lambda s: _find_button(s.visible_to(user, channel), action_id, value),
                timeout=self.button_timeout,
            )
        except AssertionError as error:
            wanted = f"{action_id}={value}" if value is not None else action_id
            raise AssertionError(
                f"No button {wanted} shown to {user} in {channel}; to click one on a message"
                f" {user} cannot see (a forged click), pass its message_ts. {error}"
            ) from None

    def mention(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        ts: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> httpx.Response:
        """``@usagebot text`` by ``user``; without ``ts``, first posted on the stand-in."""
        mention = f"<@{self.standin.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}".rstrip()
        if ts is None:
            ts = self.standin.record_user_message(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            ).ts
        payload = app_mention(
            text,
            user_id=user,
            channel_id=channel,
            ts=ts,
            thread_ts=thread_ts,
            event_id=event_id,
            team_id=self.standin.team_id,
            bot_user_id=self.standin.bot_user_id,
        )
        return self.event(payload, retry_num=retry_num)

    def open_home(self, *, user: str, tab: str = "home") -> httpx.Response:
        """``user`` opens the app's Home tab (``app_home_opened``)."""
        payload = app_home_opened(
            user_id=user,
            channel_id=self.standin.dm_channel(user),
            event_ts=f"{self.standin.clock.timestamp():.6f}",
            tab=tab,
            team_id=self.standin.team_id,
            bot_user_id=self.standin.bot_user_id,
        )
        return self.event(payload)

    def event(
        self,
        payload: Mapping[str, Any],
        *,
        retry_num: int | None = None,
        reason: str = "http_timeout",
    ) -> httpx.Response:
        """Deliver an Events API payload; ``retry_num`` marks it as Slack's retry."""
        self.last_event = dict(payload)
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
        return self.send(
            json.dumps(payload).encode(), content_type="application/json", headers=headers
        )


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    """The ack's JSON object, if it has one (Bolt's bare ``ack()`` sends an empty body)."""
    if not response.content.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
