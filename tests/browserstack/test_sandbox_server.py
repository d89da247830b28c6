"""The sandbox over real HTTP on loopback: shapes, auth, filters, jobs, queue, limits, faults."""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import msgspec
import pytest

from bot.browserstack import models
from bot.browserstack.models import Product, ReportKind
from bot.browserstack.sandbox import FaultConfig, JobStatus, SandboxConfig, SandboxServer
from bot.clock import ManualClock
from tests.conftest import FakeTimer

# The sandbox alone, on a date of its own: the tables below are written for that day.
SANDBOX_CLOCK = ManualClock(dt.datetime(2024, 6, 14, 12, 0, tzinfo=dt.UTC))
TODAY = SANDBOX_CLOCK.today()
AUTH = ("sandbox", "sandbox-key")
BASE = "/reports/usage/v1"
DECODER = msgspec.json.Decoder(models.UserReportResponse, strict=False)
# Loading CA certificates costs tens of ms per httpx.Client; the sandbox is plain HTTP anyway.
TLS = ssl.create_default_context()


@pytest.fixture
def clock() -> FakeTimer:
    return FakeTimer(5000.0)


@pytest.fixture
def start_server(clock: FakeTimer) -> Iterator[Callable[..., SandboxServer]]:
    """Start a sandbox with test defaults (small org, no rate limit) plus any overrides."""
    servers: list[SandboxServer] = []

    def start(**overrides: Any) -> SandboxServer:
        options: dict[str, Any] = {
            "users": 60,
            "rate_limit": False,
            "timer": clock,
            "clock": SANDBOX_CLOCK,
        }
        options.update(overrides)
        server = SandboxServer(SandboxConfig(**options), host="127.0.0.1", port=0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def http(server: SandboxServer, auth: tuple[str, str] | None = AUTH, **kw: Any) -> httpx.Client:
    """A client for ``server``; without ``auth`` it sends no credentials."""
    return httpx.Client(base_url=server.url, auth=auth, verify=TLS, timeout=10, **kw)


def _check_200(response: httpx.Response) -> None:
    """Every 200 the sandbox sends must decode with the bot's models."""
    response.read()
    if response.status_code == 200:
        DECODER.decode(response.content)


@pytest.fixture
def server(start_server: Callable[..., SandboxServer]) -> SandboxServer:
    return start_server()


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with http(server, event_hooks={"response": [_check_200]}) as c:
        yield c


def create(client: httpx.Client, kind: str = "user", **kw: Any) -> str:
    response = client.post(f"{BASE}/{kind}", **kw)
    assert response.status_code == 200, response.text
    return cast(str, response.json()["data"]["job_id"])


# --- endpoints and their shapes ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["user", "team"])
def test_create_job(client: httpx.Client, server: SandboxServer, kind: str) -> None:
    response = client.post(f"{BASE}/{kind}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {
        "success": True,
        "message": "Report is successfully queued.",
        "data": {"job_id": body["data"]["job_id"]},
    }
    assert re.fullmatch(r"[0-9a-f]{24}", body["data"]["job_id"])
    assert server.stats.jobs_created == 1


@pytest.mark.parametrize("kind", ["user", "team"])
def test_status_while_enqueued(client: httpx.Client, kind: str) -> None:
    job_id = create(client, kind)
    response = client.get(f"{BASE}/{kind}/{job_id}/status")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "status": "enqueued",
        "message": "Request enqueued successfully",
    }


@pytest.mark.parametrize("kind", ["user", "team"])
def test_job_lifecycle(client: httpx.Client, clock: FakeTimer, kind: str) -> None:
    job_id = create(client, kind)

    def status() -> tuple[str, str]:
        body = client.get(f"{BASE}/{kind}/{job_id}/status").json()
        return body["status"], body["message"]

    def report() -> httpx.Response:
        return client.get(f"{BASE}/{kind}/{job_id}")

    assert status() == ("enqueued", "Request enqueued successfully")
    assert report().status_code == 422
    assert report().json() == {
        "success": False,
        "message": "Report is not ready yet. Job status: enqueued",
    }
    clock.advance(2.0)
    assert status() == ("processing", "Report generation in progress")
    assert report().json()["message"] == "Report is not ready yet. Job status: processing"
    clock.advance(2.9)
    assert status()[0] == "processing"
    clock.advance(0.1)
    assert status() == ("completed", "Report generated successfully")
    response = report()
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Success"
    if kind == "user":
        assert len(body["data"]["users"]) == 61  # 60 synthetic people and Steve
    else:
        assert {"Acme team", "Acme Inc. (Org)"} <= {t["name"] for t in body["data"]["teams"]}
        models_report = msgspec.json.decode(response.content, type=models.TeamReportResponse)
        assert models_report.data is not None
        assert models_report.data.teams
    # A completed report stays until deleted, and is the same bytes every time.
    clock.advance(3600)
    assert report().content == response.content


