"""Writing a report out: JSON as the API's data object, CSV for spreadsheets, a terminal table."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import msgspec
import pytest

from bot.browserstack.models import (
    Product,
    ProductUsage,
    Report,
    ReportFilters,
    ReportKind,
    TeamRecord,
    UserRecord,
)
from bot.clock import ShiftedClock
from bot.export import FORMATS, to_json, to_table, write_csv, write_report
from tests.records import FIXTURES, seed_teams, seed_users, user_record

ACCESS = [f"product_access.{p.value}" for p in Product]
SEED_USER_COLUMNS = [
    "name",
    "email",
    "role",
    "team",
    *ACCESS,
    "usage.last_activity",
    "usage.last_test",
    "live_testing.tests_run",
    "live_testing.minutes_used",
    "automate.tests_run",
    "automate.cypress_executions_run",
    "automate.current_parallels_allocated",
    "automate.max_parallels_used",
    "automate.parallel_consumption_type",
    "app_live_testing.tests_run",
    "app_live_testing.minutes_used",
    "app_automate.tests_run",
    "app_automate.current_parallels_allocated",
    "app_automate.max_parallels_used",
    "app_automate.parallel_consumption_type",
]
SEED_TEAM_COLUMNS = [
    "name",
    "user_count",
    "type",
    *ACCESS,
    "usage.last_test",
    "live_testing.minutes_used",
    "automate.current_parallels_allocated",
    "automate.max_parallels_used",
    "automate.parallel_consumption_type",
    "app_live_testing.minutes_used",
    "app_automate.current_parallels_allocated",
    "app_automate.max_parallels_used",
    "app_automate.parallel_consumption_type",
]


@pytest.fixture
def now(clock: ShiftedClock) -> dt.datetime:
    return clock.now()


def last_days(now: dt.datetime, days: int, product: Product | None = None) -> ReportFilters:
    today = now.date()
    return ReportFilters(start=today - dt.timedelta(days=days), end=today, product=product)


def users_report(now: dt.datetime, users: list[UserRecord] | None = None) -> Report:
    return Report(ReportKind.USER, last_days(now, 14), now, users=users or seed_users())


def teams_report(
    now: dt.datetime, teams: list[TeamRecord] | None = None, *, product: Product | None = None
) -> Report:
    return Report(ReportKind.TEAM, last_days(now, 7, product), now, teams=teams or seed_teams())


def live_user(name: str, email: str, *, now: dt.datetime, minutes: int, tests: int) -> UserRecord:
    return user_record(
        name,
        email,
        "Web",
        access=(Product.LIVE,),
        data={Product.LIVE: ProductUsage(tests_run=tests, minutes_used=minutes)},
        now=now,
        active=1,
    )


def csv_of(report: Report) -> tuple[list[str], list[dict[str, str]]]:
    out = io.StringIO()
    write_csv(report, out)
    reader = csv.DictReader(io.StringIO(out.getvalue()))
    return list(reader.fieldnames or []), list(reader)


# --- JSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fixture"),
    [(ReportKind.USER, "seed_user_report.json"), (ReportKind.TEAM, "seed_team_report.json")],
)
def test_json_is_the_apis_own_data_object(now: dt.datetime, kind: ReportKind, fixture: str) -> None:
    report = users_report(now) if kind is ReportKind.USER else teams_report(now)
    written = to_json(report)
    api = json.loads((FIXTURES / fixture).read_text())
    assert json.loads(written) == api["data"]
    assert written.endswith("}\n")
    assert written.startswith('{\n  "')  # indented for people to read


def test_json_leaves_absent_fields_absent(now: dt.datetime) -> None:
    lou = live_user("Lou", "lou@example.com", now=now, minutes=40, tests=2)
    (written,) = json.loads(to_json(users_report(now, [lou])))["users"]
    assert "role" in written  # "User", as given
    assert list(written["usage"]["product_data"]) == ["live_testing"]
    assert "last_test" not in written["usage"]
    assert written["product_access"] == {p.value: p is Product.LIVE for p in Product}
    # And it reads back as the same records.
    decoded = msgspec.json.decode(to_json(users_report(now, [lou])), type=dict[str, Any])
    assert msgspec.convert(decoded["users"], list[UserRecord]) == [lou]


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "columns"),
    [(ReportKind.USER, SEED_USER_COLUMNS), (ReportKind.TEAM, SEED_TEAM_COLUMNS)],
)
def test_csv_has_a_header_and_a_row_per_record(
    now: dt.datetime, kind: ReportKind, columns: list[str]
) -> None:
    report = users_report(now) if kind is ReportKind.USER else teams_report(now)
    header, rows = csv_of(report)
    assert header == columns
    assert len(rows) == len(report.rows) == 1
    (row,) = rows
    assert row["name"] == report.rows[0].name
    assert row["live_testing.minutes_used"] == "180"
    assert row["automate.max_parallels_used"] == "2"
    assert row["usage.last_test"] == "2023-06-30T11:33:40+00:00"


def test_csv_columns_are_every_records_in_first_use_order(now: dt.datetime) -> None:
    lou = live_user("Lou", "lou@example.com", now=now, minutes=40, tests=2)
    automate_only = user_record(
        "Ada",
        "ada@example.com",
        None,
        access=(Product.AUTOMATE,),
        data={Product.AUTOMATE: ProductUsage(tests_run=9)},
        now=now,
        tested=3,
    )
    header, rows = csv_of(users_report(now, [lou, automate_only]))
    assert header == [
        "name",
        "email",
        "role",
        "team",
        *ACCESS,
        "usage.last_activity",
        "live_testing.tests_run",
        "live_testing.minutes_used",
        "usage.last_test",
        "automate.tests_run",
    ]
    assert [row["email"] for row in rows] == ["lou@example.com", "ada@example.com"]
    assert (rows[0]["automate.tests_run"], rows[1]["automate.tests_run"]) == ("", "9")
    assert (rows[0]["team"], rows[1]["team"]) == ("Web", "")
    assert rows[1]["usage.last_test"] == (now - dt.timedelta(days=3)).isoformat()


def test_csv_quotes_commas_quotes_and_newlines(now: dt.datetime) -> None:
    odd = live_user('Doe, "J"\nJr', "j@example.com", now=now, minutes=1, tests=1)
    _, rows = csv_of(users_report(now, [odd]))
    assert [row["name"] for row in rows] == ['Doe, "J"\nJr']


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://example.com")', "+1", "@SUM(A1)"])
def test_csv_neutralises_formula_like_cells(now: dt.datetime, formula: str) -> None:
    sneaky = live_user(formula, "sneaky@example.com", now=now, minutes=1, tests=1)
    _, rows = csv_of(users_report(now, [sneaky]))
    assert rows[0]["name"] == "'" + formula


# --- the terminal table ------------------------------------------------------------------------


def table_lines(text: str) -> list[str]:
    """The table in ``text``: its header, its rule of dashes and its rows."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and not line.strip("- "))
    end = next((i for i in range(rule, len(lines)) if not lines[i]), len(lines))
    return lines[rule - 1 : end]


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def test_team_table_shows_each_product_and_the_period(now: dt.datetime) -> None:
    text = to_table(teams_report(now), now=now)
    start = now.date() - dt.timedelta(days=7)
    assert text.startswith(f"Team report, {start} to {now.date()}, all products\n")
    header, rule, row = table_lines(text)
    assert cells(header) == [
        "Team",
        "Members",
        *(p.label for p in Product),
        "Last activity",
    ]
    assert cells(row) == [
        "Acme team",
        "10",
        "180 min",  # Live reports minutes
        "2/5 par",  # Automate reports parallels used of allocated
        "120 min",
        "2/3 par",
        "over a year ago",
    ]
    assert set(rule.replace(" ", "")) == {"-"}
    assert "1 team, 0 without activity." in text
    # Every abbreviated cell is explained under the table.
    assert 'Live and App Live: minutes used ("180 min")' in text
    assert "Automate and App Automate: peak parallels used / parallels allocated" in text


