"""``/usage`` end to end on loopback: signed requests in, the sandbox behind, Slack's stand-in out.

Nothing is patched: the bot runs its real HTTP endpoint (cheroot + Bolt), scheduler and SQLite
database; BrowserStack is the sandbox server and Slack is the stand-in (Web API and response_url).
Waiting is on the stand-in's condition variable (``wait_for``), never a sleep.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from bot.browserstack.sandbox import FaultConfig
from bot.clock import ShiftedClock
from bot.reports.leases import Leases
from bot.reports.question import Source
from bot.reports.store import Origin, RequestState, datasets
from bot.slack.commands import parse_command
from bot.slack.frontdesk import CHECK_HOLD, FRESH_CHECK_SECONDS
from bot.slack.standin import SlackStandIn, form_body, sign, slash_command
from bot.stack import SIGNING_SECRET, LoopbackStack
from tests.conftest import SandboxFactory
from tests.slack.harness import (
    ANA,
    BEN,
    CHANNEL,
    GUEST,
    OTHER_CHANNEL,
    StackFactory,
    answers,
    wait_answer,
)


def test_team_report_answers_privately(stack: LoopbackStack) -> None:
    started = time.perf_counter()
    response = stack.driver.command("team Acme team", user=ANA, channel=CHANNEL)
    acked = time.perf_counter() - started
    assert response.status_code == 200
    assert "Generating the team report for Acme team" in response.json()["text"]
    assert acked < 3  # Slack's own limit; the benchmark measures the real figure

    answer = wait_answer(stack.standin, ANA, "Acme team")
    assert answer.ephemeral
    assert answer.visible_to == ANA
    assert "Acme team" in str(answer.blocks)
    # The placeholder was replaced, not left behind; nothing was posted in the channel.
    assert len(stack.standin.ephemeral(CHANNEL, ANA)) == 1
    assert stack.standin.channel_messages(CHANNEL) == []
    assert stack.sandbox.stats.jobs_created == 2  # the team report and the user report


def test_cached_answer_needs_no_new_job(stack: LoopbackStack) -> None:
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "team")
    stack.driver.command("team Acme team", user=BEN, channel=CHANNEL)
    answer = wait_answer(stack.standin, BEN, "Acme team")
    assert answer.visible_to == BEN
    # teams and team share the team dataset, and the user dataset that gives seats and members.
    assert stack.sandbox.stats.jobs_created == 2


def test_identical_requests_in_flight_share_one_job(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(queued_seconds=0.5, processing_seconds=0.3))
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda who: stack.driver.command("idle", user=who, channel=CHANNEL), [ANA, BEN]
            )
        )
    assert [r.status_code for r in responses] == [200, 200]
    for who in (ANA, BEN):
        wait_answer(stack.standin, who, "idle")
    assert stack.sandbox.stats.jobs_created == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("teams", "team"),
        ("user steve@example.com", "Steve"),
        ("me", "Steve"),  # Ana's Slack email is steve@example.com
        ("idle automate", "idle"),
        ("top live 5", "Top"),
        ("team acme TEAM last 30d", "Acme team"),
    ],
)
def test_every_command_form_answers(stack: LoopbackStack, text: str, needle: str) -> None:
    assert stack.driver.command(text, user=ANA, channel=CHANNEL).status_code == 200
    answer = wait_answer(stack.standin, ANA, needle)
    assert answer.ephemeral


def test_help_is_the_ack_itself(stack: LoopbackStack) -> None:
    response = stack.driver.command("help", user=ANA, channel=CHANNEL)
    body = response.json()
    assert "/usage team" in str(body["blocks"])
    assert stack.sandbox.stats.requests == 0


def test_mistakes_get_an_example_not_a_trace(stack: LoopbackStack) -> None:
    body = stack.driver.command("tem Acme", user=ANA, channel=CHANNEL).json()
    text = str(body["blocks"])
    assert "Did you mean" in text
    assert "/usage team" in text
    assert "Traceback" not in text
    assert stack.sandbox.stats.requests == 0


def test_unknown_team_suggests_names(stack: LoopbackStack) -> None:
    stack.driver.command("team Acm", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Acm")
    assert "Acme team" in str(answer.blocks)
    assert "/usage team" in str(answer.blocks)


def test_guests_are_politely_refused(stack: LoopbackStack) -> None:
    stack.driver.command("teams", user=GUEST, channel=CHANNEL)
    refusal = wait_answer(stack.standin, GUEST, "can't")
    assert "guest" in str(refusal.blocks)
    assert stack.sandbox.stats.jobs_created == 0


def test_allowed_users_setting(make_stack: StackFactory) -> None:
    stack = make_stack(allowed_users=BEN)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    assert "limited" in str(wait_answer(stack.standin, ANA, "can't").blocks)
    stack.driver.command("teams", user=BEN, channel=CHANNEL)
    wait_answer(stack.standin, BEN, "team")


def test_public_posts_in_the_channel(stack: LoopbackStack) -> None:
    stack.driver.command("teams public", user=ANA, channel=CHANNEL)
    posted = stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    assert not posted[0].ephemeral
    # The private placeholder is gone once the answer is public.
    stack.standin.wait_for(lambda s: not s.ephemeral(CHANNEL, ANA))


def test_public_thread_puts_details_under_the_summary(stack: LoopbackStack) -> None:
    stack.driver.command("teams public thread", user=ANA, channel=CHANNEL)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(CHANNEL)), None))
    replies = stack.standin.wait_for(lambda s: s.thread(CHANNEL, summary.ts)[1:])
    assert all(reply.thread_ts == summary.ts for reply in replies)


def test_private_thread_goes_to_a_direct_message(stack: LoopbackStack) -> None:
    stack.driver.command("idle thread", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    stack.standin.wait_for(lambda s: s.thread(dm, summary.ts)[1:])
    assert stack.standin.channel_messages(CHANNEL) == []


def test_share_button_posts_in_the_channel(stack: LoopbackStack) -> None:
    stack.driver.command("user steve@example.com", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "Steve")
    assert stack.driver.click("share", user=ANA, channel=CHANNEL).status_code == 200
    shared = stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    assert f"<@{ANA}>" in str(shared[0].blocks)  # "Shared by"
    assert "Steve" in str(shared[0].blocks)


def test_only_the_asker_can_share(stack: LoopbackStack) -> None:
    stack.driver.command("user steve@example.com", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Steve")
    button = next(
        e
        for b in answer.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "share"
    )
    # Ben cannot see Ana's private answer; a forged click with its request id must not work.
    stack.driver.click("share", button["value"], user=BEN, channel=CHANNEL, message_ts=answer.ts)
    stack.standin.wait_for(lambda s: s.ephemeral(CHANNEL, BEN))
    assert stack.standin.channel_messages(CHANNEL) == []


def test_details_button_on_a_private_answer(stack: LoopbackStack) -> None:
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "team")
    stack.driver.click("details", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    stack.standin.wait_for(lambda s: s.thread(dm, summary.ts)[1:])


def test_cancel_deletes_the_job(make_stack: StackFactory, sandbox_factory: SandboxFactory) -> None:
    stack = make_stack(sandbox_factory(queued_seconds=60))
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(lambda s: "queued" in str(s.ephemeral(CHANNEL, ANA)[-1].blocks))
    stack.driver.click("cancel", user=ANA, channel=CHANNEL)
    cancelled = stack.standin.wait_for(
        lambda s: [m for m in s.ephemeral(CHANNEL, ANA) if "Cancelled" in m.text]
    )
    assert "job was deleted" in str(cancelled[-1].blocks)
    # The team report's job, and the user report's if BrowserStack was making it at the click
    # (then deleted as soon as it is made): no job of the question is left in the queue.
    stats = stack.sandbox.stats
    stack.standin.wait_for(lambda _: stats.jobs_deleted == stats.jobs_created, timeout=10)
    assert stats.jobs_created in (1, 2)


def test_cancel_keeps_the_job_when_someone_else_waits(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(queued_seconds=1.0))
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    stack.driver.command("teams", user=BEN, channel=CHANNEL)
    # Ben's placeholder says "queued" once his request has joined the job.
    stack.standin.wait_for(lambda s: "queued" in str(s.ephemeral(CHANNEL, BEN)[-1].blocks))
    stack.driver.click("cancel", user=ANA, channel=CHANNEL)
    cancelled = stack.standin.wait_for(
        lambda s: [m for m in s.ephemeral(CHANNEL, ANA) if "Cancelled" in m.text]
    )
    assert "goes on for them" in str(cancelled[-1].blocks)
    wait_answer(stack.standin, BEN, "team")
    assert stack.sandbox.stats.jobs_deleted == 0


def test_mention_in_a_thread_answers_in_that_thread(stack: LoopbackStack) -> None:
    parent = stack.standin.record_user_message(channel=CHANNEL, user=BEN, text="who uses Acme?")
    response = stack.driver.mention(
        "team Acme team", user=BEN, channel=CHANNEL, thread_ts=parent.ts, event_id="Ev1"
    )
    assert response.status_code == 200
    reply = stack.standin.wait_for(
        lambda s: [
            m
            for m in s.thread(CHANNEL, parent.ts)
            if "Acme team" in str(m.blocks) and ":hourglass" not in str(m.blocks)
        ]
    )
    assert reply[0].thread_ts == parent.ts
    # Slack retries an event it thinks was missed: the retry changes nothing.
    last_event = stack.driver.last_event
    assert last_event is not None
    stack.driver.event(last_event, retry_num=1)
    assert stack.sandbox.stats.jobs_created == 2  # the team and the user report, once


def test_personal_figures_by_mention_stay_private(stack: LoopbackStack) -> None:
    parent = stack.standin.record_user_message(channel=CHANNEL, user=ANA, text="hmm")
    stack.driver.mention("me", user=ANA, channel=CHANNEL, thread_ts=parent.ts, event_id="Ev2")
    answer = wait_answer(stack.standin, ANA, "Steve")
    assert answer.ephemeral
    assert answer.thread_ts == parent.ts
    public = [m for m in stack.standin.thread(CHANNEL, parent.ts) if not m.ephemeral]
    assert [m.user for m in public] == [ANA, ANA]  # the question and the mention, nothing of ours


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "unsigned"),
        ({"X-Slack-Signature": "v0=" + "0" * 64}, "forged"),
        ("stale", "stale"),
    ],
)
def test_unsigned_forged_and_stale_requests_are_refused(
    stack: LoopbackStack, headers: dict[str, str] | str, why: str
) -> None:
    body = form_body(
        slash_command("teams", user_id=ANA, channel_id=CHANNEL, response_url="http://x.test/r")
    )
    all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if headers == "stale":
        all_headers.update(sign(body, SIGNING_SECRET, timestamp=stack.clock.timestamp() - 600))
    else:
        all_headers.update(sign(body, SIGNING_SECRET, timestamp=stack.clock.timestamp()))
        all_headers.update(headers)  # type: ignore[arg-type]
        if why == "unsigned":
            del all_headers["X-Slack-Signature"]
            del all_headers["X-Slack-Request-Timestamp"]
    response = stack.driver._http.post(stack.driver.app_url, content=body, headers=all_headers)
    assert response.status_code == 401
    assert stack.sandbox.stats.requests == 0


def test_healthz(stack: LoopbackStack) -> None:
    import httpx

    response = httpx.get(f"{stack.http.url}/healthz")
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_restart_mid_poll_answers_exactly_once(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory(queued_seconds=0.8, processing_seconds=0.4)
    stack = make_stack(sandbox)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(lambda s: "queued" in str(s.ephemeral(CHANNEL, ANA)[-1].blocks))
    stack.stop(wait=False)  # killed mid-poll: the job is queued at BrowserStack
    stack.start()
    wait_answer(stack.standin, ANA, "team")
    assert sandbox.stats.jobs_created == 2  # the same jobs (team, user) were picked up again
    finals = [
        c
        for c in stack.standin.calls_to("response_url")
        if "replace_original" in c.args and ":hourglass" not in str(c.args.get("blocks"))
    ]
    assert len(finals) == 1


@pytest.mark.parametrize(
    ("faults", "settings", "words"),
    [
        (FaultConfig(fail_rate=1.0), {}, "could not make the report"),
        (FaultConfig(stuck_rate=1.0), {"report_deadline_seconds": 0.5}, "took too long"),
        # Long enough for the first attempt to fail before the deadline on a loaded machine.
        (FaultConfig(error_rate=1.0), {"report_deadline_seconds": 2.0}, "not answering"),
    ],
)
def test_browserstack_failures_end_in_a_clear_message(
    make_stack: StackFactory,
    sandbox_factory: SandboxFactory,
    faults: FaultConfig,
    settings: dict[str, float],
    words: str,
) -> None:
    stack = make_stack(sandbox_factory(faults=faults), **settings)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    failure = stack.standin.wait_for(
        lambda s: [m for m in s.ephemeral(CHANNEL, ANA) if words in str(m.blocks).lower()]
    )
    assert failure


def test_bad_browserstack_credentials(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(access_key="something-else"))
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    refused = stack.standin.wait_for(
        lambda s: [m for m in s.ephemeral(CHANNEL, ANA) if "credentials" in str(m.blocks)]
    )
    assert "access key" in str(refused[0].blocks)


def test_slack_rate_limits_are_retried(stack: LoopbackStack) -> None:
    stack.standin.fail_next("chat.postMessage", status=429, retry_after=0, count=1)
    stack.driver.command("teams public", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    assert len(stack.standin.calls_to("chat.postMessage")) == 2


def test_spent_response_url_falls_back_to_an_ephemeral_post(stack: LoopbackStack) -> None:
    stack.standin.fail_next("response_url", status=404, count=10)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    stack.standin.wait_for(lambda s: s.calls_to("chat.postEphemeral"))
    wait_answer(stack.standin, ANA, "team")


def test_public_in_a_channel_the_bot_is_not_in(stack: LoopbackStack) -> None:
    stack.driver.command("teams public", user=ANA, channel=OTHER_CHANNEL)
    posted = stack.standin.wait_for(lambda s: s.channel_messages(OTHER_CHANNEL))
    assert not posted[0].ephemeral


def test_allowed_usergroup(make_stack: StackFactory, standin: SlackStandIn) -> None:
    standin.usergroups["S0ADMINS"] = [BEN]
    stack = make_stack(allowed_usergroup="S0ADMINS")
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    assert "limited" in str(wait_answer(stack.standin, ANA, "can't").blocks)
    stack.driver.command("teams", user=BEN, channel=CHANNEL)
    wait_answer(stack.standin, BEN, "team")


def test_socket_mode_http_serves_only_health(stack: LoopbackStack) -> None:
    import httpx

    from bot.server import HttpServer

    health_only = HttpServer(stack.bot, host="127.0.0.1", port=0, slack_endpoint=False).start()
    try:
        body = form_body(
            slash_command("teams", user_id=ANA, channel_id=CHANNEL, response_url="http://x.test/r")
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body, SIGNING_SECRET, timestamp=stack.clock.timestamp()),
        }
        # Socket Mode turns signature checks off: its HTTP port must not take events at all.
        assert (
            httpx.post(f"{health_only.url}/slack/events", content=body, headers=headers).status_code
            == 404
        )
        assert httpx.get(f"{health_only.url}/healthz").status_code == 200
    finally:
        health_only.stop()
    assert stack.sandbox.stats.requests == 0


def test_long_lists_attach_a_csv_in_the_thread(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(users=3000))
    stack.driver.command("idle public thread", user=ANA, channel=CHANNEL)
    upload = stack.standin.wait_for(lambda s: s.files)[0]
    summary = stack.standin.channel_messages(CHANNEL)[0]
    assert upload.channel == CHANNEL
    assert upload.thread_ts == summary.ts
    rows = upload.content.decode().splitlines()
    assert rows[0].startswith("name,email")
    assert len(rows) > 300  # every idle member, far more than the thread replies show


def test_ephemeral_refused_falls_back_to_a_direct_message(stack: LoopbackStack) -> None:
    stack.standin.fail_next("response_url", status=404, count=10)
    stack.standin.fail_next("chat.postEphemeral", error="channel_not_found", count=10)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    answer = stack.standin.wait_for(
        lambda s: [m for m in s.channel_messages(dm) if ":hourglass" not in str(m.blocks)]
    )
    assert "All teams" in answer[-1].text


def test_a_product_is_a_view_over_the_shared_report(stack: LoopbackStack) -> None:
    # The same period as the user's default (idle's own is IDLE_DAYS).
    stack.driver.command("idle last 14d", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "idle")
    stack.driver.command("user steve@example.com live", user=BEN, channel=CHANNEL)
    answer = wait_answer(stack.standin, BEN, "Steve")
    assert stack.sandbox.stats.jobs_created == 1  # the all-products report answered both
    shown = str(answer.blocks)
    assert "3 h" in shown  # Steve's 180 Live minutes
    assert "2 h" not in shown  # his 120 App Live minutes: not the product asked for
    assert "not in this report" in shown


def test_digest_preview_is_private(make_stack: StackFactory) -> None:
    stack = make_stack(digest_channel="C0DIGEST", idle_days=30)
    stack.driver.command("digest", user=ANA, channel=CHANNEL)
    preview = wait_answer(stack.standin, ANA, "idle seat")
    assert preview.ephemeral
    assert "the last 30 days" in str(preview.blocks)
    assert stack.standin.channel_messages("C0DIGEST") == []  # a preview posts nothing


def test_url_verification_echoes_the_challenge(stack: LoopbackStack) -> None:
    from bot.slack.standin import url_verification

    response = stack.driver.event(
        url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    )
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


def test_fifty_senders_at_once_are_all_acknowledged_and_answered(
    make_stack: StackFactory,
) -> None:
    stack = make_stack()
    driver = stack.driver

    def ask(n: int) -> int:
        return driver.command("teams", user=ANA, channel=CHANNEL).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(ask, range(100)))
    assert statuses == [200] * 100
    stack.standin.wait_for(
        lambda s: len([m for m in s.visible_to(ANA, CHANNEL) if "All teams" in m.text]) == 100,
        timeout=60,  # a bound on the wait, not a speed target: see bench/
    )
    wait_answer(stack.standin, ANA, "All teams")
    assert stack.sandbox.stats.jobs_created == 2  # one team report, one user report


def _sandbox_users(stack: LoopbackStack, team: str) -> list[dict[str, Any]]:
    """The members of ``team`` as the sandbox reports them, for the period the bot asked."""
    with stack.bot.engine.connect() as connection:
        start, end = connection.execute(
            sa.select(datasets.c.start, datasets.c.end).where(datasets.c.kind == "user")
        ).one()
    users = stack.sandbox.org.report_data("user", start=start, end=end)["users"]
    return [u for u in users if u.get("team") == team]


def test_team_answer_has_seats_and_members_from_the_user_report(stack: LoopbackStack) -> None:
    stack.driver.command("team Acme team", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Acme team")
    blocks = str(answer.blocks)
    members = _sandbox_users(stack, "Acme team")
    assert members
    # Per product: seats with access against seats used, counted here from the raw records.
    for product, label in (("automate", "Automate"), ("app_automate", "App Automate")):
        held = [m for m in members if m["product_access"][product]]
        used = [m for m in held if (m["usage"]["product_data"].get(product) or {}).get("tests_run")]
        if held:
            assert f"*{label}*" in blocks
            assert f"seats: {len(used)} used of {len(held)}" in blocks

    # The most active members, by name: the busiest member of the team comes first.
    def tests(member: dict[str, Any]) -> int:
        data = member["usage"]["product_data"].values()
        return sum((entry or {}).get("tests_run") or 0 for entry in data)

    busiest = max(members, key=tests)
    assert "Most active members" in blocks
    assert f"`1.` *{busiest['name']}*" in blocks

    # Member count, and idle members counted from the raw records (every entry is there in an
    # All-Products report): Live and App Live seats cost money, Automate access does not.
    def unused(member: dict[str, Any], products: tuple[str, ...]) -> bool:
        data = member["usage"]["product_data"]
        return any(
            member["product_access"][p]
            and not any((data.get(p) or {}).get(k) for k in ("tests_run", "minutes_used"))
            for p in products
        )

    idle = [m for m in members if unused(m, ("live_testing", "app_live_testing"))]
    unused_access = [m for m in members if unused(m, ("automate", "app_automate"))]
    assert f"{len(members)} members in the user report" in blocks
    if idle:
        assert f"{len(idle)} member{'s' if len(idle) > 1 else ''} with an idle Live" in blocks
    else:
        assert "idle Live" not in blocks
    assert unused_access
    plural = "s" if len(unused_access) > 1 else ""
    assert f"{len(unused_access)} member{plural} with Automate or App Automate access" in blocks
    # Two shared datasets: the team report and the user report of the same period.
    assert stack.sandbox.stats.jobs_created == 2

    # The details list every member, the idle ones marked.
    stack.driver.click("details", user=ANA, channel=CHANNEL)
    dm = stack.standin.dm_channel(ANA)
    summary = stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    replies = stack.standin.wait_for(lambda s: s.thread(dm, summary.ts)[1:])
    listed = str([reply.blocks for reply in replies])
    assert all(member["email"] in listed for member in members)


def test_team_answer_reuses_a_fresh_user_report(stack: LoopbackStack) -> None:
    stack.driver.command("idle last 14d", user=ANA, channel=CHANNEL)  # the team's default period
    wait_answer(stack.standin, ANA, "idle")
    assert stack.sandbox.stats.jobs_created == 1
    stack.driver.command("team Acme team", user=BEN, channel=CHANNEL)
    answer = wait_answer(stack.standin, BEN, "Acme team")
    assert "Most active members" in str(answer.blocks)
    assert stack.sandbox.stats.jobs_created == 2  # only the team report was new
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    teams = wait_answer(stack.standin, ANA, "All teams")
    assert "seats:" in str(teams.blocks)  # the org's seats, from the same user report
    assert stack.sandbox.stats.jobs_created == 2


# --- people: every way to name someone, through the one cached users.info --------------------


@pytest.mark.parametrize(
    ("asker", "text"),
    [
        (BEN, "user <@U0ANA|ana>"),  # a mention, as Slack escapes it in a command
        (BEN, "user <@U0ANA>"),  # a mention without the name (events, older clients)
        (BEN, "user <mailto:steve@example.com|steve@example.com>"),  # an email Slack linked
        (BEN, "user steve@example.com"),
        (ANA, "me"),  # Ana's Slack email is steve@example.com
    ],
)
def test_every_way_to_name_a_person_finds_them(stack: LoopbackStack, asker: str, text: str) -> None:
    ack = stack.driver.command(text, user=asker, channel=CHANNEL).json()
    answer = wait_answer(stack.standin, asker, "Steve")
    assert answer.ephemeral
    assert "steve@example.com" in str(answer.blocks)
    assert "No user matches" not in str(answer.blocks)
    placeholders = [str(ack)] + [
        str(call.args)
        for call in stack.standin.calls_to("response_url")
        if ":hourglass" in str(call.args)
    ]
    assert not any("None" in shown for shown in placeholders)
    if "<@" in text:
        # The ack knows only the mention; the placeholder names the person once Slack said who.
        assert "the person you mentioned" in placeholders[0]
        assert any("steve@example.com" in shown for shown in placeholders[1:])


def test_people_are_looked_up_once_and_cached(stack: LoopbackStack) -> None:
    for asker, text in ((BEN, "user <@U0ANA|ana>"), (BEN, "user <@U0ANA>"), (ANA, "me")):
        stack.driver.command(text, user=asker, channel=CHANNEL)
        wait_answer(stack.standin, asker, "Steve")
    asked = [call.args.get("user") for call in stack.standin.calls_to("users.info")]
    # Ana's users.info answered both the mentions of her and her own "me" (and her access).
    assert asked.count(ANA) == 1
    assert asked.count(BEN) == 1


@pytest.mark.parametrize(
    ("user", "profile", "says"),
    [
        ("U0NOBODY", None, "Slack does not know the person you mentioned (U0NOBODY)"),
        ("U0APP", {"is_bot": True}, "Deploy Bot is an app, not a person"),
        ("U0PRIVATE", {}, "Slack did not share Pat's email address with me"),
    ],
)
def test_a_person_who_cannot_be_found_gets_a_clear_message(
    stack: LoopbackStack, user: str, profile: dict[str, Any] | None, says: str
) -> None:
    if profile is not None:
        name = "Deploy Bot" if profile.get("is_bot") else "Pat"
        stack.standin.users[user] = {
            "id": user,
            "name": name.lower(),
            "deleted": False,
            **profile,
            "profile": {"real_name": name},  # no email
        }
    stack.driver.command(f"user <@{user}|someone>", user=BEN, channel=CHANNEL)
    refusal = wait_answer(stack.standin, BEN, "can't")
    assert says in str(refusal.blocks)
    assert "/usage user name@company.com" in str(refusal.blocks)
    assert stack.sandbox.stats.jobs_created == 0


def test_public_posts_name_members_without_pinging_them(stack: LoopbackStack) -> None:
    stack.driver.command("idle public thread", user=BEN, channel=CHANNEL)
    stack.standin.wait_for(
        lambda s: [m for m in s.channel_messages(CHANNEL) if "Idle" in str(m.blocks)]
    )
    stack.stop()  # every reply posted
    messages = stack.standin.channel_messages(CHANNEL)  # the summary and its thread
    assert len(messages) > 1
    posted = str([m.blocks for m in messages])
    assert "@example.com" in posted  # members named by name and email
    assert "<@" not in posted  # and never as a mention, which would notify them
    # Public answers never consult the workspace directory at all.
    assert stack.standin.calls_to("users.lookupByEmail") == []


def test_private_answers_name_members_as_mentions(stack: LoopbackStack) -> None:
    # Steve (Ana's Slack email) is a member of the org's root team.
    stack.driver.command('team "Acme Inc. (Org)"', user=BEN, channel=CHANNEL)
    wait_answer(stack.standin, BEN, "Acme Inc.")
    stack.driver.click("details", user=BEN, channel=CHANNEL)
    dm = stack.standin.dm_channel(BEN)
    stack.standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    stack.stop()  # every reply posted
    private = str([m.blocks for m in stack.standin.channel_messages(dm)])
    # Steve is a workspace member (Ana's Slack email): a mention, which only Ben reads.
    assert f"<@{ANA}>" in private
    looked_up = [call.args.get("email") for call in stack.standin.calls_to("users.lookupByEmail")]
    assert looked_up.count("steve@example.com") == 1  # cached for every later answer


def test_a_cached_answer_takes_five_write_transactions(stack: LoopbackStack) -> None:
    """The trip's length, pinned: stored before the ack, put on its report (the check runs on
    the receiving lease), claimed for answering, its response_url's use counted, finished.
    Each one is a round trip to PostgreSQL and a turn at SQLite's single writer."""
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "team")  # the reports are made and kept from here on
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # The work loop's own writes (its heartbeat, say) run on threads of their own.
        thread = threading.current_thread().name
        if statement == "BEGIN IMMEDIATE" and thread.startswith(("waitress", "frontdesk")):
            writes.append(thread)

    engine = stack.bot.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        stack.driver.command("teams", user=ANA, channel=CHANNEL)
        stack.standin.wait_for(lambda _: open_requests(engine) == 0, recheck=0.05)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(writes) == 5, writes
    assert len(answers(stack.standin, ANA, "team")) == 2


