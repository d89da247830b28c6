"""Who's who in Slack: the people that answers name, as mentions where Slack knows them."""

from __future__ import annotations

from typing import Protocol


class People(Protocol):
    """Maps a BrowserStack member's email to their Slack user id, when they have one."""

    def user_id(self, email: str) -> str | None:
        """The workspace member with this email (None: not in Slack, or not looked up)."""
        ...


class Nobody:
    """Names everyone by name and email: for public posts (no surprise pings) and the CLI."""

    def user_id(self, email: str) -> str | None:
        return None


NOBODY = Nobody()