def test_report_is_built_once(
    client: httpx.Client, server: SandboxServer, clock: FakeTimer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    build = server.org.report_body

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        return build(*args, **kwargs)

    monkeypatch.setattr(server.org, "report_body", counting)
    job_id = create(client)
    clock.advance(10)
    first = client.get(f"{BASE}/user/{job_id}").content
    assert client.get(f"{BASE}/user/{job_id}").content == first
    assert len(calls) == 1


@pytest.mark.parametrize("kind", ["user", "team"])
def test_delete_job(client: httpx.Client, server: SandboxServer, kind: str) -> None:
    job_id = create(client, kind)
    response = client.delete(f"{BASE}/{kind}/{job_id}/status")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Report is successfully removed from queue.",
    }
    assert server.stats.jobs_deleted == 1
    assert server.jobs.was_deleted(job_id)
    not_found = {"success": False, "message": "Job not found"}
    for response in (
        client.get(f"{BASE}/{kind}/{job_id}/status"),
        client.get(f"{BASE}/{kind}/{job_id}"),
        client.delete(f"{BASE}/{kind}/{job_id}/status"),
    ):
        assert response.status_code == 404
        assert response.json() == not_found
    assert server.stats.jobs_deleted == 1


def test_delete_completed_job(client: httpx.Client, clock: FakeTimer) -> None:
    job_id = create(client)
    clock.advance(10)
    assert client.get(f"{BASE}/user/{job_id}").status_code == 200
    assert client.delete(f"{BASE}/user/{job_id}/status").status_code == 200
    assert client.get(f"{BASE}/user/{job_id}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{BASE}/user/0123456789abcdef01234567/status"),
        ("GET", f"{BASE}/team/0123456789abcdef01234567"),
        ("DELETE", f"{BASE}/user/0123456789abcdef01234567/status"),
    ],
)
def test_unknown_job_is_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Job not found"}


def test_a_job_is_not_found_under_the_other_kind(client: httpx.Client, clock: FakeTimer) -> None:
    job_id = create(client, "user")
    clock.advance(10)
    assert client.get(f"{BASE}/team/{job_id}/status").status_code == 404
    assert client.get(f"{BASE}/team/{job_id}").status_code == 404
    assert client.delete(f"{BASE}/team/{job_id}/status").status_code == 404
    assert client.get(f"{BASE}/user/{job_id}/status").json()["status"] == "completed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/reports/usage/v2/user"),
        ("GET", f"{BASE}/user"),
        ("POST", f"{BASE}/account"),
        ("PUT", f"{BASE}/user"),
        ("DELETE", f"{BASE}/user/abc"),
        ("POST", f"{BASE}/user/abc/status"),
    ],
)
def test_unknown_path_is_404_json(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False
    assert body["message"]


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + "c2FuZGJveDp3cm9uZw=="},  # sandbox:wrong
        {"Authorization": "Basic " + "bm9ib2R5OnNhbmRib3gta2V5"},  # nobody:sandbox-key
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer sandbox-key"},
    ],
)
def test_bad_credentials_are_401_html(server: SandboxServer, headers: dict[str, str]) -> None:
    for method, path in (("POST", f"{BASE}/user"), ("GET", "/nowhere")):
        with http(server, auth=None) as anonymous:
            response = anonymous.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["www-authenticate"] == 'Basic realm="Application"'
        assert response.text == "HTTP Basic: Access denied.\n"
    assert server.stats.jobs_created == 0