def open_requests(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        count = connection.exec_driver_sql(
            "SELECT count(*) FROM requests WHERE state NOT IN ('answered', 'cancelled')"
        ).scalar_one()
    return int(count)


def test_a_check_that_starts_late_claims_its_request_anew(
    stack: LoopbackStack, clock: ShiftedClock
) -> None:
    """Past its receiving lease, a request may be someone else's: only a check that starts
    soon after the ack runs on that lease without claiming the request. (``attach`` would
    refuse it either way; a check that did not claim it first would post its public
    placeholder before finding out.)"""
    desk, store = stack.bot.frontdesk, stack.bot.store
    request = parse_command("teams public", today=clock.today(), idle_days=30)
    pending = desk.receive(request, Origin(user_id=ANA, channel_id=CHANNEL), source=Source.COMMAND)
    assert pending is not None
    clock.advance(FRESH_CHECK_SECONDS + CHECK_HOLD)
    store.heartbeat("elsewhere", now=clock.now())  # another process, alive, takes it over
    elsewhere = Leases(owner="elsewhere", clock=clock).take(CHECK_HOLD)
    assert store.claim_request(pending.id, elsewhere, states=(RequestState.RECEIVED,))
    desk.check(pending.id, received=pending)
    assert stack.standin.channel_messages(CHANNEL) == []
    checked = store.request(pending.id)
    assert checked is not None
    assert checked.state is RequestState.RECEIVED
