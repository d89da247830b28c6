"""The synthetic organisation: deterministic, true to the API text, consistent across periods."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

from bot.browserstack import models
from bot.browserstack.models import Product
from bot.browserstack.sandbox import SyntheticOrg

TODAY = dt.date(2024, 6, 14)  # a Friday
FIXTURES = Path(__file__).parent.parent / "fixtures"
USER_FIELDS = {
    "live_testing": {"tests_run", "minutes_used"},
    "app_live_testing": {"tests_run", "minutes_used"},
    "automate": {
        "tests_run",
        "cypress_executions_run",
        "current_parallels_allocated",
        "max_parallels_used",
        "parallel_consumption_type",
    },
    "app_automate": {
        "tests_run",
        "current_parallels_allocated",
        "max_parallels_used",
        "parallel_consumption_type",
    },
}
TEAM_FIELDS = {
    "live_testing": {"minutes_used"},
    "app_live_testing": {"minutes_used"},
    "automate": {"current_parallels_allocated", "max_parallels_used", "parallel_consumption_type"},
    "app_automate": {
        "current_parallels_allocated",
        "max_parallels_used",
        "parallel_consumption_type",
    },
}
COUNTS = ("tests_run", "minutes_used", "cypress_executions_run", "max_parallels_used")


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return SyntheticOrg(seed=42, users=2000, today=TODAY)


@pytest.fixture(scope="module")
def steve() -> dict[str, Any]:
    report = json.loads((FIXTURES / "seed_user_report.json").read_text())
    return cast(dict[str, Any], report["data"]["users"][0])


@pytest.fixture(scope="module")
def acme() -> dict[str, Any]:
    report = json.loads((FIXTURES / "seed_team_report.json").read_text())
    return cast(dict[str, Any], report["data"]["teams"][0])


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def users(
    org: SyntheticOrg, start: dt.date, end: dt.date = TODAY, product: Product | None = None
) -> list[dict[str, Any]]:
    data = org.report_data("user", start=start, end=end, product=product)
    return cast(list[dict[str, Any]], data["users"])


def teams(
    org: SyntheticOrg, start: dt.date, end: dt.date = TODAY, product: Product | None = None
) -> list[dict[str, Any]]:
    data = org.report_data("team", start=start, end=end, product=product)
    return cast(list[dict[str, Any]], data["teams"])


def synthetic(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everyone but the fixture user, whose usage is constant by design."""
    return [r for r in records if r["email"] != "steve@example.com"]


def total_tests(record: dict[str, Any]) -> int:
    return sum(e.get("tests_run", 0) for e in record["usage"]["product_data"].values())


def stamp_date(stamp: str) -> dt.date:
    return dt.datetime.fromisoformat(stamp).date()


# --- determinism and shape ---------------------------------------------------------------


def test_same_seed_gives_the_same_bytes() -> None:
    one, two = (SyntheticOrg(seed=7, users=400, today=TODAY) for _ in range(2))
    for kind in ("user", "team"):
        assert one.report_body(kind, start=days_ago(30), end=TODAY) == two.report_body(
            kind, start=days_ago(30), end=TODAY
        )


def test_another_seed_gives_another_org() -> None:
    one = SyntheticOrg(seed=7, users=400, today=TODAY)
    two = SyntheticOrg(seed=8, users=400, today=TODAY)
    assert one.report_body("user", start=days_ago(30), end=TODAY) != two.report_body(
        "user", start=days_ago(30), end=TODAY
    )


@pytest.mark.parametrize("size", [10, 11, 13, 20, 37, 120])
def test_small_orgs_are_complete(size: int) -> None:
    org = SyntheticOrg(seed=1, users=size, today=TODAY)
    # ``users`` synthetic people, plus Steve from the API text.
    assert len(users(org, days_ago(14))) == size + 1
    assert sum(t["user_count"] for t in teams(org, days_ago(14))) == size + 1


def test_too_small_an_org_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        SyntheticOrg(seed=1, users=9, today=TODAY)


def test_end_before_start_is_refused(org: SyntheticOrg) -> None:
    with pytest.raises(ValueError, match="before"):
        org.report_data("user", start=TODAY, end=days_ago(1), product=None)


