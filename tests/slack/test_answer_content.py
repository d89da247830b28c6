"""What the answers say (issue 8), end to end: signed requests in, messages at Slack's stand-in out.

The sandbox's synthetic org is the data; ``sparse_entries`` makes its user reports leave out the
entries of products a member did not use, so idle seats must be judged by ``last_test``. Each test
reads the message the stand-in received, and where a list is concerned the CSV the bot uploaded.
"""

from __future__ import annotations

import csv
import io
import json
import re

from bot.browserstack.sandbox.org import SyntheticOrg
from bot.slack.standin import Msg, SlackStandIn, UploadedFile
from bot.slack.views import USAGE_PAGE, USERS_PAGE
from bot.stack import LoopbackStack
from tests.conftest import SandboxFactory
from tests.slack.harness import ANA, CHANNEL, StackFactory, wait_answer


def text_of(message: Msg) -> str:
    """Every string of the message's blocks, as JSON would show it (mrkdwn unescaped by json)."""
    return json.dumps(message.blocks, ensure_ascii=False)


def direct_answer(standin: SlackStandIn, user: str) -> tuple[Msg, list[Msg], UploadedFile]:
    """A ``thread`` answer sent privately: the DM summary, its thread replies and its CSV."""
    dm = standin.dm_channel(user)
    summary = standin.wait_for(lambda s: next(iter(s.channel_messages(dm)), None))
    upload = standin.wait_for(
        lambda s: next((f for f in s.files if f.thread_ts == summary.ts), None)
    )
    return summary, standin.thread(dm, summary.ts)[1:], upload


def csv_rows(upload: UploadedFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(upload.content.decode())))


def never_used_members(org: SyntheticOrg) -> list[str]:
    """Emails of synthetic members with product access who never logged in nor ran a test."""
    return sorted(
        u.email
        for u in org.users
        if u.category in ("never", "seat_never") and u.access and not u.login_first
    )


# --- item 3: idle by evidence ------------------------------------------------------------------


