"""A reclaim campaign survives kill -9 of a real ``python -m bot serve`` in the middle of its DMs.

Slack (the stand-in) answers chat.postMessage a second late, after the DM is posted: the kill
lands while a DM is in Slack but its ts is not in the database yet, the one window where a naive
sender would post it again. After the restart every member has exactly one DM.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.browserstack.sandbox import SandboxServer
from bot.clock import SystemClock
from bot.slack.standin import AppDriver, SlackStandIn
from bot.stack import SIGNING_SECRET
from tests.processes.harness import CHANNEL, ServeProcess
from tests.reclaim.harness import cast
from tests.slack.harness import ANA


def test_kill_in_the_middle_of_the_dms_sends_each_member_exactly_one(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
) -> None:
    sandbox, standin = world
    crew = cast(sandbox, standin, SystemClock())
    env = {"RECLAIM_ADMINS": ANA, "IDLE_EXCLUDE": ",".join(crew.exclude)}
    first = start_bot(**env)
    standin.slow_down("chat.postMessage", 1.0)

    def dm_count(s: SlackStandIn) -> int:
        return sum(1 for u in crew.user_ids if s.channel_messages(s.dm_channel(u)))

    with AppDriver(first.url, SIGNING_SECRET, standin) as driver:
        assert driver.command("reclaim ask", user=ANA, channel=CHANNEL).status_code == 200
    standin.wait_for(lambda s: dm_count(s) >= 3, timeout=60, recheck=0.02)
    first.kill()  # the third DM is posted; its ts never reached the database
    assert dm_count(standin) < len(crew.user_ids)

    standin.slow_down("chat.postMessage", 0.0)
    start_bot(**env)
    standin.wait_for(lambda s: dm_count(s) == len(crew.user_ids), timeout=60, recheck=0.05)
    standin.wait_for(
        lambda s: any("*Asked* 10" in str(m.blocks) for m in s.channel_messages(CHANNEL)),
        timeout=60,
        recheck=0.05,
    )
    per_member = {u: len(standin.channel_messages(standin.dm_channel(u))) for u in crew.user_ids}
    assert per_member == dict.fromkeys(crew.user_ids, 1)
    # The restarted bot found the DM posted at the kill in its channel's history.
    assert standin.calls_to("conversations.history")
