"""The digest's messages: what the summary and the thread say, escaping, Slack's limits, the CSV."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from bot.browserstack.models import Product
from bot.digest.render import DigestMessages, prepare, render_digest
from bot.digest.rules import Digest, Snapshot, build_digest
from bot.slack import views
from bot.slack.messages import Message, escape_mrkdwn, validate
from tests.digest import (
    END,
    EXCLUDE,
    HOSTILE,
    IDLE,
    LIVE,
    NOW,
    ORG_IDLE,
    START,
    USED,
    many_users,
    org,
    org_teams,
    user,
)

PNG = b"\x89PNG\r\n\x1a\n"


def digest(**kwargs: Any) -> Digest:
    options: dict[str, Any] = {
        "now": NOW,
        "start": START,
        "end": END,
        "exclude": EXCLUDE,
        "teams": org_teams(),
    }
    options.update(kwargs)
    users = options.pop("users", None) or org()
    return build_digest(users, **options)


def messages(**kwargs: Any) -> DigestMessages:
    return render_digest(digest(**kwargs), now=NOW, chart=False)


def summary_text(result: DigestMessages) -> str:
    """Every mrkdwn string of the summary, joined."""
    return "\n".join(_texts(result.summary.blocks))


def _texts(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in _texts(value)]
    return []


def mrkdwn_texts(message: Message) -> list[str]:
    """What Slack parses as mrkdwn: the fallback text and every mrkdwn text object."""
    found = [message.text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks)
    return found


def assert_no_mentions(result: DigestMessages) -> None:
    for message in result.messages:
        for text in mrkdwn_texts(message):
            assert "<!" not in text, text
            assert "<@" not in text, text


def detail_lines(result: DigestMessages) -> list[str]:
    return [
        text_line
        for message in result.details
        for block in message.blocks
        if block["type"] == "section"
        for text_line in block["text"]["text"].split("\n")
    ]


def csv_rows(result: DigestMessages) -> list[dict[str, str]]:
    assert result.csv is not None
    return list(csv.DictReader(io.StringIO(result.csv.content)))


def assert_valid(result: DigestMessages) -> None:
    for message in result.messages:
        validate(message)
    assert len(result.details) <= views.MAX_DETAIL_MESSAGES


# --- the summary -------------------------------------------------------------------------------


def test_summary_of_the_organisation() -> None:
    result = messages()
    assert_valid(result)
    text = summary_text(result)
    assert result.summary.blocks[0]["text"]["text"] == "Weekly idle-seat digest"
    assert "the last 31 days (24 Oct – 23 Nov 2026)" in text
    assert (
        "*2 idle seats* (Live, App Live) held by 2 members. Members idle on everything they "
        "hold: 2; who never used BrowserStack: 1."
    ) in text
    assert "_For information:_ 2 members with Automate or App Automate access ran nothing" in text
    assert "6 members considered" in text
    assert "1 excluded" in text
    # Seats with access vs used, per product.
    assert "*Live*\n2 idle of 3 seats\n1 used · 1 not reported" in text
    assert "*App Automate*\n1 of 1 with access ran nothing\n0 used" in text
    assert "*Teams with the most idle seats*\n• *Mobile QA* — 2 idle seats · 2 members" in text
    assert ":bulb: *10 parallels could be freed* from 2 allocations" in text
    assert (
        "• *Mobile QA* Automate — peak 1 of 10 parallels over 31 days (10%): 2 would do, "
        "keeping 1 spare, freeing 8"
    ) in text
    assert "<https://www.browserstack.com/accounts/manage-users|Open in BrowserStack>" in text
    assert "_The first digest here" in text
    assert "late" not in text.casefold()
    assert "a month" not in text  # no prices configured
    assert result.summary.text.startswith("Weekly idle-seat digest: 2 idle seats held by 2 members")


def test_summary_says_what_changed_since_last_week() -> None:
    previous = ORG_IDLE - {("cleo@example.com", "app_automate")} | {
        ("steve@example.com", "live_testing"),
        ("gone@example.com", "automate"),
    }
    text = summary_text(messages(previous=Snapshot("2026-W47", previous)))
    assert (
        "*Since the digest of 2026-W47*: 1 seat newly idle · 1 seat back in use · 1 seat released"
        in text
    )
    assert "• *Cleo Park* cleo@example.com (Web) — unused access: App Automate" in text
    assert "first digest" not in text


def test_summary_of_a_quiet_week() -> None:
    text = summary_text(messages(previous=Snapshot("2026-W47", ORG_IDLE)))
    assert "*Since the digest of 2026-W47*: no change." in text


@pytest.mark.parametrize(
    ("prices", "currency", "expected"),
    [
        ({LIVE: 39.0}, "$", ":moneybag: *$78 a month in idle seats* (Live: 2 × $39)."),
        ({LIVE: 7.5, Product.APP_LIVE: 99}, "€", "*€15 a month in idle seats* (Live: 2 × €7.50)."),
    ],
)
def test_summary_with_seat_prices(
    prices: dict[Product, float], currency: str, expected: str
) -> None:
    result = render_digest(digest(seat_prices=prices), now=NOW, chart=False, currency=currency)
    assert expected in summary_text(result)


def test_summary_names_products_without_a_price() -> None:
    text = summary_text(messages(seat_prices={Product.APP_LIVE: 39.0}))
    assert "No seat price is set for Live (`SEAT_PRICES`)" in text


def test_late_digest_is_marked() -> None:
    result = messages(late=True)
    assert "Posted late" in summary_text(result)
    assert result.summary.text.endswith(", posted late")


def test_nobody_idle() -> None:
    used = [user("Ann", "ann@example.com", "T", access=(LIVE,), data={LIVE: USED})]
    result = render_digest(build_digest(used, now=NOW, start=START, end=END), now=NOW)
    assert "No idle seats: everyone with access used it in the last 31 days" in summary_text(result)
    assert (result.details, result.csv) == ((), None)
    assert result.chart is not None  # one seat, used: still worth a picture


def test_nobody_at_all() -> None:
    result = render_digest(build_digest([], now=NOW, start=START, end=END), now=NOW)
    assert "No members in the report" in summary_text(result)
    assert (result.details, result.csv, result.chart) == ((), None, None)
    assert_valid(result)


# --- the thread --------------------------------------------------------------------------------


def test_thread_lists_idle_members_per_team() -> None:
    previous = Snapshot("2026-W47", ORG_IDLE - {("bob@example.com", "live_testing")})
    result = messages(previous=previous)
    lines = detail_lines(result)
    assert lines[0] == "*Parallels that could be freed*"
    teams = [text for text in lines if text.startswith("*") and "member" in text]
    assert teams == [
        "*Mobile QA* — 2 idle seats · 2 members",
        "*Web* — 1 unused access · 1 member",
        "*No team* — 1 unused access · 1 member",
    ]
    (bob,) = [text for text in lines if "Bob Stone" in text]
    assert bob.startswith("• *Bob Stone* bob@example.com — idle: Live · never active")
    assert bob.endswith("_never used BrowserStack_ · :new: newly idle")
    (ana,) = [text for text in lines if "Ana Lima" in text]
    assert "last active 10 days ago" in ana
    assert ":new:" not in ana
    assert "Summary" not in result.details[0].text
    assert result.details[0].blocks[0]["text"]["text"] == "Idle members by team"


def test_thread_names_the_newly_idle_products_when_only_some_are() -> None:
    record = user(
        "Zed",
        "zed@example.com",
        "T",
        access=(LIVE, Product.AUTOMATE),
        data={LIVE: IDLE, Product.AUTOMATE: IDLE},
    )
    previous = Snapshot("2026-W47", frozenset({("zed@example.com", "live_testing")}))
    result = render_digest(
        build_digest([record], now=NOW, start=START, end=END, previous=previous), now=NOW
    )
    (zed,) = [text for text in detail_lines(result) if "Zed" in text]
    assert zed.endswith(":new: newly idle: Automate")


def test_csv_has_every_idle_member() -> None:
    previous = Snapshot("2026-W47", ORG_IDLE - {("dan@example.com", "automate")})
    result = render_digest(
        digest(previous=previous, seat_prices={LIVE: 39.0}),
        now=NOW,
        chart=False,
    )
    assert result.csv is not None
    assert result.csv.filename == "idle-seats-2026-11-23.csv"
    rows = {row["email"]: row for row in csv_rows(result)}
    assert set(rows) == {
        "Ana@Example.com",
        "bob@example.com",
        "cleo@example.com",
        "dan@example.com",
    }
    dan = rows["dan@example.com"]
    assert (dan["team"], dan["idle_products"], dan["fully_idle"], dan["never_used"]) == (
        "",
        "Automate",
        "yes",
        "no",
    )
    # Automate access costs no seat: Dan's idle cost is nothing; Ana's Live seat costs $39.
    assert (dan["newly_idle"], dan["days_inactive"], dan["idle_cost_monthly"]) == (
        "Automate",
        "200",
        "0",
    )
    assert rows["Ana@Example.com"]["idle_cost_monthly"] == "39.0"
    # Idle seats (per-user licences) apart from unused Automate access, which costs no seat.
    assert (dan["idle_seats"], dan["unused_access"]) == ("", "Automate")
    assert (rows["bob@example.com"]["idle_seats"], rows["bob@example.com"]["never_used"]) == (
        "Live",
        "yes",
    )
    assert dan["last_activity"] == "2026-05-07T08:00:00+00:00"
    assert rows["Ana@Example.com"]["products"] == "Live; Automate"
    assert rows["Ana@Example.com"]["newly_idle"] == ""


def test_csv_without_prices_or_history_has_no_such_figures() -> None:
    rows = csv_rows(messages())
    assert "idle_cost_monthly" not in rows[0]
    assert {row["newly_idle"] for row in rows} == {""}


def test_csv_defuses_formulas() -> None:
    record = user(
        '=HYPERLINK("http://evil")', "+1@example.com", "@team", access=(LIVE,), data={LIVE: IDLE}
    )
    result = render_digest(build_digest([record], now=NOW, start=START, end=END), now=NOW)
    (row,) = csv_rows(result)
    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert (row["email"], row["team"]) == ("'+1@example.com", "'@team")


# --- escaping and size -------------------------------------------------------------------------


def test_hostile_names_are_escaped_everywhere() -> None:
    records = org()
    for record in records:
        record.name = f"{HOSTILE} {record.name}"
        record.team = f"{HOSTILE} {record.team}" if record.team else None
        record.email = f"{HOSTILE}{record.email}"
    teams = org_teams()
    for team in teams:
        team.name = f"{HOSTILE} {team.name}"
    previous = Snapshot("<!here>", frozenset({(f"{HOSTILE}x".casefold(), "automate")}))
    result = render_digest(
        build_digest(
            records,
            teams=teams,
            now=NOW,
            start=START,
            end=END,
            previous=previous,
            seat_prices={LIVE: 10.0},
        ),
        now=NOW,
        currency="<!everyone>",
    )
    assert_valid(result)
    assert_no_mentions(result)
    assert escape_mrkdwn(HOSTILE) in summary_text(result)
    assert escape_mrkdwn(HOSTILE) in "\n".join(detail_lines(result))
    assert "&lt;!everyone&gt;" in summary_text(result)


def test_a_hostile_team_digest() -> None:
    records = org()
    for record in records:
        if record.team == "Mobile QA":
            record.team = HOSTILE
    result = render_digest(digest(users=records, team=HOSTILE), now=NOW)
    assert_valid(result)
    assert_no_mentions(result)
    # Header texts are plain_text (not parsed by Slack): the name shows as typed.
    assert result.summary.blocks[0]["text"]["text"] == f"Weekly idle-seat digest: {HOSTILE}"
    assert "Teams with the most idle seats" not in summary_text(result)
    assert result.csv is not None
    assert result.chart is not None
    assert result.csv.filename == "idle-seats-channel-u123-bold-2026-11-23.csv"


def test_fifty_thousand_members() -> None:
    members = many_users(50_000)
    previous = Snapshot(
        "2026-W47", frozenset((f"user{i}@example.com", "live_testing") for i in range(0, 50_000, 2))
    )
    result = render_digest(
        build_digest(members, now=NOW, start=START, end=END, previous=previous),
        now=NOW,
        chart=False,
    )
    assert_valid(result)
    assert len(result.details) == views.MAX_DETAIL_MESSAGES
    # What the thread shows, plus what it says it left out, is everyone.
    shown = sum(1 for text in detail_lines(result) if text.startswith("• *User "))
    last = result.details[-1].blocks[-1]
    assert last["type"] == "context"
    found = re.search(
        r"and ([\d,]+) more: the attached CSV has them all", last["elements"][0]["text"]
    )
    assert found, last
    assert shown + int(found.group(1).replace(",", "")) == 50_000
    rows = csv_rows(result)
    assert len(rows) == 50_000
    assert {row["email"] for row in rows} == {m.email for m in members}
    # Live went idle for the odd half; Automate, idle for one in four, is new for all of them.
    assert sum(row["newly_idle"] != "" for row in rows) == 25_000 + 12_500
    text = summary_text(result)
    assert "*50,000 idle seats* (Live, App Live) held by 50,000 members" in text
    assert "37,500 seats newly idle" in text
    assert "_… and 695 more (details in thread)_" in text


# --- the API the scheduler uses ----------------------------------------------------------------


def test_prepare_builds_and_renders_with_the_chart() -> None:
    built, result = prepare(
        org(),
        org_teams(),
        start=START,
        end=END,
        now=NOW,
        exclude=EXCLUDE,
        previous=Snapshot("2026-W47", ORG_IDLE),
        late=True,
    )
    assert built.snapshot == ORG_IDLE
    assert built.late
    assert result.chart is not None
    assert result.chart.content.startswith(PNG)
    assert result.chart.filename == "seat-use-2026-11-23.png"
    answer = result.answer
    assert (answer.summary, answer.details, answer.csv) == (
        result.summary,
        result.details,
        result.csv,
    )
    assert result.messages == (result.summary, *result.details)
    assert "a chart of seat use" in summary_text(result)


# --- issue 8: who never used it, money, mentions, advice ----------------------------------------


def test_members_who_never_used_browserstack_are_named() -> None:
    # No entry at all in the All-Products report and no login: idle by evidence, and named.
    ghost = user("Gus Ghost", "gus@example.com", "Web", access=(LIVE,), data={})
    text = summary_text(messages(users=[*org(), ghost]))
    assert "*Never used BrowserStack (no login, no test)*" in text
    assert "• *Gus Ghost* gus@example.com" in text
    assert "• *Bob Stone* bob@example.com" in text


def test_parallels_above_peak_are_priced_in_the_summary() -> None:
    result = render_digest(digest(parallel_prices={Product.AUTOMATE: 150.0}), now=NOW, chart=False)
    # Automate: Acme 5 + Mobile QA 10 + Web 2 allocated, peaks 2 + 1 + 2: 12 above peak.
    assert ":moneybag: *$1,800 a month in parallels above peak use* (Automate: 12 × $150)." in (
        summary_text(result)
    )


def test_a_short_period_withholds_parallels_advice_and_says_why() -> None:
    text = summary_text(messages(start=END.replace(day=10)))
    assert ":bulb:" not in text
    assert "No parallels advice: 14 days may miss the busy weeks" in text
    assert "set `IDLE_DAYS` to 28 or more" in text


class _People:
    def user_id(self, email: str) -> str | None:
        return "U0BOB1" if email == "bob@example.com" else None


def test_digest_lines_mention_members_slack_knows() -> None:
    result = render_digest(digest(), now=NOW, chart=False, people=_People())
    lines = "\n".join(text for m in result.details for text in _texts(m.blocks))
    assert "• <@U0BOB1> — idle: Live" in lines
    assert "bob@example.com" not in lines
    assert "• *Ana Lima* Ana@Example.com — idle: Live" in lines