def test_a_product_report_has_that_products_column_only(now: dt.datetime) -> None:
    text = to_table(teams_report(now, product=Product.APP_LIVE), now=now)
    assert text.splitlines()[0].endswith(", App Live")
    header = table_lines(text)[0]
    assert cells(header) == [
        "Team",
        "Members",
        "App Live",
        "Last activity",
    ]
    assert "App Live: minutes used" in text
    assert "parallels" not in text  # no parallels column, so no legend for one


def test_a_period_left_to_browserstack_is_the_last_two_weeks(now: dt.datetime) -> None:
    report = Report(ReportKind.USER, ReportFilters(), now, users=seed_users())
    start = now.date() - dt.timedelta(days=14)
    assert to_table(report, now=now).startswith(f"User report, {start} to {now.date()}, ")


def test_user_table_counts_seats_and_ranks_the_top_users(now: dt.datetime) -> None:
    users = [
        live_user("Lou", "lou@example.com", now=now, minutes=400, tests=1),
        live_user("Kim", "kim@example.com", now=now, minutes=0, tests=0),
        *seed_users(),
    ]
    text = to_table(users_report(now, users), now=now)
    assert "  Live                3 /       2 /       1\n" in text
    assert "Fully idle members: 1; never ran a test: 1"  # Kim has no last test in text
    header, _, *rows = table_lines(text)
    assert cells(header) == ["#", "Name", "Email", "Team", "Minutes", "Tests"]
    assert [cells(row) for row in rows] == [
        ["1", "Lou", "lou@example.com", "Web", "400", "1"],
        ["2", "Steve", "steve@example.com", "Acme Inc. (Org)", "300", "40"],  # all products
    ]


