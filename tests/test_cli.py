"""``python -m bot ...`` as a user runs it, against the sandbox (``tests.cli`` says how)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.browserstack.sandbox import SandboxServer
from bot.clock import SystemClock
from bot.slack.standin import SlackStandIn
from tests.cli import assert_one_clean_line, clean_environment, run_bot
from tests.conftest import ACCESS_KEY, USERNAME, SandboxFactory

FIXTURES = Path(__file__).parent / "fixtures"


def sandbox_env(server: SandboxServer, **extra: str) -> dict[str, str]:
    return {
        "BROWSERSTACK_USERNAME": USERNAME,
        "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY,
        "BROWSERSTACK_API_URL": server.url,
        "REPORT_POLL_INITIAL_SECONDS": "0.05",
        "REPORT_POLL_MAX_SECONDS": "0.2",
        # A generous budget: the sandbox here does not rate-limit, and waiting 4 s a token
        # would only slow the suite (the limiter has tests of its own).
        "BROWSERSTACK_RATE_BURST": "1000",
        "BROWSERSTACK_RATE_PER_MINUTE": "600000",
        **extra,
    }


@pytest.fixture
def live(sandbox_factory: SandboxFactory) -> SandboxServer:
    # The CLI is another process, which makes its own clock from the real date: a sandbox it
    # talks to must be on the real date too, whatever --today says.
    return sandbox_factory(clock=SystemClock())


def test_json_is_the_data_object(live: SandboxServer) -> None:
    # A real process, once: what a user's run prints, progress lines on stderr included.
    result = run_bot("fetch", "user", "--format", "json", env=sandbox_env(live), process=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    steve = json.loads((FIXTURES / "seed_user_report.json").read_text())["data"]["users"][0]
    assert set(data) == {"users"}
    assert steve in data["users"]
    assert "job " in result.stderr
    assert "completed" in result.stderr
    assert "Report ready" in result.stderr


def test_csv_to_file(live: SandboxServer, tmp_path: Path) -> None:
    out = tmp_path / "teams.csv"
    result = run_bot(
        "fetch",
        "team",
        "--product",
        "Automate",
        "--format",
        "csv",
        "-o",
        str(out),
        env=sandbox_env(live),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    acme = next(row for row in rows if row["name"] == "Acme team")
    assert acme["user_count"] == "10"
    assert acme["automate.max_parallels_used"] == "2"
    assert not any(column.startswith("live_testing.") for column in rows[0])


def test_table(live: SandboxServer) -> None:
    result = run_bot("fetch", "team", env=sandbox_env(live))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Team report, ")
    # Without --since, the 14 days /usage means, sent as such: the header states what was asked.
    ((job),) = live.jobs.all()
    assert (job.end - job.start).days == 13
    assert lines[0].startswith(f"Team report, {job.start} to {job.end}, ")
    assert "In the product columns:" in result.stdout  # the legend of "min" and "par" cells
    assert any(line.startswith("Team ") and "Members" in line for line in lines)


def test_period_and_product_reach_the_report(live: SandboxServer) -> None:
    result = run_bot(
        "fetch",
        "user",
        "--since",
        "2026-10-01",
        "--until",
        "2026-10-31",
        "--product",
        "app-live",
        "--format",
        "json",
        env=sandbox_env(live),
    )
    assert result.returncode == 0, result.stderr
    users = json.loads(result.stdout)["users"]
    assert {key for u in users for key in u["usage"]["product_data"]} == {"app_live_testing"}


def test_bad_credentials(live: SandboxServer) -> None:
    env = sandbox_env(live, BROWSERSTACK_ACCESS_KEY="wrong-key")
    result = run_bot("fetch", "user", env=env)
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "refused the credentials")
    assert "wrong-key" not in result.stderr


def test_unreachable_host() -> None:
    env = {
        "BROWSERSTACK_USERNAME": "u",
        "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY,
        "BROWSERSTACK_API_URL": "http://127.0.0.1:9",
        "BROWSERSTACK_RETRY_ATTEMPTS": "1",
    }
    result = run_bot("fetch", "team", env=env)
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "Could not reach BrowserStack at http://127.0.0.1:9")


def test_job_timed_out(sandbox_factory: SandboxFactory) -> None:
    from bot.browserstack.sandbox import FaultConfig

    server = sandbox_factory(clock=SystemClock(), faults=FaultConfig(stuck_rate=1.0))
    result = run_bot("fetch", "team", env=sandbox_env(server, REPORT_DEADLINE_SECONDS="0.5"))
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "still not ready", "cancelled")
    assert server.stats.jobs_deleted == 1


def test_missing_settings() -> None:
    result = run_bot("fetch", "team", process=True)
    assert result.returncode == 2
    assert_one_clean_line(result.stderr, "BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY")


def test_invalid_period(live: SandboxServer) -> None:
    result = run_bot(
        "fetch", "user", "--since", "2026-10-10", "--until", "2026-10-01", env=sandbox_env(live)
    )
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "before the start date")
    assert live.stats.requests == 0


def test_argument_errors_are_usage_errors() -> None:
    result = run_bot("fetch", "user", "--since", "yesterday")
    assert result.returncode == 2
    assert "is not a date like" in result.stderr
    result = run_bot("fetch", "user", "--since", "2026-13-01")
    assert result.returncode == 2
    assert "'2026-13-01' is not a date: month 13 does not exist" in result.stderr
    result = run_bot("fetch", "user", "--product", "Percy")
    assert result.returncode == 2
    assert "unknown product" in result.stderr


def test_sandbox_command_serves_the_configured_credentials() -> None:
    import select

    env = clean_environment(
        {"BROWSERSTACK_USERNAME": "from-env", "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--users", "20"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "the sandbox did not start"
        banner = process.stderr.readline()
        assert "access key hidden" in banner
        assert ACCESS_KEY not in banner
        url = banner.split(" listening on ")[1].split()[0]
        import httpx

        auth = ("from-env", ACCESS_KEY)
        assert httpx.post(f"{url}/reports/usage/v1/team", auth=auth).status_code == 200
        assert httpx.post(f"{url}/reports/usage/v1/team", auth=("x", "y")).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        (
            {"SLACK_BOT_TOKEN": "xoxp-a-user-token"},
            "SLACK_BOT_TOKEN: Value error, should start with 'xoxb-'",
        ),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),  # HTTP mode needs it
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN"),
    ],
)
def test_serve_stops_at_once_naming_the_setting(env: dict[str, str], named: str) -> None:
    base = {"BROWSERSTACK_USERNAME": "u", "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY}
    result = run_bot("serve", env={**base, **env})
    assert result.returncode == 2
    assert_one_clean_line(result.stderr, named)
    for value in env.values():
        assert value not in result.stderr  # named, never echoed


def test_digest_prints_without_any_slack_setting(live: SandboxServer, tmp_path: Path) -> None:
    env = sandbox_env(live, DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite'}")
    result = run_bot("digest", env=env)
    assert result.returncode == 0, result.stderr
    assert "Weekly idle-seat digest" in result.stdout
    assert "in thread:" in result.stdout
    assert "idle members)" in result.stdout  # the CSV that would be attached


def test_digest_shares_its_reports_through_the_database(
    live: SandboxServer, tmp_path: Path
) -> None:
    """What one ``digest`` fetched is kept in DATABASE_URL's shared datasets: the next run (or a
    ``serve`` on the same database) reads it instead of asking BrowserStack again."""
    env = sandbox_env(live, DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite'}")
    first = run_bot("digest", env=env)
    assert first.returncode == 0, first.stderr
    assert live.stats.jobs_created == 2  # the user and team reports
    second = run_bot("digest", env=env)
    assert second.returncode == 0, second.stderr
    assert live.stats.jobs_created == 2
    assert "Weekly idle-seat digest" in second.stdout


def test_digest_post_needs_slack_and_a_channel(live: SandboxServer) -> None:
    result = run_bot("digest", "--post", env=sandbox_env(live, SLACK_BOT_TOKEN="xoxb-1"))
    assert result.returncode == 2
    assert_one_clean_line(result.stderr, "DIGEST_CHANNEL")


SERVE_ENV = {
    "BROWSERSTACK_USERNAME": "u",
    "BROWSERSTACK_ACCESS_KEY": ACCESS_KEY,
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s",
    "PORT": "0",
}


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("sqlite:////proc/usagebot/bot.sqlite", "cannot be used"),  # a folder that cannot be made
        ("postgresql+psycopg://bot:pw-that-must-not-show@127.0.0.1:9/usagebot", "cannot be used"),
        ("mysql://bot@127.0.0.1/usagebot", "driver that is not installed"),
        ("not a url", "is not a database URL"),
    ],
    ids=["unwritable folder", "unreachable server", "missing driver", "not a URL"],
)
def test_an_unusable_database_is_one_line_naming_database_url(url: str, cause: str) -> None:
    result = run_bot("serve", env={**SERVE_ENV, "DATABASE_URL": url})
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "DATABASE_URL", cause)
    assert "pw-that-must-not-show" not in result.stderr


def test_serve_without_database_url_says_where_its_sqlite_file_lives(tmp_path: Path) -> None:
    # The per-user data folder, never the folder serve happens to run in. Slack is the stand-in:
    # serve asks it whether it takes the token before it listens.
    slack = SlackStandIn(bot_token=SERVE_ENV["SLACK_BOT_TOKEN"], clock=SystemClock()).start()
    env = {
        **SERVE_ENV,
        "SLACK_API_URL": slack.api_url,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),  # run from another folder
    }
    process = subprocess.Popen(  # our own interpreter and module
        [sys.executable, "-m", "bot", "serve"],
        env=clean_environment(env),
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        expected = tmp_path / "data" / "usagebot" / "usagebot.sqlite"
        assert f"DATABASE_URL is not set: keeping requests and reports in {expected}" in first
        served = any("listening on" in line for line in process.stderr)
    finally:
        process.terminate()
        process.wait(timeout=15)
        slack.stop()
    assert served
    assert expected.exists()
    assert not list(tmp_path.glob("*.sqlite"))  # nothing in the working directory


def test_db_status_and_upgrade(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url}
    # Real processes: the upgrade's log line is what a user sees of it.
    before = run_bot("db", "status", env=env, process=True)
    assert before.returncode == 1
    assert "db upgrade" in before.stdout
    upgraded = run_bot("db", "upgrade", env=env, process=True)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from nothing to" in upgraded.stderr
    assert "the newest" in upgraded.stdout
    after = run_bot("db", "status", env=env, process=True)
    assert after.returncode == 0
    assert "the newest" in after.stdout
    again = run_bot("db", "upgrade", env=env, process=True)
    assert again.stderr == ""  # nothing left to do, nothing said


def test_db_status_of_an_unreachable_database_is_one_line() -> None:
    result = run_bot(
        "db", "status", env={"DATABASE_URL": "postgresql+psycopg://bot:hunter2@127.0.0.1:1/x"}
    )
    assert result.returncode == 1
    assert_one_clean_line(result.stderr, "DATABASE_URL", "127.0.0.1")
    assert "hunter2" not in result.stderr