def test_members_without_entries_are_idle_by_evidence_and_named(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory(sparse_entries=True)
    stack = make_stack(sandbox)
    never = never_used_members(sandbox.org)
    assert never, "the synthetic org should hold members who never used BrowserStack"

    stack.driver.command("idle last 30d thread", user=ANA, channel=CHANNEL)
    summary, _, upload = direct_answer(stack.standin, ANA)
    text = text_of(summary)
    assert "Never used BrowserStack (no login, no test)" in text
    rows = {row["email"]: row for row in csv_rows(upload)}
    # Every member who never used it is listed, though the report carries no entry for them.
    for email in never:
        assert rows[email]["never_used"] == "yes", email
        assert rows[email]["idle_seats"] or rows[email]["unused_access"], email
    # Evidence both ways: a member whose last test falls inside the period but has no entry for
    # a product they hold is "not reported" there, never idle.
    assert re.search(r"\d+ used · \d+ not reported", text)


def test_without_sparse_entries_nothing_changes_for_the_default_org(stack: LoopbackStack) -> None:
    stack.driver.command("idle last 30d", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Idle seats")
    assert "not reported" not in text_of(answer)  # every entry present: no unknowns


# --- item 4: licences as BrowserStack bills them -----------------------------------------------


def test_idle_prices_live_seats_and_lists_automate_as_information(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(seat_prices="live=39,app-live=49")
    stack.driver.command("idle last 30d", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Idle seats")
    text = text_of(answer)
    assert re.search(r":moneybag: \*\$[\d,]+ a month in idle seats\* \(Live: \d+ × \$39", text)
    assert "with Automate or App Automate access ran nothing" in text
    assert "costs no seat; their cost is parallels" in text
    assert "a month" in answer.text  # the notification says the money too
    # Costliest first: the first idle member line carries a price.
    (members,) = [b for b in answer.blocks if "Idle members" in json.dumps(b)]
    first = members["text"]["text"].splitlines()[1]
    assert re.search(r"\(\$\d+ a month\)", first), first


def test_teams_price_parallels_above_peak_use(make_stack: StackFactory) -> None:
    stack = make_stack(parallel_prices="automate=150,app-automate=200")
    stack.driver.command("teams last 30d", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "All teams")
    assert re.search(
        r":moneybag: \*\$[\d,]+ a month in parallels above peak use\* \(Automate: \d+ × \$150",
        text_of(answer),
    )


# --- item 5: rankings over every product -------------------------------------------------------


def test_top_users_rank_by_minutes_plus_tests_over_every_product(stack: LoopbackStack) -> None:
    stack.driver.command("top 40 last 30d thread", user=ANA, channel=CHANNEL)
    summary, _, upload = direct_answer(stack.standin, ANA)
    assert "Ranked by activity: minutes plus tests, every product" in text_of(summary)
    rows = csv_rows(upload)
    activity = [int(row["activity"]) for row in rows]
    assert activity == sorted(activity, reverse=True)
    assert all(int(r["activity"]) == int(r["minutes"]) + int(r["tests"]) for r in rows)
    # Automate users (tests, no minutes) rank among Live users instead of sinking.
    assert any(row["minutes"] == "0" for row in rows[:20])


def test_busiest_teams_say_their_measure(stack: LoopbackStack) -> None:
    stack.driver.command("teams last 30d", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "All teams")
    assert "Busiest teams (minutes plus tests, every product)" in text_of(answer)


# --- item 6: flags an admin acts on ------------------------------------------------------------


def test_usage_without_access_is_flagged(stack: LoopbackStack) -> None:
    # Steve (the API's own example) ran Automate and App Automate tests without access.
    stack.driver.command("user steve@example.com", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Steve")
    assert ":warning: *Usage without access* on Automate, App Automate" in text_of(answer)
    stack.driver.command("idle last 30d", user=ANA, channel=CHANNEL)
    idle = wait_answer(stack.standin, ANA, "Idle seats")
    assert "Usage without access" in text_of(idle)
    # Steve's email is Ana's in Slack: a private answer names him as a mention.
    assert "<@U0ANA> — used Automate, App Automate without access" in text_of(idle)


def test_saturated_parallels_and_advice_with_its_basis(stack: LoopbackStack) -> None:
    stack.driver.command("teams last 30d thread", user=ANA, channel=CHANNEL)
    summary, replies, _ = direct_answer(stack.standin, ANA)
    text = text_of(summary)
    assert re.search(r":warning: \d+ allocations? ran full \(peak equals the allocation", text)
    details = " ".join(text_of(reply) for reply in replies)
    assert "Parallels that ran full: tests queued" in details
    assert re.search(
        r"peak \d+ of \d+ parallels over 3\d days \(\d+%\): \d+ would do, keeping", details
    )


def test_no_parallels_advice_on_a_short_period(stack: LoopbackStack) -> None:
    stack.driver.command("teams last 14d", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "All teams")
    text = text_of(answer)
    assert "No parallels advice:" in text
    assert "may miss the busy weeks" in text
    assert ":bulb:" not in text


# --- item 7: readable durations ----------------------------------------------------------------


def test_durations_read_as_hours_and_minutes(stack: LoopbackStack) -> None:
    stack.driver.command("team Acme team", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Acme team")
    assert answer.text.startswith("Acme team: 5 h")  # the API example's 180 + 120 minutes
    assert "minutes" not in text_of(answer)


# --- item 10: next steps on every answer -------------------------------------------------------


def test_every_answer_links_to_browserstack(stack: LoopbackStack) -> None:
    for command, needle, page in (
        ("teams", "All teams", USAGE_PAGE),
        ("team Acme team", "Acme team", USAGE_PAGE),
        ("top 3", "Top", USAGE_PAGE),
        ("user steve@example.com", "Steve", USERS_PAGE),
        ("idle", "Idle seats", USERS_PAGE),
    ):
        stack.driver.command(command, user=ANA, channel=CHANNEL)
        answer = wait_answer(stack.standin, ANA, needle)
        assert f"<{page}|Open in BrowserStack>" in text_of(answer), command


def test_every_list_offers_a_csv_even_a_short_one(stack: LoopbackStack) -> None:
    stack.driver.command("top 3 thread", user=ANA, channel=CHANNEL)
    summary, _, upload = direct_answer(stack.standin, ANA)
    assert "The details come with a CSV of all 3 rows." in text_of(summary)
    assert upload.filename == "top-users.csv"
    assert len(csv_rows(upload)) == 3


def test_a_saturated_team_is_flagged_in_its_own_answer(stack: LoopbackStack) -> None:
    stack.driver.command("teams last 30d thread", user=ANA, channel=CHANNEL)
    _, _, upload = direct_answer(stack.standin, ANA)
    full = [
        row["team"]
        for row in csv_rows(upload)
        if row["automate_parallels_allocated"] not in ("", "0")
        and row["automate_parallels_allocated"] == row["automate_max_parallels_used"]
        and not set(row["team"]) & set('&<>"')  # found by its notification text below
    ]
    assert full, "the synthetic org should hold a team whose Automate parallels ran full"
    name = full[0]
    stack.driver.command(f'team "{name}" last 30d', user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, f"{name}:")
    text = text_of(answer)
    assert ":warning: *Parallels ran full* on Automate" in text
    assert ":warning: parallels full: tests queue" in text


# --- the digest preview says the same ----------------------------------------------------------


def test_digest_preview_names_who_never_used_it_and_prices_idle_seats(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(
        sandbox_factory(sparse_entries=True), seat_prices="live=39", digest_channel=CHANNEL
    )
    stack.driver.command("digest", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "digest")
    text = text_of(answer)
    assert "Never used BrowserStack (no login, no test)" in text
    assert re.search(r"\*\$[\d,]+ a month in idle seats\* \(Live: \d+ × \$39\)", text)
    assert f"<{USERS_PAGE}|Open in BrowserStack>" in text