def test_long_cells_are_clipped_and_columns_aligned(now: dt.datetime) -> None:
    long_name = "Quality Engineering, Platform and Mobile"  # 40 characters
    team = msgspec.structs.replace(seed_teams()[0], name=long_name)
    lines = table_lines(to_table(teams_report(now, [team]), now=now))
    clipped = long_name[:31] + "…"
    assert lines[2].startswith(clipped + "  ")
    assert long_name not in "\n".join(lines)
    # Every column starts where its rule starts.
    rule = lines[1]
    starts = [i for i, char in enumerate(rule) if char == "-" and (i == 0 or rule[i - 1] == " ")]
    for line in lines:
        assert all(i == 0 or line[i - 2 : i] == "  " for i in starts if i < len(line))
        assert len(line) <= len(rule)


def test_only_the_largest_rows_are_shown_and_the_rest_counted(now: dt.datetime) -> None:
    teams = [
        msgspec.structs.replace(seed_teams()[0], name=f"Team {n:02d}", user_count=n)
        for n in range(25)
    ]
    text = to_table(teams_report(now, teams), now=now, limit=20)
    assert len(table_lines(text)) == 2 + 20
    assert "25 teams, 0 without activity." in text
    assert text.endswith("… 5 more teams; use --format csv for all of them.\n")
    assert "more teams" not in to_table(teams_report(now, teams[:20]), now=now, limit=20)


# --- write_report ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_report_writes_each_format(now: dt.datetime, fmt: str) -> None:
    report = users_report(now)
    out = io.StringIO()
    write_report(report, out, fmt=fmt, now=now)
    expected = io.StringIO()
    if fmt == "csv":
        write_csv(report, expected)
    else:
        expected.write(to_json(report) if fmt == "json" else to_table(report, now=now))
    assert out.getvalue() == expected.getvalue() != ""


def test_write_report_refuses_an_unknown_format(now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'; choose one of json, csv, table"):
        write_report(users_report(now), io.StringIO(), fmt="xml", now=now)
