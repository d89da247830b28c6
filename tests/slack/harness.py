"""The people, channels and settings of the end-to-end tests; the stack itself is bot.stack's."""

from __future__ import annotations

from collections.abc import Callable

from bot.slack.standin import Msg, SlackStandIn
from bot.stack import LoopbackStack, slack_user

CHANNEL = "C0001"
OTHER_CHANNEL = "C0OUTSIDE"
ANA, BEN, GUEST = "U0ANA", "U0BEN", "U0GUEST"
PEOPLE = {
    ANA: slack_user(ANA, name="ana", email="steve@example.com", real_name="Ana"),
    BEN: slack_user(BEN, name="ben", email="ben@example.com", real_name="Ben"),
    GUEST: slack_user(GUEST, name="gus", email="gus@partner.test", real_name="Gus", guest=True),
}
# Polls and ticks fast enough for tests; a dead instance's work is taken over after 1 s.
FAST = {
    "report_poll_initial_seconds": 0.05,
    "report_poll_max_seconds": 0.2,
    "scheduler_tick_seconds": 0.05,
    "instance_stale_seconds": 1.0,
    "browserstack_rate_burst": 1000,
    "browserstack_rate_per_minute": 600_000,
}

StackFactory = Callable[..., LoopbackStack]


def answers(standin: SlackStandIn, user: str, needle: str, channel: str = CHANNEL) -> list[Msg]:
    """What ``user`` sees in ``channel`` that contains ``needle`` and is not a placeholder."""
    return [
        m
        for m in standin.visible_to(user, channel)
        if needle in m.text and ":hourglass" not in str(m.blocks)
    ]


def wait_answer(standin: SlackStandIn, user: str, needle: str, channel: str = CHANNEL) -> Msg:
    return standin.wait_for(lambda s: (answers(s, user, needle, channel) or [None])[-1])