@pytest.mark.parametrize("product", [None, *Product])
def test_bodies_decode_with_the_bot_models(org: SyntheticOrg, product: Product | None) -> None:
    user_body = org.report_body("user", start=days_ago(14), end=TODAY, product=product)
    team_body = org.report_body("team", start=days_ago(14), end=TODAY, product=product)
    decoded = msgspec.json.Decoder(models.UserReportResponse, strict=False).decode(user_body)
    assert decoded.ok
    assert decoded.message == "Success"
    assert decoded.data is not None
    assert len(decoded.data.users) == 2001
    team_report = msgspec.json.Decoder(models.TeamReportResponse, strict=False).decode(team_body)
    assert team_report.data is not None
    assert {t.name for t in team_report.data.teams} >= {"Acme team", "Acme Inc. (Org)"}
    msgspec.json.Decoder(models.UserReportResponse, strict=False).decode(team_body)


@pytest.mark.parametrize("product", [None, *Product])
def test_product_filter_leaves_only_that_product(
    org: SyntheticOrg, product: Product | None
) -> None:
    wanted = {product.value} if product else set(USER_FIELDS)
    for record in users(org, days_ago(30), product=product):
        data = record["usage"]["product_data"]
        assert set(data) == wanted
        assert all(set(entry) == USER_FIELDS[key] for key, entry in data.items())
    for record in teams(org, days_ago(30), product=product):
        data = record["usage"]["product_data"]
        assert set(data) == wanted
        assert all(set(entry) == TEAM_FIELDS[key] for key, entry in data.items())


# --- the API text's examples -------------------------------------------------------------

PERIODS = [
    (days_ago(14), TODAY),
    (dt.date(2001, 1, 1), dt.date(2001, 1, 31)),
    (days_ago(900), TODAY),
]


@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_steve_is_there_verbatim(
    org: SyntheticOrg, steve: dict[str, Any], start: dt.date, end: dt.date
) -> None:
    found = [r for r in users(org, start, end) if r["name"] == "Steve"]
    assert found == [steve]


@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_acme_team_is_there_verbatim(
    org: SyntheticOrg, acme: dict[str, Any], start: dt.date, end: dt.date
) -> None:
    found = [t for t in teams(org, start, end) if t["name"] == "Acme team"]
    assert found == [acme]


@pytest.mark.parametrize("product", list(Product))
def test_fixtures_keep_only_the_filtered_product(
    org: SyntheticOrg, steve: dict[str, Any], acme: dict[str, Any], product: Product
) -> None:
    record = users(org, days_ago(14), product=product)[0]
    expected = steve["usage"]["product_data"][product.value]
    assert record["usage"]["product_data"] == {product.value: expected}
    assert {k: v for k, v in record.items() if k != "usage"} == {
        k: v for k, v in steve.items() if k != "usage"
    }
    team = next(t for t in teams(org, days_ago(14), product=product) if t["name"] == "Acme team")
    assert team["usage"]["product_data"] == {
        product.value: acme["usage"]["product_data"][product.value]
    }


def test_acme_team_has_its_ten_members(org: SyntheticOrg) -> None:
    members = [r for r in users(org, days_ago(14)) if r["team"] == "Acme team"]
    assert len(members) == 10
    assert all(
        m["product_access"]["automate"] and m["product_access"]["app_automate"] for m in members
    )


# --- consistency across periods ----------------------------------------------------------


def by_email(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["email"]: r for r in synthetic(records)}


@pytest.mark.parametrize(
    ("inner", "outer"),
    [
        ((days_ago(13), days_ago(7)), (days_ago(30), days_ago(7))),
        ((days_ago(13), days_ago(7)), (days_ago(13), TODAY)),
        ((days_ago(13), days_ago(7)), (days_ago(400), TODAY)),
        ((days_ago(0), TODAY), (days_ago(6), TODAY)),
        ((days_ago(200), days_ago(100)), (days_ago(365), days_ago(1))),
    ],
)
def test_a_longer_period_never_shows_less(
    org: SyntheticOrg, inner: tuple[dt.date, dt.date], outer: tuple[dt.date, dt.date]
) -> None:
    small, large = by_email(users(org, *inner)), by_email(users(org, *outer))
    assert small.keys() == large.keys()
    for email, record in small.items():
        for product, entry in record["usage"]["product_data"].items():
            wider = large[email]["usage"]["product_data"][product]
            for field in COUNTS:
                assert entry.get(field, 0) <= wider.get(field, 0), (email, product, field)


