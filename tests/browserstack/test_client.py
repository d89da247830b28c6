"""BrowserStackClient against single canned answers (httpx.MockTransport)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest

from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient, RetryPolicy
from bot.browserstack.models import JobState, Product, ReportFilters, ReportKind
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox import SyntheticOrg
from bot.clock import ManualClock
from bot.reports.packed import PackedUsers
from tests.conftest import FakeTimer

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRET = "s3cr3t-access-key"
# Single canned answers, on a day of their own: the filter tables below are written for it.
CLOCK = ManualClock(dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC))
FAST = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, timeout=5)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a list and remembers every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler: Handler, **kwargs: object) -> BrowserStackClient:
    options: dict[str, object] = {
        "base_url": "https://api.example.test",
        "username": "owner",
        "access_key": SECRET,
        "budget": TokenBucket(burst=1000, per_minute=60_000),
        "retry": FAST,
        "transport": httpx.MockTransport(handler),
        "clock": CLOCK,
    }
    options.update(kwargs)
    return BrowserStackClient(**options)  # type: ignore[arg-type]


def ok(payload: object) -> httpx.Response:
    return httpx.Response(200, json=payload)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("kind", "fixture", "key"),
    [
        (ReportKind.USER, "seed_user_report.json", "users"),
        (ReportKind.TEAM, "seed_team_report.json", "teams"),
    ],
)
def test_seed_examples_parse_exactly(kind: ReportKind, fixture: str, key: str) -> None:
    body = fixture_bytes(fixture)
    client = make_client(Recorder(httpx.Response(200, content=body)))
    report = client.get_report(kind, "job1")
    assert msgspec.to_builtins(report.data()) == json.loads(body)["data"]
    assert len(report.rows) == 1
    assert report.kind is kind
    assert key in report.data()


def test_seed_user_fields_are_typed() -> None:
    client = make_client(
        Recorder(httpx.Response(200, content=fixture_bytes("seed_user_report.json")))
    )
    steve = client.get_report(ReportKind.USER, "job1").users[0]
    assert steve.product_access.products() == [Product.LIVE, Product.APP_LIVE]
    automate = steve.usage.product_data.get(Product.AUTOMATE)
    assert automate is not None
    assert automate.max_parallels_used == 2
    assert automate.cypress_executions_run == 5
    assert steve.usage.last_activity_at == dt.datetime(2023, 6, 30, 11, 33, 40, tzinfo=dt.UTC)


def test_team_last_test_stands_in_for_last_activity() -> None:
    client = make_client(
        Recorder(httpx.Response(200, content=fixture_bytes("seed_team_report.json")))
    )
    team = client.get_report(ReportKind.TEAM, "job1").teams[0]
    assert team.usage.last_activity is None
    assert team.usage.last_activity_at == dt.datetime(2023, 6, 30, 11, 33, 40, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"max_parallels_used": 4}, 4),
        ({"max_parallels_used": {"value": 3}}, 3),
        ({"max_parallels_used": {"web": 2, "mobile": 5}}, 5),
        ({"max_parallels_used": "6"}, 6),
        ({}, None),
    ],
)
def test_max_parallels_used_any_shape(usage: dict[str, object], expected: int | None) -> None:
    payload = {
        "success": "true",
        "data": {"teams": [{"name": "T", "usage": {"product_data": {"automate": usage}}}]},
    }
    team = make_client(Recorder(ok(payload))).get_report(ReportKind.TEAM, "j").teams[0]
    automate = team.usage.product_data.get(Product.AUTOMATE)
    assert automate is not None
    assert automate.max_parallels_used == expected


def test_tolerates_strings_extras_and_absent_entries() -> None:
    payload = {
        "success": "true",
        "message": "Success",
        "extra_top_level": 1,
        "data": {
            "users": [
                {
                    "name": "A",
                    "email": "a@x.test",
                    "favourite_colour": "blue",
                    "product_access": {"live_testing": "true", "new_product": True},
                    "usage": {"product_data": {"live_testing": {"tests_run": "7"}}},
                }
            ]
        },
    }
    user = make_client(Recorder(ok(payload))).get_report(ReportKind.USER, "j").users[0]
    assert user.product_access.live_testing is True
    assert user.usage.product_data.get(Product.LIVE).tests_run == 7  # type: ignore[union-attr]
    assert user.usage.product_data.get(Product.AUTOMATE) is None
    assert user.usage.last_activity_at is None


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("enqueued", JobState.QUEUED),
        ("processing", JobState.RUNNING),
        ("completed", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("Errored", JobState.FAILED),
        ("warming-up", JobState.RUNNING),
    ],
)
def test_status_values(raw: str, state: JobState) -> None:
    client = make_client(Recorder(ok({"success": True, "status": raw, "message": "m"})))
    status = client.job_status(ReportKind.USER, "job1")
    assert (status.state, status.status) == (state, raw)


def test_unknown_status_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(Recorder(ok({"success": True, "status": "thinking-hard"})))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert client.job_status(ReportKind.TEAM, "j").state is JobState.RUNNING
    assert sum("thinking-hard" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("method", "call", "path"),
    [
        ("POST", lambda c: c.create_job(ReportKind.USER), "/reports/usage/v1/user"),
        ("POST", lambda c: c.create_job(ReportKind.TEAM), "/reports/usage/v1/team"),
        ("GET", lambda c: c.job_status(ReportKind.USER, "j1"), "/reports/usage/v1/user/j1/status"),
        ("GET", lambda c: c.job_status(ReportKind.TEAM, "j1"), "/reports/usage/v1/team/j1/status"),
        ("GET", lambda c: c.get_report(ReportKind.USER, "j1"), "/reports/usage/v1/user/j1"),
        ("GET", lambda c: c.get_report(ReportKind.TEAM, "j1"), "/reports/usage/v1/team/j1"),
        (
            "DELETE",
            lambda c: c.delete_job(ReportKind.USER, "j1"),
            "/reports/usage/v1/user/j1/status",
        ),
        (
            "DELETE",
            lambda c: c.delete_job(ReportKind.TEAM, "j1"),
            "/reports/usage/v1/team/j1/status",
        ),
    ],
)
def test_eight_endpoints(
    method: str, call: Callable[[BrowserStackClient], object], path: str
) -> None:
    payload = {"success": True, "message": "m", "status": "enqueued", "data": {"job_id": "abc"}}
    payload["data"] = {"job_id": "abc", "users": [], "teams": []}
    recorder = Recorder(ok(payload))
    call(make_client(recorder))
    (request,) = recorder.requests
    assert (request.method, request.url.path) == (method, path)
    assert request.headers["authorization"].startswith("Basic ")


def test_create_job_returns_id_and_sends_filters_in_body() -> None:
    recorder = Recorder(ok({"success": True, "data": {"job_id": "aabe52c63dg624c8744ab5h9"}}))
    filters = ReportFilters(dt.date(2026, 10, 1), dt.date(2026, 10, 31), Product.APP_LIVE)
    assert make_client(recorder).create_job(ReportKind.USER, filters) == "aabe52c63dg624c8744ab5h9"
    (request,) = recorder.requests
    assert json.loads(request.content) == {
        "startDate": "2026-10-01",
        "endDate": "2026-10-31",
        "product": "App-Live",
    }
    assert request.url.query == b""


def test_filters_as_query_parameters_when_configured() -> None:
    recorder = Recorder(ok({"success": True, "data": {"job_id": "j"}}))
    filters = ReportFilters(start=dt.date(2026, 11, 1), product=Product.LIVE)
    make_client(recorder, filters_in="query").create_job(ReportKind.TEAM, filters)
    (request,) = recorder.requests
    assert dict(request.url.params) == {
        "startDate": "2026-11-01",
        "product": "Live",
    }
    assert request.content == b""


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        (ReportFilters(dt.date(2026, 11, 10), dt.date(2026, 11, 1)), "before the start"),
        (ReportFilters(dt.date(2026, 12, 1)), "in the future"),
        (ReportFilters(dt.date(2026, 11, 1), dt.date(2026, 11, 26)), "in the future"),
        (ReportFilters(end=dt.date(2026, 11, 1)), "needs a start"),
    ],
)
def test_invalid_filters_send_nothing(filters: ReportFilters, reason: str) -> None:
    recorder = Recorder(ok({}))
    with pytest.raises(errors.InvalidFiltersError, match=reason):
        make_client(recorder).create_job(ReportKind.USER, filters)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (
            httpx.Response(
                401, text="HTTP Basic: Access denied.\n", headers={"content-type": "text/html"}
            ),
            errors.AuthenticationError,
            "BROWSERSTACK_ACCESS_KEY",
        ),
        (
            httpx.Response(403, json={"message": "Forbidden"}),
            errors.AuthenticationError,
            "Owner or Admin",
        ),
        (
            httpx.Response(404, json={"success": False, "message": "Job not found"}),
            errors.NotFoundError,
            "does not know",
        ),
        (
            httpx.Response(422, json={"success": False, "message": "Invalid date"}),
            errors.RequestRejectedError,
            "Invalid date",
        ),
        (
            httpx.Response(200, json={"success": False, "message": "Nope"}),
            errors.RequestRejectedError,
            "Nope",
        ),
    ],
)
def test_client_errors_are_not_retried(response: httpx.Response, error: type, text: str) -> None:
    recorder = Recorder(response)
    with pytest.raises(error, match=text):
        make_client(recorder).job_status(ReportKind.USER, "j")
    assert len(recorder.requests) == 1


def test_html_401_keeps_detail() -> None:
    recorder = Recorder(httpx.Response(401, text="HTTP Basic: Access denied.\n"))
    with pytest.raises(errors.AuthenticationError) as caught:
        make_client(recorder).create_job(ReportKind.TEAM)
    assert caught.value.detail == "HTTP Basic: Access denied."


def test_server_errors_retried_then_raised() -> None:
    recorder = Recorder(httpx.Response(503, text="<html>Service Unavailable</html>"))
    with pytest.raises(errors.ServerError, match="HTTP 503"):
        make_client(recorder).job_status(ReportKind.USER, "j")
    assert len(recorder.requests) == FAST.attempts


@pytest.mark.parametrize(
    "trouble",
    [httpx.Response(503, text="Service Unavailable"), httpx.ConnectError("refused")],
    ids=["5xx", "not sent"],
)
def test_a_non_blocking_client_never_retries_in_its_thread(
    trouble: httpx.Response | Exception,
) -> None:
    recorder = Recorder(trouble)
    slow = RetryPolicy(attempts=5, wait_initial=30, wait_max=30, wait_jitter=0, timeout=600)
    client = make_client(recorder, blocking=False, retry=slow)
    with pytest.raises((errors.ServerError, errors.ConnectError)):
        client.job_status(ReportKind.USER, "j")
    assert len(recorder.requests) == 1  # the work loop's step comes back on its schedule


def test_server_error_then_success() -> None:
    recorder = Recorder(
        httpx.Response(502, json={"success": False}), ok({"success": True, "status": "completed"})
    )
    assert make_client(recorder).job_status(ReportKind.USER, "j").state is JobState.COMPLETED
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [({"Retry-After": "0.01"}, 0.01), ({}, FAST.rate_limited_wait)],
)
def test_rate_limited_waits(headers: dict[str, str], expected_wait: float) -> None:
    recorder = Recorder(
        httpx.Response(429, json={"success": False}, headers=headers),
        ok({"success": True, "status": "enqueued"}),
    )
    client = make_client(recorder)
    waits: list[float] = []
    hook = client._backoff

    def spy(error: Exception, *, idempotent: bool) -> bool | float:
        result = hook(error, idempotent=idempotent)
        waits.append(float(result))
        return 0.0 if isinstance(result, float) else result

    client._backoff = spy  # type: ignore[method-assign]
    assert client.job_status(ReportKind.USER, "j").state is JobState.QUEUED
    assert len(recorder.requests) == 2
    # Without Retry-After the wait is conservative: the base plus up to a quarter of jitter.
    assert expected_wait <= waits[0] <= expected_wait * 1.25


def test_rate_limited_every_time_raises() -> None:
    recorder = Recorder(httpx.Response(429, json={}, headers={"Retry-After": "0"}))
    with pytest.raises(errors.RateLimitedError):
        make_client(recorder).job_status(ReportKind.USER, "j")
    assert len(recorder.requests) == FAST.attempts


def test_read_timeout_retried_on_get_not_on_post() -> None:
    get = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(errors.TimeoutError, match="did not answer in time"):
        make_client(get).job_status(ReportKind.USER, "j")
    assert len(get.requests) == FAST.attempts

    post = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(errors.UnconfirmedJobError, match="may have been created"):
        make_client(post).create_job(ReportKind.USER)
    assert len(post.requests) == 1  # the job may exist: creating it twice would waste a queue place


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, content=b'{"success": true, "data": {"job_id": '),
        ok({"success": True, "data": {}}),
    ],
    ids=["html", "truncated", "no job id"],
)
def test_a_create_answered_unreadably_is_unconfirmed_not_retried(answer: httpx.Response) -> None:
    recorder = Recorder(answer)
    with pytest.raises(errors.UnconfirmedJobError):
        make_client(recorder).create_job(ReportKind.USER)
    assert len(recorder.requests) == 1  # a 200 most likely queued a job: never queue another


def test_an_unreadable_read_is_retried_like_a_server_error() -> None:
    recorder = Recorder(
        httpx.Response(200, content=b'{"success": true, "sta'),
        ok({"success": True, "status": "completed"}),
    )
    assert make_client(recorder).job_status(ReportKind.USER, "j").state is JobState.COMPLETED
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("status", [422, 429])
def test_a_full_queue_is_told_apart_from_a_rejection(status: int) -> None:
    message = "Too many report jobs in queue (limit 10). Delete or wait for a job to finish."
    recorder = Recorder(httpx.Response(status, json={"success": False, "message": message}))
    with pytest.raises(errors.QueueFullError, match="Too many report jobs"):
        make_client(recorder).create_job(ReportKind.USER)


def test_connect_error_retried_even_on_post() -> None:
    recorder = Recorder(
        httpx.ConnectError("refused"), ok({"success": True, "data": {"job_id": "j2"}})
    )
    assert make_client(recorder).create_job(ReportKind.USER) == "j2"
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("response", "what"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), "not JSON"),
        (
            httpx.Response(200, content=b'{"success": true, "data": {"users": 5}}'),
            "unexpected shape",
        ),
        (httpx.Response(200, json={"success": True}), "no data"),
    ],
)
def test_unreadable_reports(response: httpx.Response, what: str) -> None:
    recorder = Recorder(response)
    with pytest.raises(errors.InvalidResponseError, match=what):
        make_client(recorder).get_report(ReportKind.USER, "j")
    # A body that does not decode is retried; a decoded one without data is an answer.
    assert len(recorder.requests) == (1 if what == "no data" else FAST.attempts)


def test_every_request_takes_a_token(fake_timer: FakeTimer) -> None:
    budget = TokenBucket(burst=4, per_minute=60, timer=fake_timer)
    client = make_client(Recorder(ok({"success": True, "status": "enqueued"})), budget=budget)
    for _ in range(4):
        client.job_status(ReportKind.USER, "j")
    assert budget.take() == pytest.approx(1)  # the four tokens were spent


def test_a_non_blocking_client_sends_nothing_when_the_budget_is_spent(
    fake_timer: FakeTimer,
) -> None:
    recorder = Recorder(ok({"success": True, "status": "enqueued"}))
    budget = TokenBucket(burst=1, per_minute=15, timer=fake_timer)
    client = make_client(recorder, budget=budget, blocking=False)
    client.job_status(ReportKind.USER, "j")
    with pytest.raises(errors.BudgetSpentError) as caught:
        client.job_status(ReportKind.USER, "j")
    assert caught.value.retry_after == pytest.approx(4)
    assert len(recorder.requests) == 1  # the second was never sent


def test_a_429_drains_the_budget_and_a_non_blocking_client_does_not_wait(
    fake_timer: FakeTimer,
) -> None:
    recorder = Recorder(httpx.Response(429, json={}, headers={"Retry-After": "30"}))
    budget = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    client = make_client(recorder, budget=budget, blocking=False)
    with pytest.raises(errors.RateLimitedError) as caught:
        client.job_status(ReportKind.USER, "j")
    assert caught.value.retry_after == 30
    assert len(recorder.requests) == 1  # not retried here: the caller comes back later
    assert budget.take() == pytest.approx(4)  # BrowserStack's count wins: no burst left


def test_credentials_in_the_api_url_never_reach_messages_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(
        Recorder(httpx.ConnectError("refused")), base_url="https://proxyuser:hunter2@proxy.test/bs"
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.ConnectError) as caught:
        client.job_status(ReportKind.USER, "j")
    assert "hunter2" not in str(caught.value)
    assert "https://***@proxy.test/bs" in str(caught.value)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(client)


def test_secret_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(Recorder(httpx.Response(401, text="HTTP Basic: Access denied.")))
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.AuthenticationError) as caught:
        client.create_job(ReportKind.USER)
    assert SECRET not in repr(client)
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)


# --- user reports landing packed (serve's work loop) -------------------------------------------


def test_a_user_report_lands_packed_as_the_whole_decode_then_packing_would() -> None:
    """``pack``: each member decoded alone and packed in turn gives the members, and the very
    packed bytes, of the whole answer decoded and then packed."""
    today = CLOCK.now().date()
    org = SyntheticOrg(seed=5, users=700, today=today)
    body = org.report_body(
        ReportKind.USER, start=today - dt.timedelta(days=29), end=today, product=None
    )
    plain = make_client(Recorder(httpx.Response(200, content=body))).get_report(
        ReportKind.USER, "j"
    )
    landed = make_client(Recorder(httpx.Response(200, content=body)), pack=PackedUsers)
    report = landed.get_report(ReportKind.USER, "j")
    assert isinstance(report.users, PackedUsers)
    assert report.users == PackedUsers(plain.users)  # same blocks, byte for byte
    assert report.users == list(plain.users)
    assert (report.kind, report.filters, report.teams) == (plain.kind, plain.filters, [])


@pytest.mark.parametrize(
    ("response", "what"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), "not JSON"),
        (
            httpx.Response(200, content=b'{"success": true, "data": {"users": 5}}'),
            r"unexpected shape: Expected `array`, got `int` - at `\$.data.users`",
        ),
        (
            httpx.Response(
                200, content=b'{"success": true, "data": {"users": [{}, {"email": 3}]}}'
            ),
            r"unexpected shape: Expected `str`, got `int` - at `\$.data.users\[1\].email`",
        ),
        (httpx.Response(200, json={"success": True}), "no data"),
    ],
)
def test_unreadable_reports_landing_packed(response: httpx.Response, what: str) -> None:
    """As without ``pack``: the same errors, a member's named by its place in the answer, and
    retried alike."""
    recorder = Recorder(response)
    with pytest.raises(errors.InvalidResponseError, match=what):
        make_client(recorder, pack=PackedUsers).get_report(ReportKind.USER, "j")
    assert len(recorder.requests) == (1 if what == "no data" else FAST.attempts)
    plain = Recorder(response)
    with pytest.raises(errors.InvalidResponseError, match=what):
        make_client(plain).get_report(ReportKind.USER, "j")