def test_custom_credentials(start_server: Callable[..., SandboxServer]) -> None:
    server = start_server(username="alice", access_key="k3y")
    with http(server) as client:
        assert client.post(f"{BASE}/user").status_code == 401
    with http(server, auth=("alice", "k3y")) as client:
        assert client.post(f"{BASE}/user").status_code == 200


def test_access_key_is_not_in_the_config_repr() -> None:
    assert "sandbox-key" not in repr(SandboxConfig())


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"startDate": "2024/06/01"}, "startDate must be a date as YYYY-MM-DD"),
        ({"startDate": "2024-6-1"}, "startDate must be a date as YYYY-MM-DD"),
        ({"startDate": "2024-02-30"}, "startDate must be a date as YYYY-MM-DD"),
        ({"startDate": "2024-06-01", "endDate": "tomorrow"}, "endDate must be a date"),
        ({"startDate": "2024-06-10", "endDate": "2024-06-01"}, "is before the start date"),
        ({"startDate": "2024-06-15"}, "is in the future"),
        ({"startDate": "2024-06-01", "endDate": "2024-06-15"}, "is in the future"),
        ({"endDate": "2024-06-10"}, "needs a start date"),
        ({"product": "Percy"}, "Product must be one of All-Products, Live, Automate"),
        ({"product": "live"}, "Product must be one of"),
        ({"product": "live_testing"}, "Product must be one of"),
    ],
)
@pytest.mark.parametrize("placement", ["query", "json"])
def test_bad_filters_are_422(
    client: httpx.Client,
    server: SandboxServer,
    params: dict[str, str],
    fragment: str,
    placement: str,
) -> None:
    if placement == "query":
        response = client.post(f"{BASE}/team", params=params)
    else:
        response = client.post(f"{BASE}/team", json=params)
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert fragment in body["message"]
    assert server.stats.jobs_created == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Request body is not valid JSON"),
        (b'["startDate", "2024-06-01"]', "Request body must be a JSON object"),
        (b'{"startDate": 20240601}', "startDate must be a date as YYYY-MM-DD; got 20240601"),
    ],
)
def test_bad_bodies_are_422(client: httpx.Client, content: bytes, message: str) -> None:
    response = client.post(
        f"{BASE}/user", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"success": False, "message": message}


def job_filters(server: SandboxServer, job_id: str) -> tuple[dt.date, dt.date, Product | None]:
    job = server.jobs.get(job_id)
    assert job is not None
    return job.start, job.end, job.product


def test_default_period_is_the_last_two_weeks(client: httpx.Client, server: SandboxServer) -> None:
    job_id = create(client)
    assert job_filters(server, job_id) == (dt.date(2024, 5, 31), TODAY, None)


@pytest.mark.parametrize(
    "kw",
    [
        {"params": {"startDate": "2024-05-01", "endDate": "2024-05-31", "product": "App-Live"}},
        {"json": {"startDate": "2024-05-01", "endDate": "2024-05-31", "product": "App-Live"}},
        {"data": {"startDate": "2024-05-01", "endDate": "2024-05-31", "product": "App-Live"}},
    ],
    ids=["query", "json", "form"],
)
def test_filters_are_read_from_query_or_body(
    client: httpx.Client, server: SandboxServer, kw: dict[str, Any]
) -> None:
    job_id = create(client, "team", **kw)
    assert job_filters(server, job_id) == (
        dt.date(2024, 5, 1),
        dt.date(2024, 5, 31),
        Product.APP_LIVE,
    )


def test_query_wins_over_body(client: httpx.Client, server: SandboxServer) -> None:
    job_id = create(
        client,
        params={"product": "Live"},
        json={"startDate": "2024-06-03", "product": "Automate"},
    )
    assert job_filters(server, job_id) == (dt.date(2024, 6, 3), TODAY, Product.LIVE)


@pytest.mark.parametrize("value", ["All-Products", ""])
def test_all_products_is_no_filter(client: httpx.Client, server: SandboxServer, value: str) -> None:
    job_id = create(client, params={"product": value})
    assert job_filters(server, job_id)[2] is None