def test_adjacent_periods_add_up(org: SyntheticOrg) -> None:
    first = by_email(users(org, days_ago(60), days_ago(31)))
    second = by_email(users(org, days_ago(30), TODAY))
    whole = by_email(users(org, days_ago(60), TODAY))
    for email, record in whole.items():
        for product, entry in record["usage"]["product_data"].items():
            for field in ("tests_run", "minutes_used", "cypress_executions_run"):
                if field in entry:
                    parts = (
                        first[email]["usage"]["product_data"][product][field]
                        + second[email]["usage"]["product_data"][product][field]
                    )
                    assert entry[field] == parts, (email, product, field)


@pytest.mark.parametrize("start_ago", [0, 3, 14, 45, 200])
def test_last_test_agrees_with_the_usage(org: SyntheticOrg, start_ago: int) -> None:
    start, end = days_ago(start_ago + 10), days_ago(start_ago)
    for record in synthetic(users(org, start, end)):
        usage = record["usage"]
        last_test, last_activity = usage.get("last_test"), usage.get("last_activity")
        if last_test:
            assert last_activity is not None
            assert last_activity >= last_test
            assert stamp_date(last_test) <= end
        if last_activity:
            assert stamp_date(last_activity) <= end
        # Tests in the period exactly when the last test falls in the period.
        tested = total_tests(record) > 0
        assert tested == bool(last_test and stamp_date(last_test) >= start), record["email"]


def test_last_test_moves_forward_with_the_end_of_the_period(org: SyntheticOrg) -> None:
    earlier = by_email(users(org, days_ago(100), days_ago(50)))
    later = by_email(users(org, days_ago(100), TODAY))
    for email, record in earlier.items():
        if "last_test" in record["usage"]:
            assert later[email]["usage"]["last_test"] >= record["usage"]["last_test"]
        if "last_activity" in record["usage"]:
            assert later[email]["usage"]["last_activity"] >= record["usage"]["last_activity"]


def test_nobody_tests_at_the_weekend(org: SyntheticOrg) -> None:
    saturday, sunday = dt.date(2024, 6, 8), dt.date(2024, 6, 9)
    assert all(total_tests(r) == 0 for r in synthetic(users(org, saturday, sunday)))


def test_a_period_before_any_activity_is_all_zeros(org: SyntheticOrg) -> None:
    records = synthetic(users(org, dt.date(2001, 1, 1), dt.date(2001, 12, 31)))
    # Steve's fixed usage gives his root team a parallels peak in every period.
    records = [r for r in records if r["team"] != "Acme Inc. (Org)"]
    for record in records:
        assert total_tests(record) == 0
        assert "last_test" not in record["usage"]
        assert "last_activity" not in record["usage"]
        for entry in record["usage"]["product_data"].values():
            assert entry.get("minutes_used", 0) == 0
            assert entry.get("max_parallels_used", 0) == 0


# --- teams ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(days_ago(30), TODAY), (days_ago(400), days_ago(200))])
def test_team_records_aggregate_their_members(
    org: SyntheticOrg, start: dt.date, end: dt.date
) -> None:
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in users(org, start, end):
        members[record["team"]].append(record)
    team_records = teams(org, start, end)
    assert {t["name"] for t in team_records} == set(members)
    for team in team_records:
        if team["name"] == "Acme team":  # the API text's example, verbatim
            continue
        people = members[team["name"]]
        assert team["user_count"] == len(people)
        for product in Product:
            has_access = any(p["product_access"][product.value] for p in people)
            assert team["product_access"][product.value] == has_access
        stamps = [p["usage"]["last_activity"] for p in people if "last_activity" in p["usage"]]
        assert team["usage"].get("last_activity") == (max(stamps) if stamps else None)
        data = team["usage"]["product_data"]
        for key in ("live_testing", "app_live_testing"):
            minutes = sum(p["usage"]["product_data"][key]["minutes_used"] for p in people)
            assert data[key]["minutes_used"] == minutes, (team["name"], key)
        for key in ("automate", "app_automate"):
            shown = {
                tuple(p["usage"]["product_data"][key][field] for field in TEAM_FIELDS[key])
                for p in people
            }
            assert len(shown) == 1, "members show their team's parallels"
            assert tuple(data[key][field] for field in TEAM_FIELDS[key]) == shown.pop()
            used = any(p["usage"]["product_data"][key]["tests_run"] for p in people)
            assert (data[key]["max_parallels_used"] > 0) == used, (team["name"], key)


def test_team_types(org: SyntheticOrg) -> None:
    types = {t["name"]: t["type"] for t in teams(org, days_ago(14))}
    assert types.pop("Acme Inc. (Org)") == "org"
    assert types.pop("Acme team") == "org"
    assert set(types.values()) == {"team"}


