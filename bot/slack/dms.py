"""Direct messages to members who never talked to the bot: find, open, check, post.

Reclaim campaigns DM members by their BrowserStack email: ``users.lookupByEmail`` finds the
member (scope ``users:read.email``; guests, bots and deactivated accounts are told apart),
``conversations.open`` opens the DM (``im:write``), ``chat.postMessage`` posts in it.
``conversations.history`` (``im:history``) tells a restarted sender whether a DM with a given
marker is already there: that is how a DM whose sender died between posting and recording the
post is not sent twice.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.history import find_marked

log = logging.getLogger(__name__)


class Member(enum.StrEnum):
    FOUND = "found"
    NOT_IN_SLACK = "not_in_slack"  # no account with this email, or deactivated, or a bot
    GUEST = "guest"


@dataclass(frozen=True, slots=True)
class Lookup:
    status: Member
    user_id: str | None = None


class DirectMessages:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def find(self, email: str) -> Lookup:
        """The member with this email; SlackApiError for anything but "no such member"."""
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as error:
            if error.response.get("error") == "users_not_found":
                return Lookup(Member.NOT_IN_SLACK)
            raise
        if user.get("deleted") or user.get("is_bot"):
            return Lookup(Member.NOT_IN_SLACK)
        if user.get("is_restricted") or user.get("is_ultra_restricted"):
            return Lookup(Member.GUEST, user.get("id"))
        return Lookup(Member.FOUND, user["id"])

    def open(self, user_id: str) -> str:
        """The DM channel with ``user_id``."""
        channel: str = self.client.conversations_open(users=user_id)["channel"]["id"]
        return channel

    def find_marked(self, channel: str, marker: str) -> str | None:
        """The ts of the bot's message in ``channel`` that carries ``marker``, if any."""
        return find_marked(self.client, channel, marker)

    def post(self, channel: str, payload: dict[str, Any]) -> str:
        ts: str = self.client.chat_postMessage(channel=channel, **payload)["ts"]
        return ts

    def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        self.client.chat_update(channel=channel, ts=ts, **payload)
