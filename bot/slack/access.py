"""Who may use the bot, and who they are (``/usage me`` needs the asker's email).

By default every full member of the workspace may; guests (single- and multi-channel) get a
polite refusal, since usage data is internal. Settings narrow it to listed user ids and/or the
members of one user group. Answers from Slack are cached for a few minutes so that a burst of
commands costs one ``users.info`` per person.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    email: str | None
    guest: bool
    bot: bool
    deleted: bool
    name: str | None = None  # as Slack shows them: display name, else real name


class GroupMembers:
    """The members of one Slack user group, cached for ``ttl``; the last known members (or
    nobody) while Slack cannot say."""

    def __init__(
        self, client: WebClient, usergroup: str | None, *, clock: Clock, ttl: dt.timedelta
    ) -> None:
        self.client = client
        self.usergroup = usergroup
        self.clock = clock
        self.ttl = ttl
        self._cached: tuple[dt.datetime, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str]:
        if not self.usergroup:
            return frozenset()
        now = self.clock.now()
        with self._lock:
            cached = self._cached
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            users = self.client.usergroups_users_list(usergroup=self.usergroup)["users"]
        except SlackApiError as error:
            log.warning("usergroups.users.list failed: %s", error.response.get("error"))
            return cached[1] if cached else frozenset()
        members = frozenset(users)
        with self._lock:
            self._cached = (now, members)
        return members


class Admins:
    """Who administers seats through the bot (``RECLAIM_ADMINS``): listed users and the members
    of one user group. Nobody when the setting is empty."""

    def __init__(
        self,
        client: WebClient,
        *,
        clock: Clock,
        user_ids: frozenset[str] = frozenset(),
        usergroup: str | None = None,
        ttl: float = 300.0,
    ) -> None:
        self.user_ids = user_ids
        self._group = GroupMembers(client, usergroup, clock=clock, ttl=dt.timedelta(seconds=ttl))

    @property
    def configured(self) -> bool:
        return bool(self.user_ids or self._group.usergroup)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.user_ids or user_id in self._group()

    def refusal(self, user_id: str) -> str | None:
        """None for an admin; else a polite sentence saying who may."""
        if self.is_admin(user_id):
            return None
        if not self.configured:
            return (
                "Nobody administers seats through me yet: an admin of the bot can name people "
                "in RECLAIM_ADMINS."
            )
        return "Sorry, only the seat admins named in RECLAIM_ADMINS can do that."


class AccessPolicy:
    """Decides, per Slack user id, whether the bot answers."""

    def __init__(
        self,
        client: WebClient,
        *,
        clock: Clock,
        allowed_users: frozenset[str] = frozenset(),
        allowed_usergroup: str | None = None,
        ttl: float = 300.0,
    ) -> None:
        self.client = client
        self.allowed_users = allowed_users
        self.allowed_usergroup = allowed_usergroup
        self.ttl = dt.timedelta(seconds=ttl)
        self.clock = clock
        self._people: dict[str, tuple[dt.datetime, Person]] = {}
        self._group_members = GroupMembers(client, allowed_usergroup, clock=clock, ttl=self.ttl)
        self._lock = threading.Lock()

    def person(self, user_id: str) -> Person:
        """The user as Slack knows them, cached for ``ttl`` seconds."""
        now = self.clock.now()
        with self._lock:
            cached = self._people.get(user_id)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        user = self.client.users_info(user=user_id)["user"]
        profile = user.get("profile") or {}
        person = Person(
            user_id=user_id,
            email=profile.get("email") or None,
            name=profile.get("display_name") or profile.get("real_name") or user.get("name"),
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
        )
        with self._lock:
            self._people[user_id] = (now, person)
        return person

    def refusal(self, user_id: str) -> str | None:
        """None when ``user_id`` may use the bot, else a polite sentence saying why not."""
        try:
            person = self.person(user_id)
        except SlackApiError as error:
            log.warning("users.info for %s failed: %s", user_id, error.response.get("error"))
            return "I could not check your account with Slack just now. Please try again."
        if person.guest or person.bot or person.deleted:
            return (
                "Sorry, usage reports are for full members of this workspace; guest accounts "
                "cannot use them. Ask a workspace admin if you need the figures."
            )
        if not self.allowed_users and not self.allowed_usergroup:
            return None
        if user_id in self.allowed_users or user_id in self._group_members():
            return None
        return (
            "Sorry, usage reports are limited to the people your workspace admins chose. "
            "Ask one of them to add you if you need access."
        )