def test_team_sizes_are_zipf_like(org: SyntheticOrg) -> None:
    sizes = sorted(t["user_count"] for t in teams(org, days_ago(14)) if t["type"] == "team")
    assert 2000 / 40 <= len(sizes) <= 2000 / 15
    assert min(sizes) >= 2
    assert sizes[-1] >= 200, "a few large teams of hundreds"
    assert sum(1 for s in sizes if s <= 10) >= len(sizes) / 2, "many small teams"


def test_team_names_and_emails_are_unique(org: SyntheticOrg) -> None:
    names = [t["name"] for t in teams(org, days_ago(14))]
    assert len(names) == len(set(names))
    emails = [u["email"] for u in users(org, days_ago(14))]
    assert len(emails) == len(set(emails))


def test_parallels_cover_over_and_full_allocation(org: SyntheticOrg) -> None:
    entries = [
        t["usage"]["product_data"][key]
        for t in teams(org, days_ago(90))
        for key in ("automate", "app_automate")
    ]
    over = [
        e
        for e in entries
        if e["current_parallels_allocated"] >= 10 and e["max_parallels_used"] <= 2
    ]
    full = [
        e
        for e in entries
        if 0 < e["current_parallels_allocated"] <= e["max_parallels_used"] + 1
        and e["max_parallels_used"] > 0
    ]
    pooled = [e for e in entries if e["parallel_consumption_type"] == "org"]
    assert len(over) >= 5
    assert len(full) >= 5
    assert len(pooled) >= 2


# --- the people ---------------------------------------------------------------------------


def test_the_mix_of_people_is_realistic(org: SyntheticOrg) -> None:
    month = synthetic(users(org, days_ago(30)))

    def access(r: dict[str, Any]) -> set[str]:
        return {k for k, v in r["product_access"].items() if v}

    def used(r: dict[str, Any]) -> set[str]:
        return {k for k, e in r["usage"]["product_data"].items() if e["tests_run"]}

    never_used = [r for r in month if "last_test" not in r["usage"]]
    no_access_at_all = [r for r in never_used if not access(r)]
    login_only = [r for r in never_used if "last_activity" in r["usage"]]
    seat_never = [r for r in never_used if access(r)]
    long_ago = [
        r
        for r in month
        if access(r) and not used(r) and r["usage"].get("last_test", "9") < days_ago(60).isoformat()
    ]
    heavy = [r for r in month if total_tests(r) >= 500]
    light = [r for r in month if 0 < total_tests(r) <= 5]
    one_of_two = [r for r in month if used(r) and access(r) - used(r)]
    n = len(month)
    for group in (never_used, seat_never, long_ago, heavy, light, one_of_two):
        assert len(group) >= n * 0.02
    assert no_access_at_all
    assert login_only
    assert len(never_used) < n / 2


def test_hostile_names_are_present(org: SyntheticOrg) -> None:
    records = users(org, days_ago(14))
    team_names = {t["name"] for t in teams(org, days_ago(14))}
    assert "R&D <Labs>" in team_names
    assert any(r["team"] == "R&D <Labs>" for r in records)
    assert any("&" in r["name"] and "<" in r["name"] for r in records)


def test_callers_may_change_what_they_get(org: SyntheticOrg) -> None:
    first = users(org, days_ago(14))
    for record in first:
        record["product_access"]["automate"] = "changed"
        record["usage"]["product_data"]["automate"]["tests_run"] = -1
    again = users(org, days_ago(14))
    assert all(r["product_access"]["automate"] != "changed" for r in again)
    assert all(r["usage"]["product_data"]["automate"]["tests_run"] >= 0 for r in again)
    assert b'"changed"' not in org.report_body("user", start=days_ago(14), end=TODAY)


def test_timestamps_look_like_the_docs(org: SyntheticOrg) -> None:
    for record in users(org, days_ago(30))[:200]:
        for key in ("last_activity", "last_test"):
            if stamp := record["usage"].get(key):
                assert len(stamp) == 25
                assert stamp.endswith("+00:00")
                dt.datetime.fromisoformat(stamp)


def test_fifty_thousand_users_are_quick() -> None:
    # CPU time rather than wall time: other test processes on the machine do not count.
    started = time.process_time()
    big = SyntheticOrg(seed=42, users=50_000, today=TODAY)
    built = time.process_time()
    body = big.report_body("user", start=days_ago(14), end=TODAY)
    reported = time.process_time()
    assert built - started < 2.0
    assert reported - built < 3.0
    assert body.count(b'"email"') == 50_001
