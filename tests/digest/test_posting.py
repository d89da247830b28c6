"""The weekly digest from the sandbox to the Slack stand-in: posting, routing, once per week."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.browserstack.sandbox import SandboxServer
from bot.clock import ManualClock, ShiftedClock
from bot.digest.history import DigestHistory
from bot.digest.post import DigestPoster, Route, failure_fix, routes
from bot.settings import Settings
from bot.slack.delivery import retry_handlers
from bot.slack.standin import SlackStandIn
from bot.storage import open_database
from tests.conftest import ACCESS_KEY, USERNAME, SandboxFactory, make_sandbox_client

DIGEST = "C0DIGEST"
TEAM_CHANNEL = "C0LABS"


@pytest.fixture
def monday_9(clock: ShiftedClock) -> dt.datetime:
    """The last Monday 09:00 (UTC, the default schedule) at least a week before today, +30 s."""
    today = clock.today()
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return dt.datetime.combine(monday, dt.time(9, 0, 30), tzinfo=dt.UTC)


@pytest.fixture
def digest_clock(monday_9: dt.datetime) -> ManualClock:
    """The clock the sandbox, the client and every poster share; ``make_poster`` moves it."""
    return ManualClock(monday_9)


@pytest.fixture
def standin(digest_clock: ManualClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(
        bot_token="xoxb-test", member_channels={DIGEST, TEAM_CHANNEL}, clock=digest_clock
    ) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, digest_clock: ManualClock) -> SandboxServer:
    return sandbox_factory(clock=digest_clock, users=400)


PosterFactory = Callable[..., DigestPoster]


@pytest.fixture
def make_poster(
    sandbox: SandboxServer,
    standin: SlackStandIn,
    tmp_path: Path,
    digest_clock: ManualClock,
    monday_9: dt.datetime,
) -> Iterator[PosterFactory]:
    engines = []

    def make(*, after: dt.timedelta = dt.timedelta(0), **extra: object) -> DigestPoster:
        """A poster (a process, as it were) ``after`` the scheduled time."""
        values: dict[str, object] = {
            "browserstack_username": USERNAME,
            "browserstack_access_key": ACCESS_KEY,
            "browserstack_api_url": sandbox.url,
            "digest_channel": DIGEST,
            "report_poll_initial_seconds": 0.05,
            "report_poll_max_seconds": 0.2,
            "seat_prices": "live=129",
        }
        values.update(extra)
        settings = Settings.from_values(values)
        digest_clock.set(monday_9 + after)
        engine = open_database(f"sqlite:///{tmp_path / 'bot.sqlite'}")
        engines.append(engine)
        slack = WebClient(
            token="xoxb-test", base_url=standin.api_url, retry_handlers=retry_handlers()
        )
        return DigestPoster(
            settings=settings,
            browserstack=make_sandbox_client(sandbox),
            history=DigestHistory(engine),
            slack=slack,
            clock=digest_clock,
        )

    yield make
    for engine in engines:
        engine.dispose()


def test_digest_posts_summary_thread_csv_and_chart(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    outcomes = make_poster().run_due()
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
    assert make_poster().run_due()[0].posted
    # A restart later the same week (a new poster on the same database) posts nothing.
    later = make_poster(after=dt.timedelta(hours=5))
    assert later.run_due() == []  # nothing due: this week's is out
    assert len([m for m in standin.channel_messages(DIGEST) if not m.thread_ts]) == 1


def test_two_instances_at_once_post_once(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    posters = [make_poster(), make_poster()]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: p.run_due(), posters))
    assert sorted(o.posted for r in results for o in r) == [False, True]
    assert len([m for m in standin.channel_messages(DIGEST) if not m.thread_ts]) == 1


def test_next_week_says_what_changed(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    make_poster().run_due()
    next_week = make_poster(after=dt.timedelta(days=7))
    assert next_week.run_due()[0].posted
    summaries = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "first digest" in str(summaries[0].blocks).lower()
    assert "first digest" not in str(summaries[1].blocks).lower()
    assert "since" in str(summaries[1].blocks).lower()


def test_a_catch_up_run_is_marked_late(make_poster: PosterFactory, standin: SlackStandIn) -> None:
    late = make_poster(after=dt.timedelta(hours=3))
    assert late.run_due()[0].posted
    (summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "posted late" in summary.text


def test_team_channels_get_their_own_digest(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    poster = make_poster(digest_team_channels=f"R&D <Labs>={TEAM_CHANNEL}")
    assert routes(poster.settings) == [Route(DIGEST), Route(TEAM_CHANNEL, "R&D <Labs>")]
    assert all(o.posted for o in poster.run_due())
    (team_summary,) = [m for m in standin.channel_messages(TEAM_CHANNEL) if not m.thread_ts]
    (org_summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "R&amp;D &lt;Labs&gt;" in str(team_summary.blocks)  # escaped, and this team's
    assert team_summary.text != org_summary.text


def test_a_failed_post_is_tried_again_an_hour_later(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    standin.fail_next("chat.postMessage", error="channel_not_found")
    first = make_poster().run_due()
    assert not first[0].posted
    assert "channel_not_found" in first[0].reason
    assert "check DIGEST_CHANNEL" in first[0].reason
    assert make_poster(after=dt.timedelta(minutes=59)).run_due() == []  # not every minute
    (retry,) = make_poster(after=dt.timedelta(minutes=61)).run_due()
    assert retry.posted
    (summary,) = [m for m in standin.channel_messages(DIGEST) if not m.thread_ts]
    assert "posted late" not in summary.text  # the bot was running: a retry, not a catch-up


def test_a_channel_the_bot_is_not_in_is_logged_with_the_fix_and_retried_hourly(
    make_poster: PosterFactory,
    standin: SlackStandIn,
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outside = "C0NOTIN"  # the stand-in answers not_in_channel for it, as Slack does
    with caplog.at_level(logging.ERROR, logger="bot.digest.post"):
        (first,) = make_poster(digest_channel=outside).run_due()
    assert not first.posted
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "not_in_channel" in record.getMessage()
    assert f"invite @usagebot to <#{outside}>" in record.getMessage()
    assert "tried again every hour" in record.getMessage()
    jobs = sandbox.stats.jobs_created
    # Half an hour later, with a second replica: nothing tried, no reports run.
    assert make_poster(digest_channel=outside, after=dt.timedelta(minutes=30)).run_due() == []
    assert sandbox.stats.jobs_created == jobs
    # An hour on, still not invited: it fails again, and says so again.
    (second,) = make_poster(digest_channel=outside, after=dt.timedelta(minutes=62)).run_due()
    assert not second.posted
    poster = make_poster(digest_channel=outside, after=dt.timedelta(minutes=70))
    (told,) = poster.failures(poster.clock.now())
    assert "could not be posted to <#C0NOTIN>: Slack said `not_in_channel`" in told
    assert "invite @usagebot" in told
    assert "tried again every hour until" in told
    # Invited now: the next hourly try posts, once, whichever of two replicas gets there first.
    standin.member_channels.add(outside)
    later = [make_poster(digest_channel=outside, after=dt.timedelta(minutes=123)) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: p.run_due(), later))
    assert sorted(o.posted for r in results for o in r) in ([True], [False, True])
    assert len([m for m in standin.channel_messages(outside) if not m.thread_ts]) == 1
    assert later[0].failures(later[0].clock.now()) == []


def test_a_failed_post_is_not_tried_after_the_grace_period(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    outside = "C0NOTIN"
    grace = {"digest_channel": outside, "digest_grace_hours": 2}
    assert not make_poster(**grace).run_due()[0].posted
    standin.member_channels.add(outside)
    past = make_poster(after=dt.timedelta(hours=3), **grace)
    assert past.run_due() == []  # the week's run is over
    assert standin.channel_messages(outside) == []
    (told,) = past.failures(past.clock.now())
    assert "not tried again" in told


def test_a_thread_that_fails_after_the_summary_never_posts_the_summary_again(
    make_poster: PosterFactory, standin: SlackStandIn
) -> None:
    standin.fail_next("files.getUploadURLExternal", error="internal_error")
    (first,) = make_poster().run_due()
    assert first.posted
    assert "thread is incomplete: internal_error" in first.reason
    assert make_poster(after=dt.timedelta(hours=1)).run_due() == []  # this week's is out
    assert len([m for m in standin.channel_messages(DIGEST) if not m.thread_ts]) == 1


def test_preview_builds_without_slack(make_poster: PosterFactory, monday_9: dt.datetime) -> None:
    poster = make_poster()
    poster.slack = None
    users, teams = poster.fetch(monday_9)
    assert (users.filters.start, users.filters.end) == (
        monday_9.date() - dt.timedelta(days=29),  # IDLE_DAYS=30, both ends counted
        monday_9.date(),
    )
    digest, messages = poster.build(users, teams, Route(DIGEST), now=monday_9, chart=False)
    assert digest.idle_seats > 0
    assert messages.chart is None
    assert messages.details


def test_the_preview_is_the_posted_digest_with_details_behind_a_button(
    make_poster: PosterFactory, monday_9: dt.datetime
) -> None:
    poster = make_poster()
    users, teams = poster.fetch(monday_9)
    preview = poster.preview(users, monday_9, teams=teams, request_id="r1", buttons=("details",))
    _, posted = poster.build(users, teams, Route(DIGEST), now=monday_9, chart=False)
    sections = [b for b in preview.summary.blocks if b["type"] != "actions"]
    actions = [b for b in preview.summary.blocks if b["type"] == "actions"]
    # Every section of the posted digest (parallels included, from the team report); only the
    # last line differs: its thread is behind Details.
    assert sections[:-1] == posted.summary.blocks[:-1]
    assert "could be freed" in str(sections)
    assert "Under *Details*" in str(sections[-1])
    assert [e["value"] for e in actions[0]["elements"]] == ["r1"]
    assert preview.details == posted.details


@pytest.mark.parametrize(
    ("error", "route", "fix"),
    [
        ("not_in_channel", Route("C1"), "invite @usagebot to <#C1> (`/invite @usagebot`"),
        ("channel_not_found", Route("C1"), "check DIGEST_CHANNEL: no channel <#C1> is visible"),
        ("channel_not_found", Route("C2", "QA"), "check DIGEST_TEAM_CHANNELS: no channel <#C2>"),
        ("is_archived", Route("C1"), "<#C1> is archived: unarchive it, or point DIGEST_CHANNEL"),
        ("ratelimited", Route("C1"), "see Slack's error ratelimited"),
    ],
)
def test_each_refusal_comes_with_its_fix(error: str, route: Route, fix: str) -> None:
    assert fix in failure_fix(error, route)
