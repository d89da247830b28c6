"""The weekly digest from the sandbox to the Slack stand-in: posting, routing, once per week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.browserstack.sandbox import SandboxServer
from bot.digest.history import DigestHistory
from bot.digest.post import DigestPoster, Route, routes
from bot.reports.store import create_engine
from bot.settings import Settings
from bot.slack.delivery import retry_handlers
from bot.slack.standin import SlackStandIn
from tests.conftest import ACCESS_KEY, USERNAME, SandboxFactory, make_sandbox_client

DIGEST = "C0DIGEST"
TEAM_CHANNEL = "C0LABS"
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, 30, tzinfo=dt.UTC)


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token="xoxb-test", member_channels={DIGEST, TEAM_CHANNEL}) as server:
        yield server


@pytest.fixture
def today() -> dict[str, dt.date]:
    """What day the sandbox and the client think it is; each poster moves it to its clock."""
    return {"date": MONDAY_9.date()}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, today: dict[str, dt.date]) -> SandboxServer:
    return sandbox_factory(today=lambda: today["date"], users=400)


PosterFactory = Callable[..., DigestPoster]


@pytest.fixture
def make_poster(
    sandbox: SandboxServer, standin: SlackStandIn, tmp_path: Path, today: dict[str, dt.date]
) -> Iterator[PosterFactory]:
    engines = []

    def make(
        *, clock: Callable[[], dt.datetime] = lambda: MONDAY_9, **extra: object
    ) -> DigestPoster:
        values: dict[str, object] = {
            "browserstack_username": USERNAME,
            "browserstack_access_key": ACCESS_KEY,
            "browserstack_api_url": sandbox.url,
            "digest_channel": DIGEST,
            "report_poll_initial_seconds": 0.05,
            "report_poll_max_seconds": 0.2,
            "seat_prices": "automate=129",
        }
        values.update(extra)
        settings = Settings(**values)  # type: ignore[arg-type]
        today["date"] = clock().date()
        engine = create_engine(f"sqlite:///{tmp_path / 'bot.sqlite'}")
        engines.append(engine)
        slack = WebClient(
            token="xoxb-test", base_url=standin.api_url, retry_handlers=retry_handlers()
        )
        return DigestPoster(
            settings=settings,
            browserstack=make_sandbox_client(sandbox, today=lambda: today["date"]),
            history=DigestHistory(engine),
            slack=slack,
            clock=clock,
        )

    yield make
    for engine in engines:
        engine.dispose()


def test_digest_posts_summary_thread_csv_and_chart(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    outcomes = make_poster().run_scheduled()
    assert [(o.route.channel, o.posted) for o in outcomes] == [(DIGEST, True)]
    (summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "idle seat" in summary.text
    assert "late" not in summary.text  # 30 s after 09:00 is on time
    assert "$" in str(summary.blocks)  # the cost of idle Automate seats
    replies = standin.thread(DIGEST, summary.ts)[1:]
    assert any("Idle members by team" in str(r.blocks) for r in replies)
    files = {f.filename.rsplit(".", 1)[-1]: f for f in standin.files}
    assert set(files) == {"csv", "png"}
    assert all(f.thread_ts == summary.ts for f in files.values())
    assert files["png"].content.startswith(b"\x89PNG")
    assert files["csv"].content.decode().startswith("name,email")


def test_posts_once_per_week_and_channel_across_restarts(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    assert make_poster().run_scheduled()[0].posted
    # A restart later the same week (a new poster on the same database) posts nothing.
    later = make_poster(clock=lambda: MONDAY_9 + dt.timedelta(hours=5))
    assert [o.reason for o in later.run_scheduled()] == ["already posted"]
    assert len([m for m in standin.channel_messages(DIGEST) if not m.thread_ts]) == 1


def test_two_instances_at_once_post_once(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    posters = [make_poster(), make_poster()]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: p.run_scheduled(), posters))
    assert sorted(o.posted for r in results for o in r) == [False, True]
    assert len([m for m in standin.channel_messages(DIGEST) if not m.thread_ts]) == 1


def test_next_week_says_what_changed(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    make_poster().run_scheduled()
    next_week = make_poster(clock=lambda: MONDAY_9 + dt.timedelta(days=7))
    assert next_week.run_scheduled()[0].posted
    summaries = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "first digest" in str(summaries[0].blocks).lower()
    assert "first digest" not in str(summaries[1].blocks).lower()
    assert "since" in str(summaries[1].blocks).lower()


def test_a_catch_up_run_is_marked_late(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    late = make_poster(clock=lambda: MONDAY_9 + dt.timedelta(hours=3))
    assert late.run_scheduled()[0].posted
    (summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "posted late" in summary.text


def test_team_channels_get_their_own_digest(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    poster = make_poster(digest_team_channels=f"R&D <Labs>={TEAM_CHANNEL}")
    assert routes(poster.settings) == [Route(DIGEST), Route(TEAM_CHANNEL, "R&D <Labs>")]
    assert all(o.posted for o in poster.run_scheduled())
    (team_summary,) = [m for m in standin.channel_messages(TEAM_CHANNEL) if not m.thread_ts]
    (org_summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "R&amp;D &lt;Labs&gt;" in str(team_summary.blocks)  # escaped, and this team's
    assert team_summary.text != org_summary.text


def test_a_failed_post_releases_the_week(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    standin.fail_next("chat.postMessage", error="channel_not_found")
    first = make_poster().run_scheduled()
    assert not first[0].posted
    assert "channel_not_found" in first[0].reason
    assert make_poster().run_scheduled()[0].posted  # the next run may try again


def test_preview_builds_without_slack(make_poster: PosterFactory) -> None:
    poster = make_poster()
    poster.slack = None
    users, teams = poster.fetch(MONDAY_9)
    assert (users.filters.start, users.filters.end) == (
        MONDAY_9.date() - dt.timedelta(days=30),
        MONDAY_9.date(),
    )
    digest, messages = poster.build(users, teams, Route(DIGEST), now=MONDAY_9, chart=False)
    assert digest.idle_seats > 0
    assert messages.chart is None
    assert messages.details
