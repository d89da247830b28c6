"""``/usage subscribe``, ``subscriptions`` and ``unsubscribe``: who may, and what they are told.

Anyone the bot serves may subscribe themselves (their DMs) and a channel to one team's report;
only the seat admins (``RECLAIM_ADMINS``) may subscribe a channel to the org-wide ``teams``
report. A subscription is removed by its owner, or by an admin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

from bot.clock import Clock
from bot.home.schedule import next_run_at
from bot.home.store import Cadence, HomeStore, Scope, Subscription
from bot.home.tab import describe
from bot.reports.humanize import find_by_name
from bot.reports.question import day_text
from bot.settings import Settings
from bot.slack import views
from bot.slack.access import AccessPolicy, Admins
from bot.slack.commands import SubscriptionCommand
from bot.slack.messages import Message, render


class SubscriptionDesk:
    def __init__(
        self,
        *,
        home_store: HomeStore,
        access: AccessPolicy,
        admins: Admins,
        settings: Settings,
        clock: Clock,
        team_names: Callable[[], Collection[str] | None] = lambda: None,
    ) -> None:
        # The team names of the latest team report, None when there is none yet: a team's name
        # is checked when it is subscribed to, not first at its first post a week later.
        self.team_names = team_names
        self.home_store = home_store
        self.access = access
        self.admins = admins
        self.settings = settings
        self.clock = clock

    def handle(self, command: SubscriptionCommand, user_id: str) -> Message:
        refusal = self.access.refusal(user_id)
        if refusal is not None:
            return views.error_message(title="I can't do that", problem=refusal)
        if command.action == "subscriptions":
            subs = self.home_store.active(user_id=user_id)
            title = "Your subscriptions" if subs else "You have no subscriptions"
            note = None if subs else "Try `/usage subscribe me weekly`."
            return self.message(title, note, subs)
        if command.action == "unsubscribe":
            assert command.number is not None
            return self.unsubscribe(command.number, user_id)
        return self.subscribe(command, user_id)

    def subscribe(self, command: SubscriptionCommand, user_id: str) -> Message:
        assert command.scope is not None
        assert command.cadence is not None
        scope = Scope(command.scope)
        if scope is Scope.TEAMS and command.channel_id and not self.admins.is_admin(user_id):
            return views.error_message(
                title="Only seat admins can do that",
                problem="Only the seat admins named in RECLAIM_ADMINS may subscribe a channel to "
                "every team's report. You can have it yourself, in your DMs:",
                example="/usage subscribe teams monthly",
            )
        team = command.team
        names = self.team_names() if scope is Scope.TEAM and team else None
        if team and names is not None:
            match = find_by_name(names, team)
            if match.match is None:
                return views.not_found_message(
                    what="team",
                    query=team,
                    suggestions=match.suggestions,
                    example_prefix="/usage subscribe team",
                    example_suffix=f" {command.cadence}",
                )
            team = match.match  # as BrowserStack spells it
        sub = self.home_store.subscribe(
            user_id=user_id,
            scope=scope,
            team=team,
            cadence=Cadence(command.cadence),
            channel_id=command.channel_id,
            now=self.clock.now(),
        )
        note = "Each one is posted once per period."
        if sub.channel_id:
            note += " It is public in the channel: invite me there if I am not in it yet."
        return self.message(f"Subscribed: #{sub.id}", note, [sub])

    def unsubscribe(self, number: int, user_id: str) -> Message:
        sub = self.home_store.get(number)
        if sub is None or (sub.user_id != user_id and not self.admins.is_admin(user_id)):
            return views.error_message(
                title=f"No subscription #{number} of yours",
                problem="`/usage subscriptions` lists yours with their numbers.",
            )
        self.home_store.remove(number, now=self.clock.now())
        return self.message(f"Unsubscribed #{number}", "Nothing more will be posted for it.", [])

    def remove(self, number: int, user_id: str) -> bool:
        """The Home tab's Remove button: the owner's (or an admin's) only."""
        sub = self.home_store.get(number)
        if sub is None or (sub.user_id != user_id and not self.admins.is_admin(user_id)):
            return False
        return self.home_store.remove(number, now=self.clock.now())

    def message(self, title: str, note: str | None, subs: Sequence[Subscription]) -> Message:
        now = self.clock.now()
        return render(
            "subscriptions",
            title=title,
            note=note,
            subscriptions=[self.line(sub, now) for sub in subs],
        )

    def line(self, sub: Subscription, now: dt.datetime) -> dict[str, Any]:
        zone = self.settings.digest_zone
        upcoming = next_run_at(sub.cadence, now, hour=self.settings.subscription_hour, zone=zone)
        return {
            "id": sub.id,
            "what": describe(sub),
            "cadence": sub.cadence.value,
            "channel": sub.channel_id,
            "where": "your DMs",
            "next": day_text(upcoming.astimezone(zone).date()),
        }
