"""Every message type: hostile names, huge reports, buttons and splitting.

The golden files (``tests/slack/golden``) are made by the real answer path: ``test_golden.py``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest

from bot.browserstack.models import (
    Product,
    ProductAccess,
    ProductData,
    ProductUsage,
    TeamRecord,
    Usage,
    UserRecord,
)
from bot.reports import analysis
from bot.slack import views
from bot.slack.messages import Answer, Message, escape_mrkdwn, validate
from bot.slack.views import USAGE_PAGE, USERS_PAGE
from tests import records
from tests.records import seed_teams, seed_users

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Three days after the seed's timestamps (2023-06-30T11:33:40Z).
NOW = datetime(2023, 7, 3, 12, 0, tzinfo=UTC)
PERIOD = "16 Jun – 30 Jun 2023"
SHARER = "U0SHARER"
REQUEST = "req-42"


@dataclass(frozen=True)
class Form:
    syntax: str
    example: str
    explanation: str


FORMS = (
    Form("help", "help", "Show this list."),
    Form("team <name>", "team Mobile QA", "One team's usage."),
    Form("teams", "teams last month", "Every team side by side."),
    Form("idle [product]", "idle automate", "People with access who ran no tests."),
    Form("last <N>d", "teams last 30d", "The last N days."),
    Form("live | automate", "top automate", "Only that product."),
    Form("thread", "team Mobile QA thread", "Details in a thread reply."),
    Form("public", "teams public", "Post in the channel."),
)


# --- inputs ------------------------------------------------------------------------------------


def stamp(days_ago: float | None) -> str | None:
    return records.stamp(days_ago, now=NOW)


IDLE = ProductUsage(tests_run=0, minutes_used=0)


def user(name: str, email: str, team: str | None, **fields: Any) -> UserRecord:
    return records.user_record(name, email, team, now=NOW, **fields)


def team(
    name: str,
    *,
    data: dict[Product, ProductUsage],
    tested: float | None = None,
    user_count: int = 5,
) -> TeamRecord:
    return TeamRecord(
        name=name,
        user_count=user_count,
        type="team",
        product_access=ProductAccess(**{p.value: True for p in data}),
        usage=Usage(
            last_test=stamp(tested),
            product_data=ProductData(**{p.value: entry for p, entry in data.items()}),
        ),
    )


LIVE, AUTOMATE, APP_LIVE, APP_AUTOMATE = list(Product)


def users() -> list[UserRecord]:
    return [
        *seed_users(),
        user(
            "Ana Lima",
            "ana@example.com",
            "Mobile QA",
            access=(LIVE, AUTOMATE),
            data={LIVE: IDLE, AUTOMATE: ProductUsage(tests_run=25)},
            active=10,
            tested=10,
        ),
        user(
            "Bob Stone",
            "bob@example.com",
            "Mobile QA",
            access=(LIVE,),
            data={LIVE: IDLE},
            active=40,
        ),
        user(
            "Cleo Park",
            "cleo@example.com",
            "Web",
            access=(APP_LIVE, APP_AUTOMATE),
            data={APP_LIVE: ProductUsage(minutes_used=50, tests_run=5), APP_AUTOMATE: IDLE},
            active=2,
            tested=2,
        ),
        user(
            "Dan Wu",
            "dan@example.com",
            None,
            access=(AUTOMATE,),
            data={AUTOMATE: IDLE},
            active=200,
            tested=200,
        ),
    ]


def teams() -> list[TeamRecord]:
    automate = ProductUsage(
        current_parallels_allocated=10, max_parallels_used=2, parallel_consumption_type="team"
    )
    return [
        *seed_teams(),
        team(
            "Mobile QA",
            data={LIVE: ProductUsage(minutes_used=500), AUTOMATE: automate},
            tested=1,
        ),
        team("Web", data={APP_LIVE: ProductUsage(minutes_used=50)}, tested=20),
        team("Dormant", data={LIVE: ProductUsage(minutes_used=0)}),
    ]


COMMON: dict[str, Any] = {"period_label": PERIOD, "request_id": REQUEST}


def build_team(shared_by: str | None = None) -> Answer:
    members = analysis.members_of(users(), "Mobile QA")
    mobile = next(record for record in teams() if record.name == "Mobile QA")
    summary = analysis.team_summary(mobile, members=members, now=NOW)
    return views.team_answer(
        summary,
        now=NOW,
        buttons=("share", "details"),
        shared_by=shared_by,
        members=[analysis.user_summary(u, now=NOW) for u in members],
        members_limit=1,
        **COMMON,
    )


def build_teams() -> Answer:
    records = teams()
    overview = analysis.org_overview(records, users=users(), now=NOW)
    return views.teams_answer(
        overview,
        now=NOW,
        buttons=("share", "details"),
        rightsizing=analysis.parallel_rightsizing(records),
        **COMMON,
    )


def build_user() -> Answer:
    summary = analysis.user_summary(seed_users()[0], now=NOW)
    return views.user_answer(summary, now=NOW, buttons=("share", "details"), **COMMON)


def build_idle() -> Answer:
    report = analysis.idle_seats(users(), now=NOW)
    return views.idle_answer(
        report, product_label=None, now=NOW, buttons=("share", "details"), **COMMON
    )


def build_top() -> Answer:
    top = analysis.top_users(users(), n=10)
    return views.top_answer(top, product_label=None, buttons=("share",), **COMMON)


def dump(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def all_messages(result: Answer | Message) -> list[Message]:
    if isinstance(result, Message):
        return [result]
    return [result.summary, *result.details]


# --- hostile inputs ----------------------------------------------------------------------------

HOSTILE = [
    "<!channel>",
    "<!here> ping",
    "<@U123>",
    "<https://evil.test|click>",
    "<!subteam^S123|@admins> <#C123>",
    "*bold* _it_ ~s~ `code`",
    "&amp; &lt; A&B",
    "😀 café 中文",
    "x" * 5_000,
    "<!channel>" * 600,
    "line one\nline two\r\n\ttabbed",
    'quote " and \\ backslash \\" \\n',
    "",
]
LEGIT_MENTION = re.compile(r"<@U0[A-Z0-9]+>")
# The one link the bot emits: "Open in BrowserStack", to one of views' page constants.
LEGIT_LINK = re.compile(
    "|".join(f"<{re.escape(page)}\\|Open in BrowserStack>" for page in (USAGE_PAGE, USERS_PAGE))
)
LOOSE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")


def hostile_users(s: str) -> list[UserRecord]:
    # The hostile text in every outside field, in several users so lists have several lines.
    return [
        user(
            f"{s}{i}",
            f"{s}{i}@example.com",
            f"{s} team {i % 3}",
            access=(LIVE, AUTOMATE),
            data={LIVE: IDLE, AUTOMATE: ProductUsage(tests_run=i + 1)},
            active=i,
            tested=i,
        )
        for i in range(30)
    ]


def hostile_teams(s: str) -> list[TeamRecord]:
    automate = ProductUsage(
        current_parallels_allocated=8, max_parallels_used=1, parallel_consumption_type=s
    )
    return [
        TeamRecord(
            name=f"{s}{i}",
            type=s,
            user_count=3,
            product_access=ProductAccess(automate=True),
            usage=Usage(
                last_test=stamp(i), product_data=ProductData(automate=automate, live_testing=None)
            ),
        )
        for i in range(30)
    ]


class CommonArgs(TypedDict):
    """The keyword arguments every answer view takes."""

    period_label: str
    request_id: str
    shared_by: str


def hostile_results(s: str) -> Iterator[Answer | Message]:
    records = hostile_users(s)
    summary = analysis.team_summary(hostile_teams(s)[0], members=records, now=NOW)
    common: CommonArgs = {"period_label": s, "request_id": REQUEST, "shared_by": SHARER}
    buttons = ("share", "details", "cancel")
    yield views.help_message([Form(s, s, s), Form(f"team {s}", f"team {s}", s)])
    yield views.error_message(title=s, problem=s, example=s, hint=s)
    yield views.not_found_message(what=s, query=s, suggestions=[s, s + "2"], example_prefix=s)
    yield views.placeholder_message(
        title=s, period_label=s, status=s, elapsed=s, request_id=REQUEST
    )
    yield views.cancelled_message(title=s, by_user=SHARER, note=s)
    yield views.team_answer(
        summary,
        now=NOW,
        buttons=buttons,
        members=[analysis.user_summary(u, now=NOW) for u in records],
        **common,
    )
    yield views.team_answer(summary, now=NOW, buttons=buttons, **common)
    yield views.teams_answer(
        analysis.org_overview(hostile_teams(s), users=records, now=NOW),
        now=NOW,
        buttons=buttons,
        rightsizing=analysis.parallel_rightsizing(hostile_teams(s)),
        **common,
    )
    yield views.user_answer(
        analysis.user_summary(records[0], now=NOW), now=NOW, buttons=buttons, **common
    )
    yield views.idle_answer(
        analysis.idle_seats(records, now=NOW), product_label=s, now=NOW, buttons=buttons, **common
    )
    yield views.top_answer(
        analysis.top_users(records, n=50), product_label=s, buttons=buttons, **common
    )


def mrkdwn_texts(message: Message) -> Iterator[str]:
    """The fallback and every mrkdwn text object: what Slack parses for mentions and links."""
    yield message.text

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                yield node["text"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(message.blocks)


@pytest.mark.parametrize("s", HOSTILE, ids=[repr(s[:20]) for s in HOSTILE])
def test_hostile_strings_stay_text(s: str) -> None:
    results = list(hostile_results(s))
    texts = []
    for result in results:
        for message in all_messages(result):
            validate(message)
            payload = json.dumps(message.payload())
            assert json.loads(payload) == message.payload()
            for text in mrkdwn_texts(message):
                texts.append(text)
                bare = LEGIT_LINK.sub("", LEGIT_MENTION.sub("", text))
                # We emit no other links: any < or > left would be Slack syntax from outside.
                assert "<" not in bare, text[:200]
                assert ">" not in bare, text[:200]
                assert not LOOSE_AMPERSAND.search(text), text[:200]
    # The hostile text is shown, escaped exactly once (not dropped, not double-escaped).
    visible = escape_mrkdwn(" ".join(s.split())[:10])
    assert visible in " ".join(texts)


def test_hostile_shared_by_and_by_user_are_refused() -> None:
    with pytest.raises(ValueError, match="user id"):
        views.cancelled_message(title="t", by_user="U1>|<!channel", note=None)
    with pytest.raises(ValueError, match="user id"):
        build_team(shared_by="<!channel>")


def test_plain_text_keeps_names_as_typed_within_limits() -> None:
    summary = analysis.team_summary(hostile_teams("<b> & " + "n" * 400)[0], now=NOW)
    answer = views.team_answer(summary, now=NOW, buttons=(), **COMMON)
    header = answer.summary.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"].startswith("<b> & nnn")  # plain_text: Slack shows it as is
    assert len(header["text"]["text"]) == 150


# --- large inputs ------------------------------------------------------------------------------


def many_idle_users(n: int) -> list[UserRecord]:
    access = ProductAccess(live_testing=True, automate=True)
    used = ProductUsage(tests_run=3)
    return [
        UserRecord(
            name=f"User {i}",
            email=f"user{i}@example.com",
            team=f"Team {i % 700}",
            product_access=access,
            usage=Usage(
                last_activity=stamp(i % 90),
                product_data=ProductData(live_testing=IDLE, automate=used if i % 4 else IDLE),
            ),
        )
        for i in range(n)
    ]


def csv_rows(content: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content)))


def assert_answer_valid(answer: Answer) -> None:
    for message in all_messages(answer):
        validate(message)
    assert len(answer.details) <= views.MAX_DETAIL_MESSAGES


def detail_items(answer: Answer, pattern: str) -> int:
    return sum(
        len(re.findall(pattern, block["text"]["text"], flags=re.MULTILINE))
        for message in answer.details
        for block in message.blocks
        if block["type"] == "section"
    )


def more_in_details(answer: Answer) -> int:
    last = answer.details[-1].blocks[-1]
    assert last["type"] == "context"
    found = re.search(r"and ([\d,]+) more", last["elements"][0]["text"])
    assert found, last
    return int(found.group(1).replace(",", ""))


def test_fifty_thousand_idle_members() -> None:
    report = analysis.idle_seats(many_idle_users(50_000), now=NOW)
    answer = views.idle_answer(
        report, product_label=None, now=NOW, buttons=("share", "details"), **COMMON
    )
    assert_answer_valid(answer)
    assert len(answer.details) == views.MAX_DETAIL_MESSAGES
    shown = detail_items(answer, r"^• \*User \d+\*")
    assert shown + more_in_details(answer) == len(report.members) == 50_000
    assert answer.csv is not None
    assert answer.csv.content.count("\n") == 50_001  # a header and one line per member
    rows = csv_rows(answer.csv.content)
    assert len(rows) == 50_001
    assert {row[1] for row in rows[1:]} == {m.email for m in report.members}
    summary = dump(answer.summary.blocks)
    assert "… and 49,990 more (details in thread)" in summary


def test_two_thousand_teams() -> None:
    records = [
        team(
            f"Team {i:04}",
            data={
                LIVE: ProductUsage(minutes_used=i),
                AUTOMATE: ProductUsage(
                    current_parallels_allocated=10,
                    max_parallels_used=i % 10,
                    parallel_consumption_type="team",
                ),
            },
            tested=i % 30,
        )
        for i in range(2_000)
    ]
    overview = analysis.org_overview(records, now=NOW)
    rightsizing = analysis.parallel_rightsizing(records)
    answer = views.teams_answer(
        overview, now=NOW, buttons=("share", "details"), rightsizing=rightsizing, **COMMON
    )
    assert_answer_valid(answer)
    shown = detail_items(answer, r"^`\d+\.` \*Team")
    assert 100 < shown < 2_000
    assert shown + more_in_details(answer) == 2_000
    assert answer.csv is not None
    assert answer.csv.content.count("\n") == 2_001
    assert [row[1] for row in csv_rows(answer.csv.content)[1:]] == [t.name for t in overview.teams]
    assert "… and 1,985 more (details in thread)" in dump(answer.summary.blocks)
    assert "Parallels that could be freed" in dump(answer.details[0].blocks)


def test_fifty_top_users() -> None:
    records = many_idle_users(500)
    top = analysis.top_users(records, n=50)
    assert len(top) == 50
    answer = views.top_answer(top, product_label=None, buttons=("share", "details"), **COMMON)
    assert_answer_valid(answer)
    assert answer.csv is not None  # every list comes with its CSV
    assert detail_items(answer, r"^`\d+\.`") == 50  # the whole ranking; the summary the first 10
    assert "… and 40 more (details in thread)" in dump(answer.summary.blocks)


def test_team_with_five_thousand_members() -> None:
    records = many_idle_users(5_000)
    for record in records:
        record.team = "Big"
    acme = seed_teams()[0]
    summary = analysis.team_summary(acme, members=records, now=NOW, top=50)
    members = [analysis.user_summary(u, now=NOW) for u in records]
    answer = views.team_answer(
        summary, now=NOW, buttons=("details",), members=members, members_limit=10, **COMMON
    )
    assert_answer_valid(answer)
    assert answer.csv is not None
    assert len(csv_rows(answer.csv.content)) == 5_001
    shown = detail_items(answer, r"^• \*User")
    assert shown + more_in_details(answer) == 5_000


def test_long_names_cut_the_summary_list_early() -> None:
    records = hostile_users("&" * 300)
    top = analysis.top_users(records, n=30)
    answer = views.top_answer(top, product_label=None, buttons=(), **COMMON)
    assert_answer_valid(answer)
    (text,) = [
        block["text"]["text"] for block in answer.summary.blocks if "Ranked by" in str(block)
    ]
    shown = len(re.findall(r"^`\d+\.`", text, flags=re.MULTILINE))
    assert shown < 10
    assert f"… and {30 - shown} more (details in thread)" in text
    # The thread holds the whole ranking, as the CSV does.
    first = answer.details[0].blocks[1]["text"]["text"]
    assert first.startswith("`1.`")


# --- buttons and behaviour ---------------------------------------------------------------------


def actions(message: Message) -> list[dict[str, Any]]:
    blocks = [b for b in message.blocks if b["type"] == "actions"]
    return blocks[0]["elements"] if blocks else []


def test_buttons() -> None:
    answer = build_idle()
    assert [b["action_id"] for b in actions(answer.summary)] == ["share", "details"]
    assert {b["value"] for b in actions(answer.summary)} == {REQUEST}
    share = actions(answer.summary)[0]
    assert share["style"] == "primary"
    assert share["text"]["text"] == "Share in channel"
    placeholder = views.placeholder_message(
        title="t", period_label="p", status="s", elapsed=None, request_id="r9"
    )
    (cancel,) = actions(placeholder)
    assert cancel["action_id"] == "cancel"
    assert cancel["style"] == "danger"
    assert cancel["value"] == "r9"
    assert set(cancel["confirm"]) >= {"title", "text", "confirm", "deny"}


def test_no_buttons_no_actions_block() -> None:
    answer = views.top_answer([], product_label="Automate", buttons=(), **COMMON)
    assert actions(answer.summary) == []
    assert answer.details == ()
    assert "Nobody used Automate" in dump(answer.summary.blocks)


def test_details_button_only_when_there_are_details() -> None:
    answer = build_user()
    assert answer.details == ()
    assert [b["action_id"] for b in actions(answer.summary)] == ["share"]


def test_unknown_button_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown buttons"):
        views.top_answer([], product_label=None, buttons=("delete",), **COMMON)


def test_shared_by_adds_a_context_line() -> None:
    shared = build_team(shared_by=SHARER).summary
    assert f"Shared by <@{SHARER}>" in dump(shared.blocks)
    assert "Shared by" not in dump(build_team().summary.blocks)


def test_help_groups_commands_then_options_and_teaches_privacy_and_threads() -> None:
    text = dump(views.help_message(FORMS).blocks)
    for form in FORMS:
        assert escape_mrkdwn(f"/usage {form.example}") in text
    assert text.index("*Commands*") < text.index("/usage idle") < text.index("*Options*")
    assert text.index("*Options*") < text.index("/usage last &lt;N&gt;d")
    assert "private" in text
    assert "unless you add `public`" in text
    assert "@usagebot &lt;command&gt;" in text


def test_error_example_gets_the_command_name_once() -> None:
    plain = views.error_message(title="t", problem="p", example="teams")
    prefixed = views.error_message(title="t", problem="p", example="/usage teams")
    assert "Try `/usage teams`" in dump(plain.blocks)
    assert "Try `/usage teams`" in dump(prefixed.blocks)


def test_not_found_suggests_commands_to_type() -> None:
    message = views.not_found_message(
        what="user", query="stev", suggestions=["steve@example.com"], example_prefix="/usage user"
    )
    text = message.blocks[0]["text"]["text"]
    assert "No user matches `stev`." in text
    assert "• `/usage user steve@example.com`" in text
    none = views.not_found_message(
        what="team", query="zzz", suggestions=(), example_prefix="/usage team"
    )
    assert "Did you mean" not in dump(none.blocks)


def test_csv_cells_cannot_run_as_formulas() -> None:
    records = hostile_users("=HYPERLINK(1)")
    report = analysis.idle_seats(records, now=NOW)
    csv_file = views._idle_csv(report, PERIOD)
    rows = csv_rows(csv_file.content)[1:]
    assert all(row[0].startswith("'=HYPERLINK") for row in rows)


def test_relative_times_use_now() -> None:
    later = NOW + timedelta(days=30)
    summary = analysis.user_summary(seed_users()[0], now=NOW)
    answer = views.user_answer(summary, now=later, buttons=(), **COMMON)
    assert "Last active *4 weeks ago*" in dump(answer.summary.blocks)


def test_help_renders_the_bots_own_forms() -> None:
    from bot.slack.commands import USAGE_FORMS

    text = "\n".join(mrkdwn_texts(views.help_message(USAGE_FORMS)))
    for form in USAGE_FORMS:
        assert escape_mrkdwn(f"/usage {form.example}") in text


# --- members as Slack mentions -----------------------------------------------------------------


class DictPeople:
    """People from a dict (email, any case -> Slack user id): what the real one caches."""

    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = {email.casefold(): user_id for email, user_id in ids.items()}

    def user_id(self, email: str) -> str | None:
        return self.ids.get(email.casefold())


ANA_ID = "U0ANA1"
KNOWN = DictPeople({"Ana@Example.com": ANA_ID, "bob@example.com": "not an id <!channel>"})


def all_text(answer: Answer) -> str:
    return "\n".join(dump(m.blocks) for m in all_messages(answer))


def test_lists_name_known_members_as_mentions_and_others_by_name_and_email() -> None:
    top = analysis.top_users(users(), n=10)
    answer = views.top_answer(top, product_label=None, buttons=(), people=KNOWN, **COMMON)
    text = all_text(answer)
    assert f"<@{ANA_ID}>" in text
    assert "*Ana Lima* ana@example.com" not in text  # named once, by the mention
    assert "*Cleo Park* cleo@example.com" in text  # not in the workspace: name and email
    # Without people, nobody is mentioned.
    plain = all_text(views.top_answer(top, product_label=None, buttons=(), **COMMON))
    assert "<@" not in plain
    assert "*Ana Lima* ana@example.com" in plain


def test_a_bad_user_id_from_people_is_never_emitted() -> None:
    report = analysis.idle_seats(users(), now=NOW)
    answer = views.idle_answer(
        report, product_label=None, now=NOW, buttons=(), people=KNOWN, **COMMON
    )
    text = all_text(answer)
    assert "not an id" not in text
    assert "<!channel>" not in text
    assert "*Bob Stone* bob@example.com" in text
    assert f"<@{ANA_ID}>" in text


def test_team_answer_mentions_members() -> None:
    members = analysis.members_of(users(), "Mobile QA")
    mobile = next(record for record in teams() if record.name == "Mobile QA")
    summary = analysis.team_summary(mobile, members=members, now=NOW)
    answer = views.team_answer(
        summary,
        now=NOW,
        buttons=("details",),
        members=[analysis.user_summary(u, now=NOW) for u in members],
        people=KNOWN,
        **COMMON,
    )
    assert f"• <@{ANA_ID}> — Live _idle_" in all_text(answer)


# --- next steps: a link and a CSV ------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "page"),
    [
        (build_team, USAGE_PAGE),
        (build_teams, USAGE_PAGE),
        (build_top, USAGE_PAGE),
        (build_user, USERS_PAGE),
        (build_idle, USERS_PAGE),
    ],
)
def test_every_answer_links_to_browserstack(build: Callable[[], Answer], page: str) -> None:
    assert f"<{page}|Open in BrowserStack>" in dump(build().summary.blocks)


@pytest.mark.parametrize("build", [build_team, build_teams, build_top, build_idle])
def test_every_list_comes_with_a_csv_and_says_so(build: Callable[[], Answer]) -> None:
    answer = build()
    assert answer.csv is not None
    rows = len(csv_rows(answer.csv.content)) - 1
    assert f"The details come with a CSV of all {rows:,} rows." in dump(answer.summary.blocks)


def test_durations_read_as_hours_and_minutes() -> None:
    text = dump(build_team().summary.blocks)
    assert "8 h 20 min" in text  # Mobile QA's 500 Live minutes
    assert "500 minutes" not in text


def test_saturated_parallels_and_short_period_advice_are_said() -> None:
    records = [
        team("Full", data={AUTOMATE: ProductUsage(current_parallels_allocated=4,
                                                  max_parallels_used=4,
                                                  parallel_consumption_type="team")}),
        *teams(),
    ]  # fmt: skip
    overview = analysis.org_overview(records, now=NOW)
    end = NOW.date()
    short = analysis.parallels_advice(records, start=end - timedelta(days=13), end=end)
    answer = views.teams_answer(overview, now=NOW, buttons=("details",), advice=short, **COMMON)
    summary = dump(answer.summary.blocks)
    assert ":warning: 1 allocation ran full" in summary
    assert "No parallels advice: 14 days may miss the busy weeks" in summary
    assert "• *Full* Automate — peak 4 of 4 parallels: tests queue" in all_text(answer)
    assert ":warning: parallels full (Automate)" in all_text(answer)
    long = analysis.parallels_advice(records, start=end - timedelta(days=29), end=end)
    answer = views.teams_answer(overview, now=NOW, buttons=("details",), advice=long, **COMMON)
    assert "peak 2 of 10 parallels over 30 days (20%): 3 would do, keeping 1 spare" in all_text(
        answer
    )


def test_user_answer_mentions_the_person_slack_knows() -> None:
    ana = next(u for u in users() if u.email == "ana@example.com")
    summary = analysis.user_summary(ana, now=NOW)
    answer = views.user_answer(summary, now=NOW, buttons=(), people=KNOWN, **COMMON)
    context = answer.summary.blocks[1]["elements"]
    assert [e["text"] for e in context[:2]] == [f"<@{ANA_ID}>", "ana@example.com"]
    plain = views.user_answer(summary, now=NOW, buttons=(), **COMMON)
    assert "<@" not in dump(plain.summary.blocks)
