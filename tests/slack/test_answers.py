"""From a question and a report to its answer: ``title``, ``compose`` for every verb, and
``narrow`` (a record as one product's report has it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from bot.browserstack.models import Product, ProductUsage, Report, ReportFilters, ReportKind
from bot.clock import ShiftedClock
from bot.reports.index import narrow
from bot.reports.packed import PackedUsers
from bot.reports.question import Question, Verb
from bot.slack.answers import compose, title
from bot.slack.messages import Answer, Message
from bot.slack.people import People
from tests.records import seed_teams, seed_users, user_record

PERIOD = "the last 14 days"
REQUEST = "r0123456789"
BUTTONS = ("share", "details", "cancel")


@pytest.fixture
def now(clock: ShiftedClock) -> dt.datetime:
    return clock.now()


def filters(now: dt.datetime) -> ReportFilters:
    today = now.date()
    return ReportFilters(start=today - dt.timedelta(days=14), end=today)


def user_report(now: dt.datetime) -> Report:
    """Steve (the API text's example), and three people of the Web team seen days before now."""
    users = [
        *seed_users(),
        user_record(
            "Stella",
            "stella@example.com",
            "Web",
            access=(Product.AUTOMATE,),
            data={Product.AUTOMATE: ProductUsage(tests_run=0)},
            now=now,
            active=40,
        ),
        user_record(
            "Dev",
            "dev@example.com",
            "Web",
            access=(Product.LIVE, Product.AUTOMATE),
            data={
                Product.LIVE: ProductUsage(tests_run=3, minutes_used=50),
                Product.AUTOMATE: ProductUsage(tests_run=70),
            },
            now=now,
            active=1,
            tested=1,
        ),
        user_record(
            "Lou",
            "lou@example.com",
            "Web",
            access=(Product.LIVE,),
            data={Product.LIVE: ProductUsage(tests_run=1, minutes_used=400)},
            now=now,
            active=2,
            tested=2,
        ),
    ]
    return Report(ReportKind.USER, filters(now), now, users=users)


def team_report(now: dt.datetime) -> Report:
    """The API text's Acme team, and a second team whose name also holds "acme"."""
    (acme,) = seed_teams()
    labs = msgspec.structs.replace(acme, name="Acme labs", user_count=3)
    return Report(ReportKind.TEAM, filters(now), now, teams=[acme, labs])


def ask(verb: Verb, now: dt.datetime, **fields: Any) -> Question:
    today = now.date()
    return Question(
        verb=verb,
        start=today - dt.timedelta(days=14),
        end=today,
        period_label=PERIOD,
        describe=str(verb),
        **fields,
    )


def answer(question: Question, report: Report, now: dt.datetime, **options: Any) -> Answer:
    composed = compose(question, report, now=now, request_id=REQUEST, buttons=BUTTONS, **options)
    assert isinstance(composed, Answer), getattr(composed, "text", composed)
    return composed


def not_found(question: Question, report: Report, now: dt.datetime) -> Message:
    composed = compose(question, report, now=now, request_id=REQUEST, buttons=BUTTONS)
    assert isinstance(composed, Message)
    return composed


def buttons_of(message: Message) -> list[tuple[str, str]]:
    """(action_id, value) of every button in the message."""
    return [
        (element["action_id"], element["value"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# --- title -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "target", "said"),
    [
        (Verb.TEAM, "Acme team", "Generating the team report for Acme team"),
        (Verb.TEAMS, None, "Generating the report of all teams"),
        (Verb.USER, "ana@example.com", "Generating the usage report for ana@example.com"),
        (Verb.USER, None, "Generating the usage report for the person you mentioned"),
        (Verb.ME, "ana@example.com", "Generating your usage report"),
        (Verb.IDLE, None, "Looking for idle seats"),
        (Verb.TOP, None, "Finding the top users"),
        (Verb.DIGEST, None, "Preparing a preview of the weekly digest"),
        (Verb.HELP, None, "Generating the report"),
    ],
)
def test_title_says_what_is_being_made(
    now: dt.datetime, verb: Verb, target: str | None, said: str
) -> None:
    assert title(ask(verb, now, target=target)) == said


# --- compose, verb by verb ---------------------------------------------------------------------


def test_team_is_found_whatever_the_case(now: dt.datetime) -> None:
    composed = answer(ask(Verb.TEAM, now, target="ACME team"), team_report(now), now)
    summary = composed.summary
    assert summary.text.startswith("Acme team: 5 h")
    assert PERIOD in summary.text
    assert "Acme labs" not in str(summary.blocks)
    assert ("share", REQUEST) in buttons_of(summary)
    assert composed.details  # the per-product breakdown goes in the thread


def test_a_team_not_found_suggests_the_names_to_type(now: dt.datetime) -> None:
    message = not_found(ask(Verb.TEAM, now, target="acme"), team_report(now), now)
    assert message.text == "No team matches `acme`"
    body = str(message.blocks)
    assert "Did you mean" in body
    assert '`/usage team "Acme labs"`' in body
    assert '`/usage team "Acme team"`' in body

    nothing_close = not_found(ask(Verb.TEAM, now, target="zzz"), team_report(now), now)
    assert "Did you mean" not in str(nothing_close.blocks)
    assert "Check the spelling" in str(nothing_close.blocks)


def test_teams_ranks_every_team(now: dt.datetime) -> None:
    composed = answer(ask(Verb.TEAMS, now), team_report(now), now)
    assert composed.summary.text == f"All teams: 2 teams, 0 inactive ({PERIOD})"
    thread = str([reply.blocks for reply in composed.details])
    assert thread.index("Acme labs") < thread.index("Acme team")  # equal usage: by name


def test_a_user_is_found_by_email_whatever_the_case(now: dt.datetime) -> None:
    composed = answer(ask(Verb.USER, now, target=" DEV@Example.com "), user_report(now), now)
    summary = composed.summary
    assert summary.text == f"Dev: last active yesterday ({PERIOD})"
    assert "dev@example.com" in str(summary.blocks)
    assert composed.details == ()


def test_a_user_not_found_suggests_close_emails(now: dt.datetime) -> None:
    message = not_found(ask(Verb.USER, now, target="ste@example.com"), user_report(now), now)
    assert message.text == "No user matches `ste@example.com`"
    body = str(message.blocks)
    assert "`/usage user steve@example.com`" in body
    assert "`/usage user stella@example.com`" in body


def test_a_user_not_found_suggests_the_one_close_email(now: dt.datetime) -> None:
    message = not_found(ask(Verb.USER, now, target="dev@example.co"), user_report(now), now)
    assert "`/usage user dev@example.com`" in str(message.blocks)


@pytest.mark.parametrize(
    ("target", "query"),
    [("ste@example.com", "ste@example.com"), (None, "your account")],
    ids=["email-not-in-report", "no-email"],
)
def test_me_not_found_suggests_nobody_else(
    now: dt.datetime, target: str | None, query: str
) -> None:
    # Someone else's address would be a guess about who the asker is: none is offered.
    message = not_found(ask(Verb.ME, now, target=target), user_report(now), now)
    assert message.text == f"No user matches `{query}`"
    assert "Did you mean" not in str(message.blocks)


def test_me_is_the_askers_own_figures(now: dt.datetime) -> None:
    composed = answer(ask(Verb.ME, now, target="steve@example.com"), user_report(now), now)
    assert composed.summary.text.startswith("Steve: last active")


def test_idle_lists_idle_seats_for_a_product_or_all(now: dt.datetime) -> None:
    report = user_report(now)
    everything = answer(ask(Verb.IDLE, now), report, now)
    # Stella's idle product is Automate: unlimited users, so no idle seat, only information.
    assert everything.summary.text == f"Idle seats: 0 idle seats held by 0 members ({PERIOD})"
    assert "Stella" in str(everything.summary.blocks)
    assert "1 member with Automate or App Automate access ran nothing" in str(
        everything.summary.blocks
    )

    automate = answer(ask(Verb.IDLE, now, product=Product.AUTOMATE), report, now)
    assert automate.summary.text.startswith("Idle seats: Automate: 0 idle seats")
    fields = [block for block in automate.summary.blocks if "fields" in block]
    assert [field["text"].split("*")[1] for field in fields[0]["fields"]] == ["Automate"]

    live = answer(ask(Verb.IDLE, now, product=Product.LIVE), report, now)
    assert live.summary.text.startswith("Idle seats: Live: 0 idle seats")

    excluded = answer(ask(Verb.IDLE, now), report, now, idle_exclude=["STELLA@example.com"])
    assert excluded.summary.text.startswith("Idle seats: 0 idle seats")


@pytest.mark.parametrize(
    ("product", "count", "ranked"),
    [
        (None, 10, ["Lou", "Steve", "Dev"]),
        (None, 2, ["Lou", "Steve"]),
        (Product.LIVE, 10, ["Lou", "Steve", "Dev"]),
        (Product.AUTOMATE, 10, ["Dev", "Steve"]),  # no minutes: by tests
    ],
    ids=["all", "count", "live", "automate"],
)
def test_top_ranks_the_heaviest_users(
    now: dt.datetime, product: Product | None, count: int, ranked: list[str]
) -> None:
    composed = answer(ask(Verb.TOP, now, product=product, count=count), user_report(now), now)
    summary = composed.summary
    heading = f"Top {product.label} users" if product else "Top users"
    assert summary.text == f"{heading} ({PERIOD})"
    body = str(summary.blocks)
    names = [f"*{name}*" for name in ranked]
    assert all(name in body for name in names)
    assert [body.index(name) for name in names] == sorted(body.index(name) for name in names)
    assert "*Stella*" not in body  # no usage: not ranked
    if count < 3:
        assert "*Dev*" not in body


def test_a_product_narrows_a_users_answer(now: dt.datetime) -> None:
    composed = answer(
        ask(Verb.USER, now, target="dev@example.com", product=Product.AUTOMATE),
        user_report(now),
        now,
    )
    fields = str([block["fields"] for block in composed.summary.blocks if "fields" in block])
    assert "used: 70 tests" in fields
    assert "50 minutes" not in fields  # Live's entry is not in an Automate report


def test_digest_previews_through_the_given_renderer(now: dt.datetime) -> None:
    seen: list[tuple[Report, dt.datetime, Report, str, Sequence[str]]] = []
    preview = Answer(summary=Message(text="This week's digest", blocks=[]))

    def render(
        users: Report,
        now: dt.datetime,
        *,
        teams: Report,
        request_id: str,
        buttons: Sequence[str],
        people: People,
    ) -> Answer:
        seen.append((users, now, teams, request_id, buttons))
        return preview

    report = msgspec.structs.replace(user_report(now), fetched_at=now - dt.timedelta(hours=1))
    teams = team_report(now)
    question = ask(Verb.DIGEST, now)
    composed = compose(
        question,
        report,
        now=now,
        request_id=REQUEST,
        buttons=("details",),
        teams=teams,
        digest_preview=render,
    )
    assert composed is preview
    # The team report too (its parallels section); its Details button, as every answer.
    assert seen == [(report, now, teams, REQUEST, ("details",))]
    with pytest.raises(ValueError, match="needs the team report"):
        compose(question, report, now=now, request_id=REQUEST, buttons=(), digest_preview=render)


@pytest.mark.parametrize("verb", [Verb.DIGEST, Verb.HELP])
def test_a_verb_no_report_answers_is_an_error(now: dt.datetime, verb: Verb) -> None:
    # The digest without a renderer; help, which the command answers itself.
    with pytest.raises(ValueError, match=f"no report answers {verb}"):
        compose(ask(verb, now), user_report(now), now=now, request_id=REQUEST, buttons=())


# --- narrow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("kind", list(ReportKind))
def test_narrow_keeps_one_products_entries(
    now: dt.datetime, product: Product, kind: ReportKind
) -> None:
    report = user_report(now) if kind is ReportKind.USER else team_report(now)
    rows: list[Any] = [(row, narrow(row, product)) for row in report.rows]  # type: ignore[type-var]
    for before, after in rows:
        assert after.name == before.name
        kept = dict(after.usage.product_data.items())
        entry = before.usage.product_data.get(product)
        assert kept == ({product: entry} if entry is not None else {})
        # Everything but the other products' entries is as it was.
        assert after.product_access == before.product_access
        assert after.usage.last_activity == before.usage.last_activity
    # The report it was made from is unchanged.
    assert any(len(list(row.usage.product_data.items())) > 1 for row in report.rows)


@pytest.mark.parametrize("product", [None, Product.LIVE, Product.AUTOMATE])
def test_teams_from_packed_members_read_as_from_plain_ones(
    now: dt.datetime, product: Product | None
) -> None:
    """The overview passes over the members one at a time (narrowed as read, never a list of
    them all): a packed user report gives the answer a plain one gives."""
    plain = user_report(now)
    packed = msgspec.structs.replace(plain, users=PackedUsers(plain.users))
    question = ask(Verb.TEAMS, now, product=product)
    expected = answer(question, team_report(now), now, users=plain)
    found = answer(question, team_report(now), now, users=packed)
    assert found.summary == expected.summary
    assert found.details == expected.details
