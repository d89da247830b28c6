"""A campaign's cast: idle members of the sandbox, with Slack accounts on the stand-in."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from bot.browserstack.models import Product, UserReportData
from bot.browserstack.sandbox import SandboxServer
from bot.clock import Clock
from bot.digest.rules import digest_period
from bot.reports.analysis import IdleMember, idle_seats
from bot.slack.standin import Msg, SlackStandIn
from bot.stack import slack_user


@dataclass(frozen=True, slots=True)
class Cast:
    members: list[IdleMember]  # the ten asked, one idle seat each
    user_ids: list[str]  # their Slack ids, in the same order
    guest: IdleMember  # a guest account in Slack: never asked
    outsider: IdleMember  # no Slack account: listed for the admins
    excluded: IdleMember  # in IDLE_EXCLUDE: never part of a campaign
    exclude: list[str]  # IDLE_EXCLUDE: every other idle member, and ``excluded``


def idle_members(sandbox: SandboxServer, clock: Clock) -> list[IdleMember]:
    """The sandbox's members with an idle Live or App Live seat in the digest's period."""
    now = clock.now()
    start, end = digest_period(now, idle_days=30)
    data = sandbox.org.report_data("user", start=start, end=end)
    users = msgspec.convert(data, UserReportData).users
    return list(idle_seats(users, now=now, since=start).seat_members)


def cast(sandbox: SandboxServer, standin: SlackStandIn, clock: Clock, *, asked: int = 10) -> Cast:
    """Ten members with one idle seat each in Slack, a guest, an outsider, one excluded."""
    found = sorted(idle_members(sandbox, clock), key=lambda m: m.email)
    single = [m for m in found if len(m.idle_seats) == 1 and m.idle_seats[0] is Product.LIVE]
    assert len(single) >= asked + 3, f"the sandbox has {len(single)} single idle Live seats"
    members, (guest, outsider, excluded) = single[:asked], single[asked : asked + 3]
    user_ids = [f"U0M{i:03d}" for i in range(asked)]
    for user_id, member in zip(user_ids, members, strict=True):
        standin.users[user_id] = slack_user(
            user_id, name=user_id.lower(), email=member.email, real_name=member.name
        )
    standin.users["U0MGUEST"] = slack_user(
        "U0MGUEST", name="guest", email=guest.email, real_name=guest.name, guest=True
    )
    keep = {m.email for m in (*members, guest, outsider)}
    exclude = [m.email for m in found if m.email not in keep]
    return Cast(members, user_ids, guest, outsider, excluded, exclude)


def dms(standin: SlackStandIn, user_id: str) -> list[Msg]:
    """The messages in the bot's DM with ``user_id``."""
    return standin.channel_messages(standin.dm_channel(user_id))