@pytest.mark.parametrize("product", list(Product))
def test_report_applies_the_stored_filters(
    client: httpx.Client, server: SandboxServer, clock: FakeTimer, product: Product
) -> None:
    params = {"startDate": "2024-04-01", "endDate": "2024-04-30", "product": product.filter_value}
    user_job = create(client, "user", params=params)
    team_job = create(client, "team", json=params)
    clock.advance(10)
    users = client.get(f"{BASE}/user/{user_job}").json()["data"]["users"]
    teams = client.get(f"{BASE}/team/{team_job}").json()["data"]["teams"]
    assert all(set(r["usage"]["product_data"]) == {product.value} for r in users + teams)
    expected = server.org.report_data(
        ReportKind.USER, start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30), product=product
    )
    assert users == expected["users"]


# --- the shared queue ------------------------------------------------------------------------


def test_queue_limit_is_shared_by_user_and_team_jobs(
    start_server: Callable[..., SandboxServer], clock: FakeTimer
) -> None:
    server = start_server(queue_limit=3)
    with http(server) as client:
        first = create(client, "user")
        create(client, "team")
        create(client, "user")
        response = client.post(f"{BASE}/team")
        assert response.status_code == 422
        assert response.json() == {
            "success": False,
            "message": "Too many report jobs in queue (limit 3). "
            "Delete or wait for a job to finish.",
        }
        assert client.delete(f"{BASE}/user/{first}/status").status_code == 200
        create(client, "team")
        assert client.post(f"{BASE}/user").status_code == 422
        clock.advance(10)  # every job completes and leaves the queue
        for _ in range(3):
            create(client, "user")
        assert server.stats.jobs_created == 7


# --- rate limit ----------------------------------------------------------------------------


def test_rate_limit_burst_then_429(
    start_server: Callable[..., SandboxServer], clock: FakeTimer
) -> None:
    server = start_server(rate_limit=True)
    with http(server) as client:
        job_id = create(client)
        for _ in range(4):
            assert client.get(f"{BASE}/user/{job_id}/status").status_code == 200
        for path in (f"{BASE}/user/{job_id}/status", f"{BASE}/user", "/nowhere"):
            response = client.get(path)
            assert response.status_code == 429
            assert response.json() == {"success": False, "message": "Rate limit exceeded"}
            assert "retry-after" not in response.headers
        assert server.stats.rate_limited == 3
        clock.advance(4.0)  # 15 a minute: one token every 4 s
        assert client.get(f"{BASE}/user/{job_id}/status").status_code == 200
        assert client.get(f"{BASE}/user/{job_id}/status").status_code == 429
        clock.advance(60.0)  # refills to the burst, no further
        codes = [client.get(f"{BASE}/user/{job_id}/status").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        assert server.stats.by_status[429] == 5


def test_unauthenticated_requests_take_no_tokens(
    start_server: Callable[..., SandboxServer],
) -> None:
    server = start_server(rate_limit=True, rate_burst=2)
    with http(server, auth=None) as anonymous:
        for _ in range(5):
            assert anonymous.get(f"{BASE}/user/x/status").status_code == 401
    with http(server) as client:
        assert client.post(f"{BASE}/user").status_code == 200
        assert client.post(f"{BASE}/user").status_code == 200
        assert client.post(f"{BASE}/user").status_code == 429


def test_rate_limit_off(client: httpx.Client, server: SandboxServer) -> None:
    job_id = create(client)
    codes = {client.get(f"{BASE}/user/{job_id}/status").status_code for _ in range(30)}
    assert codes == {200}
    assert server.stats.rate_limited == 0


# --- faults --------------------------------------------------------------------------------


def test_error_rate_gives_5xx(start_server: Callable[..., SandboxServer]) -> None:
    server = start_server(faults=FaultConfig(error_rate=1.0), fault_seed=3)
    kinds = set()
    with http(server) as client:
        for _ in range(20):
            response = client.post(f"{BASE}/user")
            assert response.status_code in (500, 502, 503)
            kinds.add(response.headers["content-type"].split(";")[0])
            if "json" in response.headers["content-type"]:
                assert response.json()["success"] is False
            else:
                assert "<html>" in response.text
    assert kinds == {"application/json", "text/html"}
    assert server.stats.jobs_created == 0


def test_auth_and_rate_limit_come_before_faults(
    start_server: Callable[..., SandboxServer],
) -> None:
    server = start_server(faults=FaultConfig(error_rate=1.0), rate_limit=True, rate_burst=1)
    with http(server, auth=None) as anonymous:
        assert anonymous.post(f"{BASE}/user").status_code == 401
    with http(server) as client:
        assert client.post(f"{BASE}/user").status_code >= 500
        assert client.post(f"{BASE}/user").status_code == 429


def test_malformed_rate_spoils_200_bodies(
    start_server: Callable[..., SandboxServer], clock: FakeTimer
) -> None:
    server = start_server(faults=FaultConfig(malformed_rate=1.0), fault_seed=1)
    with http(server) as client:
        kinds = set()
        for _ in range(10):
            response = client.post(f"{BASE}/user")
            assert response.status_code == 200
            kinds.add(response.headers["content-type"].split(";")[0])
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.content)
        assert kinds == {"application/json", "text/html"}
        # Error answers are left alone: only 200s are spoiled.
        assert client.get(f"{BASE}/user/nope/status").json()["message"] == "Job not found"
        job = server.jobs.all()[0]
        clock.advance(10)
        report = client.get(f"{BASE}/user/{job.id}")
        assert report.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(report.content)


def test_fail_rate_ends_jobs_failed(
    start_server: Callable[..., SandboxServer], clock: FakeTimer
) -> None:
    server = start_server(faults=FaultConfig(fail_rate=1.0), queue_limit=1)
    with http(server) as client:
        job_id = create(client)
        clock.advance(2.5)
        assert client.get(f"{BASE}/user/{job_id}/status").json()["status"] == "processing"
        clock.advance(5)
        assert client.get(f"{BASE}/user/{job_id}/status").json() == {
            "success": True,
            "status": "failed",
            "message": "Report generation failed",
        }
        response = client.get(f"{BASE}/user/{job_id}")
        assert response.status_code == 422
        assert response.json() == {
            "success": False,
            "message": "Report generation failed. Job status: failed",
        }
        create(client)  # a failed job no longer holds its queue slot


def test_stuck_rate_never_completes(
    start_server: Callable[..., SandboxServer], clock: FakeTimer
) -> None:
    server = start_server(faults=FaultConfig(stuck_rate=1.0), queue_limit=1)
    with http(server) as client:
        job_id = create(client)
        clock.advance(86_400 * 30)
        assert client.get(f"{BASE}/user/{job_id}/status").json()["status"] == "processing"
        assert client.get(f"{BASE}/user/{job_id}").status_code == 422
        job = server.jobs.get(job_id)
        assert job is not None
        assert server.jobs.status(job) is JobStatus.PROCESSING
        assert client.post(f"{BASE}/team").status_code == 422  # it holds its slot...
        assert client.delete(f"{BASE}/user/{job_id}/status").status_code == 200
        create(client, "team")  # ...until deleted


def test_slow_rate_delays_answers(start_server: Callable[..., SandboxServer]) -> None:
    server = start_server(faults=FaultConfig(slow_rate=1.0, slow_seconds=0.2))
    with http(server) as client:
        started = time.perf_counter()
        response = client.post(f"{BASE}/user")
        assert time.perf_counter() - started >= 0.2
        assert response.status_code == 200


# --- the server object ---------------------------------------------------------------------


def test_stats_count_every_answer(client: httpx.Client, server: SandboxServer) -> None:
    create(client)
    client.get("/nowhere")
    with http(server, auth=None) as anonymous:
        anonymous.get("/nowhere")
    assert server.stats.requests == 3
    assert server.stats.by_status == {200: 1, 404: 1, 401: 1}


def test_url_context_manager_and_stop(clock: FakeTimer) -> None:
    config = SandboxConfig(users=12, timer=clock, clock=SANDBOX_CLOCK)
    with SandboxServer(config, port=0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        with http(server) as client:
            assert client.post(f"{BASE}/user").status_code == 200
    with http(server) as client, pytest.raises(httpx.ConnectError):
        client.post(f"{BASE}/user")


def test_concurrent_clients(client: httpx.Client, server: SandboxServer, clock: FakeTimer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    job_ids = [create(client, kind) for kind in ("user", "team")]
    clock.advance(10)

    def fetch(i: int) -> bytes:
        kind = "user" if i % 2 == 0 else "team"
        with http(server) as c:
            return c.get(f"{BASE}/{kind}/{job_ids[i % 2]}").content

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(fetch, range(16)))
    assert len(set(bodies)) == 2
