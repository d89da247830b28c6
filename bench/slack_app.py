"""The Slack app end to end on loopback: ack latency, BrowserStack requests per command, answer lag.

    .venv/bin/python bench/slack_app.py [--only ack|burst|latency] [--rounds 150] [--seed 1]

Everything runs in this one process on 127.0.0.1 and nothing is patched: the BrowserStack sandbox
(``SandboxServer``), the Slack stand-in (``SlackStandIn``) and usagebot itself (``Usagebot``: Bolt,
the APScheduler scheduler and an SQLite database, behind ``HttpServer``: cheroot and Bolt's WSGI
adapter). Commands are signed slash commands POSTed over HTTP, as Slack sends them. Waiting for
answers is on the stand-in's condition variable (``wait_for``), never a sleep.

ack      ``/usage`` commands, one at a time, each sent both to usagebot and to a bare Bolt app that
         acks it with a static placeholder of the same size, served the same way (``HttpServer``,
         the same ``App`` options, the same 16-thread listener executor and Web API client).
         The two alternate command by command (ABBA) so that machine noise, and usagebot's own
         background work, hit both alike. A round is six commands: ``help``, ``teams``,
         ``team Acme team`` and ``top 5`` (answered from the cache after the first round), and
         ``idle since D`` and ``teams since D`` with a new date D each round (a new BrowserStack
         job each). Between rounds it waits for every answer. Here the sandbox does not
         rate-limit and jobs are short: the point is the work after the ack, not BrowserStack.
burst    100 commands from 20 people at once (a pool of 20 threads): ``teams``, ``team <name>``,
         ``idle``, ``top``, ``me``, ``user <email>`` over three periods, as on a busy morning,
         until every one is answered. The sandbox enforces BrowserStack's limit (a burst of 5, then
         15 a minute) and the bot's client uses the same limit through ``shared_rate_limiter``;
         jobs take 1 s queued + 2 s processing, the bot polls after 1 s, then up to every 4 s.
         Counted at the sandbox: requests and 429s. For scale, the acks of the same burst sent
         to the bare Bolt app just before (while usagebot is idle) are printed too.
latency  A handful of uncached commands, one at a time, each on a fresh bot and sandbox (so that
         neither the cache nor the rate limit of an earlier sample plays a part), with jobs of
         different lengths so that completion falls at different points of the poll schedule.
         Measured: from the moment the sandbox's job store says the job is ``completed`` to the
         final answer's arrival at the stand-in, next to the wait the poll schedule alone implies.

Targets (the Slack app issue): ack p99 within 1.2x of the bare Bolt app; under 0.2 BrowserStack
requests per answered command in the burst; zero 429s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.browserstack.client import BrowserStackClient, shared_rate_limiter
from bot.browserstack.jobs import PollSchedule
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox import SandboxConfig, SandboxServer, SyntheticOrg
from bot.runtime import Usagebot
from bot.server import HttpServer
from bot.settings import Settings
from bot.slack import views
from bot.slack.delivery import retry_handlers
from bot.slack.standin import Call, SlackStandIn, form_body, sign, slash_command

if TYPE_CHECKING:
    from bot.browserstack.sandbox.jobs import Job

LOOPBACK = "127.0.0.1"
SIGNING_SECRET = "bench-signing-secret"  # noqa: S105 - a loopback stand-in's, not a secret
BOT_TOKEN = "xoxb-bench-token"  # noqa: S105
USERNAME = "bench"
ACCESS_KEY = "bench-access-key"
CHANNEL = "C0BENCH"
BARE = "U0BARE"  # who sees the bare Bolt app's acks
HOURGLASS = ":hourglass"  # in a placeholder's blocks; never in an answer's
# One clock for the sandbox's jobs and the stand-in's call records, so that they compare directly.
CLOCK = time.monotonic
TODAY = dt.datetime.now(dt.UTC).date()  # the sandbox and the bot both use the real date

ACK_FORMS = ("help", "teams", "team Acme team", "top 5", "idle since {day}", "teams since {day}")
BURST_VERBS = {"teams": 20, "team": 25, "idle": 15, "top": 15, "me": 15, "user": 10}
BURST_PERIODS = {"": 60, " last 30d": 25, " this month": 15}  # "" is the default 14 days
BURST_TEAMS = ("Acme team", "Infrastructure Core", "Billing Frontend", "Desktop Automation")
# Each with its whole job length (1 s queued, the rest processing): completion lands at different
# points of the poll schedule, so the samples show the spread of the wait, not one value 5 times.
LATENCY_SAMPLES = (
    ("teams", 3.0),
    ("team Acme team", 4.0),
    ("idle", 5.0),
    ("top 5", 6.5),
    ("me", 8.0),
)


# --- the bot and its surroundings ------------------------------------------------------------


@dataclass
class Rig:
    """A running usagebot between its own sandbox and Slack stand-in."""

    sandbox: SandboxServer
    standin: SlackStandIn
    bot: Usagebot
    url: str  # usagebot's /slack/events
    people: list[str]  # Slack user ids the stand-in knows, all full members


def slack_people(org: SyntheticOrg, count: int) -> dict[str, dict[str, Any]]:
    """U00, U01, ...: full members whose Slack emails are people of the synthetic org."""
    # Real emails of the org, so that "/usage me" finds each person in the user report.
    return {
        f"U{i:02d}": {
            "id": f"U{i:02d}",
            "name": user.email.split("@")[0],
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "deleted": False,
            "profile": {"email": user.email, "real_name": user.name},
        }
        for i, user in enumerate(org.users[:count])
    }


@contextlib.contextmanager
def rig(
    config: SandboxConfig,
    *,
    limiter: Callable[[str], TokenBucket],
    people: int = 20,
    **settings: object,
) -> Iterator[Rig]:
    """Start sandbox, stand-in and bot (``limiter(sandbox_url)`` gates the bot's client)."""
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer(config, host=LOOPBACK, port=0))
        standin = stack.enter_context(
            SlackStandIn(
                bot_token=BOT_TOKEN,
                users=slack_people(sandbox.org, people),
                member_channels={CHANNEL},
                clock=CLOCK,
                host=LOOPBACK,
            )
        )
        values: dict[str, object] = {
            "browserstack_username": USERNAME,
            "browserstack_access_key": ACCESS_KEY,
            "browserstack_api_url": sandbox.url,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": standin.api_url,
            "database_url": f"sqlite:///{workdir}/bot.sqlite",
            **settings,
        }
        client = BrowserStackClient(
            base_url=sandbox.url,
            username=USERNAME,
            access_key=ACCESS_KEY,
            rate_limiter=limiter(sandbox.url),
        )
        stack.callback(client.close)  # the bot closes it too, but it may fail to start
        bot = Usagebot(Settings(**values), browserstack=client)  # type: ignore[arg-type]
        bot.start()
        stack.callback(bot.stop)
        http = HttpServer(bot, host=LOOPBACK, port=0).start()
        stack.callback(http.stop)
        yield Rig(sandbox, standin, bot, f"{http.url}/slack/events", sorted(standin.users))


def real_limit(sandbox_url: str) -> TokenBucket:
    """BrowserStack's own limit, process-wide per account, as the bot builds it."""
    return shared_rate_limiter(account=(sandbox_url, USERNAME), burst=5, per_minute=15)


def no_limit(_sandbox_url: str) -> TokenBucket:
    return TokenBucket(burst=1000, per_minute=600_000)


def sandbox_config(**overrides: object) -> SandboxConfig:
    config = SandboxConfig(
        username=USERNAME,
        access_key=ACCESS_KEY,
        users=2000,
        seed=42,
        rate_limit=True,
        rate_burst=5,
        rate_per_minute=15.0,
        queued_seconds=1.0,
        processing_seconds=2.0,
        clock=CLOCK,
    )
    return replace(config, **overrides)


def command(
    standin: SlackStandIn, http: httpx.Client, url: str, text: str, *, user: str
) -> tuple[float, httpx.Response]:
    """Send ``/usage text`` as Slack does; return the seconds until the ack, and the ack.

    Only the POST is timed: the response_url, the body and its signature are made before, and the
    ack is shown at the stand-in after (which releases the bot's posts to that response_url).
    """
    response_url = standin.new_response_url(channel=CHANNEL, user=user, awaiting_ack=True)
    body = form_body(
        slash_command(
            text,
            user_id=user,
            channel_id=CHANNEL,
            response_url=response_url,
            team_id=standin.team_id,
        )
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
    ack: dict[str, Any] | None = None
    try:
        started = time.perf_counter()
        response = http.post(url, content=body, headers=headers)
        seconds = time.perf_counter() - started
        if response.status_code == 200 and response.content.strip():
            ack = response.json()
    finally:
        standin.record_ack(response_url, ack)
    return seconds, response


def placeholders(standin: SlackStandIn, users: Sequence[str]) -> int:
    """Messages the ``users`` see in the channel that still wait for their answer."""
    return sum(
        HOURGLASS in str(m.blocks) for user in users for m in standin.ephemeral(CHANNEL, user)
    )


def answered(standin: SlackStandIn, users: Sequence[str]) -> int:
    """Messages the ``users`` see in the channel that are final (answers, refusals, errors)."""
    return sum(
        HOURGLASS not in str(m.blocks) for user in users for m in standin.ephemeral(CHANNEL, user)
    )


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- ack latency -------------------------------------------------------------------------------


class _BareBot:
    """Just enough of a Usagebot for ``HttpServer``: a Bolt app and a health check."""

    def __init__(self, app: App) -> None:
        self.app = app

    def health(self) -> dict[str, object]:
        return {"ok": True}


def bare_bolt(standin: SlackStandIn, ack_payload: dict[str, Any]) -> App:
    """A Bolt app with usagebot's options (see ``bot.slack.app``) that acks with a fixed message."""
    app = App(
        # The constructor calls auth.test: against the stand-in, as usagebot's does.
        client=WebClient(
            token=BOT_TOKEN, base_url=standin.api_url, retry_handlers=retry_handlers(), timeout=15
        ),
        signing_secret=SIGNING_SECRET,
        request_verification_enabled=True,
        token_verification_enabled=True,
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bare"),
        raise_error_for_unhandled_request=False,
    )

    @app.command("/usage")
    def _ack(ack: Ack) -> None:
        ack(**ack_payload)

    return app


@contextlib.contextmanager
def bare_bolt_server(standin: SlackStandIn) -> Iterator[str]:
    """Serve ``bare_bolt`` as usagebot is served (``HttpServer``); yield its /slack/events URL."""
    # Its ack: usagebot's own placeholder for "teams", so that both send as many bytes.
    static = views.placeholder_message(
        title="Generating the report of all teams",
        period_label="the last 14 days",
        status="starting",
        elapsed=None,
        request_id="0" * 32,
    ).payload()
    bot = cast("Usagebot", _BareBot(bare_bolt(standin, static)))
    server = HttpServer(bot, host=LOOPBACK, port=0).start()
    try:
        yield f"{server.url}/slack/events"
    finally:
        server.stop()


def bench_ack(rounds: int, warmup: int, seed: int) -> None:
    config = sandbox_config(rate_limit=False, queued_seconds=0.05, processing_seconds=0.15)
    settings = {"report_poll_initial_seconds": 0.1, "report_poll_max_seconds": 0.4}
    names = ("usagebot", "bare Bolt")
    samples: dict[str, dict[str, list[float]]] = {n: {f: [] for f in ACK_FORMS} for n in names}
    failures = 0
    rng = random.Random(seed)
    started = time.perf_counter()
    with (
        rig(config, limiter=no_limit, people=4, **settings) as bot,
        bare_bolt_server(bot.standin) as bare_url,
        httpx.Client(timeout=10) as to_bot,
        httpx.Client(timeout=10) as to_bare,
    ):
        targets = {"usagebot": (to_bot, bot.url), "bare Bolt": (to_bare, bare_url)}
        turn = itertools.count()
        for round_no in range(warmup + rounds):
            # A new date each round: those two commands need a new BrowserStack job.
            day = (TODAY - dt.timedelta(days=30 + round_no)).isoformat()
            forms = list(ACK_FORMS)
            rng.shuffle(forms)
            for form in forms:
                text = form.format(day=day)
                # The bare app's acks are placeholders never replaced: shown to someone else.
                users = {"usagebot": bot.people[round_no % len(bot.people)], "bare Bolt": BARE}
                # ABBA: each app goes first half the time, right after the other's work.
                order = names if next(turn) % 2 == 0 else names[::-1]
                for name in order:
                    http, url = targets[name]
                    seconds, response = command(bot.standin, http, url, text, user=users[name])
                    failures += response.status_code != 200
                    if round_no >= warmup:
                        samples[name][form].append(seconds)
            # Let this round's answers arrive, so rounds do not pile up on each other.
            bot.standin.wait_for(lambda s: not placeholders(s, bot.people), timeout=60)
            bot.standin.reset()
        jobs = bot.sandbox.stats.jobs_created
    elapsed = time.perf_counter() - started

    per_app = {n: [x for form in ACK_FORMS for x in samples[n][form]] for n in names}
    count = len(per_app["usagebot"])
    print(
        f"ack latency: {rounds} rounds of {len(ACK_FORMS)} commands after {warmup} warm-up rounds,"
        f" {count} acks per app, {jobs} BrowserStack jobs, {failures} non-200, {elapsed:.0f}s"
    )
    print(f"{'command':<22}{'usagebot p50/p99 ms':>22}{'bare p50/p99 ms':>18}{'ratio p50/p99':>16}")
    rows = [("all", per_app["usagebot"], per_app["bare Bolt"])]
    rows += [
        (form.format(day="D"), samples[names[0]][form], samples[names[1]][form])
        for form in ACK_FORMS
    ]
    for label, ours, bare_times in rows:
        p50, p99 = percentile(ours, 50), percentile(ours, 99)
        b50, b99 = percentile(bare_times, 50), percentile(bare_times, 99)
        print(
            f"{label:<22}{ms(p50):>12} / {ms(p99):>6}{ms(b50):>9} / {ms(b99):>6}"
            f"{p50 / b50:>9.2f}x / {p99 / b99:.2f}x"
        )


# --- a burst of commands under the real rate limit ------------------------------------------------


def is_final(call: Call) -> bool:
    """A post to a response_url that carries an answer (not a placeholder, not a deletion)."""
    blocks = call.args.get("blocks")
    return call.method == "response_url" and bool(blocks) and HOURGLASS not in str(blocks)


def morning(
    org: SyntheticOrg, people: Sequence[str], count: int, rng: random.Random
) -> list[tuple[str, str]]:
    """``count`` (user, command text) pairs, as many from each person, in a shuffled order."""
    verbs = rng.choices(list(BURST_VERBS), weights=list(BURST_VERBS.values()), k=count)
    periods = rng.choices(list(BURST_PERIODS), weights=list(BURST_PERIODS.values()), k=count)
    commands = []
    for i, (verb, period) in enumerate(zip(verbs, periods, strict=True)):
        if verb == "team":
            text = f'team "{rng.choice(BURST_TEAMS)}"'
        elif verb == "top":
            text = rng.choice(("top", "top 5", "top 20"))
        elif verb == "user":
            text = f"user {rng.choice(org.users[:500]).email}"
        else:
            text = verb
        commands.append((people[i % len(people)], text + period))
    rng.shuffle(commands)
    return commands


def bench_burst(count: int, people: int, poll: tuple[float, float], seed: int) -> None:
    settings = {"report_poll_initial_seconds": poll[0], "report_poll_max_seconds": poll[1]}
    with (
        rig(sandbox_config(), limiter=real_limit, people=people, **settings) as bot,
        httpx.Client(timeout=30) as http,
    ):
        commands = morning(bot.sandbox.org, bot.people, count, random.Random(seed))

        def burst(url: str, *, bare: bool) -> list[tuple[float, httpx.Response]]:
            def send(item: tuple[str, str]) -> tuple[float, httpx.Response]:
                user, text = item
                return command(bot.standin, http, url, text, user=BARE if bare else user)

            with ThreadPoolExecutor(people) as pool:
                return list(pool.map(send, commands))

        # For scale, the same burst at a bare Bolt app first, while usagebot is still idle.
        with bare_bolt_server(bot.standin) as bare_url:
            bare_acks = [seconds for seconds, _ in burst(bare_url, bare=True)]
        started = CLOCK()
        acks = burst(bot.url, bare=False)
        # Bounded: the slowest answer needs a few jobs' worth of rate-limited requests.
        bot.standin.wait_for(lambda s: answered(s, bot.people) >= count, timeout=600)
        finals = [c for c in bot.standin.calls_to("response_url") if is_final(c)]
        warnings = sum(":warning:" in str(c.args["blocks"]) for c in finals)
        wall = max(c.at for c in finals) - started
        stats = bot.sandbox.stats
        waiting = placeholders(bot.standin, bot.people)
        extra = answered(bot.standin, bot.people) - count
    ack_times = [seconds for seconds, _ in acks]
    non_200 = sum(response.status_code != 200 for _, response in acks)
    print(
        f"burst: {count} commands from {people} people at once, {len(set(commands))} distinct,"
        f" sandbox jobs {config_line(sandbox_config())}, polls {poll[0]:g} s up to {poll[1]:g} s"
    )
    print(
        f"  answered             {len(finals)} of {count}, {warnings} of them errors"
        f" ({waiting} still waiting, {extra} answered twice)"
    )
    print(f"  wall time            {wall:.1f} s from the first command to the last answer")
    print(f"  BrowserStack jobs    {stats.jobs_created}")
    print(f"  requests             {stats.requests} {dict(sorted(stats.by_status.items()))}")
    print(f"  requests / command   {stats.requests / count:.3f}   (target: under 0.2)")
    print(f"  429s                 {stats.rate_limited}   (target: 0)")
    print(
        f"  ack p50 / p99        {ms(percentile(ack_times, 50))} / {ms(percentile(ack_times, 99))}"
        f" ms ({non_200} non-200); the same burst at bare Bolt: {ms(percentile(bare_acks, 50))}"
        f" / {ms(percentile(bare_acks, 99))} ms"
    )


def config_line(config: SandboxConfig) -> str:
    return f"{config.queued_seconds:g} s queued + {config.processing_seconds:g} s processing"


# --- from job completion to the answer ---------------------------------------------------------


def schedule_wait(schedule: PollSchedule, job_seconds: float, limit: int = 1000) -> float:
    """How long after completion the first status check comes, by the poll schedule alone."""
    # The first check is ``delay(0)`` after the job is created, each next one ``delay(n)`` later.
    at = 0.0
    for polls in range(limit):
        at += schedule.delay(polls)
        if at >= job_seconds:
            return at - job_seconds
    raise ValueError(f"no poll within {limit} checks of a {job_seconds} s job")


def completed_at(job: Job, config: SandboxConfig) -> float:
    """When the sandbox's job store starts answering ``completed`` for ``job`` (its clock)."""
    return job.created_at + config.queued_seconds + config.processing_seconds


def bench_latency(samples: Sequence[tuple[str, float]], poll: tuple[float, float]) -> None:
    schedule = PollSchedule(initial=poll[0], maximum=poll[1])
    settings = {"report_poll_initial_seconds": poll[0], "report_poll_max_seconds": poll[1]}
    print(
        f"job completion -> answer: {len(samples)} uncached commands, each on a fresh bot;"
        f" polls after {poll[0]:g} s, x{schedule.factor:g} each time, up to every {poll[1]:g} s"
    )
    print(
        f"{'command':<34}{'job s':>7}{'checks':>8}{'schedule s':>12}{'measured s':>12}"
        f"{'the rest s':>12}"
    )
    lags = []
    for text, job_seconds in samples:
        config = sandbox_config(queued_seconds=1.0, processing_seconds=job_seconds - 1.0)
        with (
            rig(config, limiter=real_limit, people=1, **settings) as bot,
            httpx.Client(timeout=30) as http,
        ):
            command(bot.standin, http, bot.url, text, user=bot.people[0])
            bot.standin.wait_for(lambda s: answered(s, bot.people) >= 1, timeout=job_seconds + 60)
            [job] = bot.sandbox.jobs.all()
            answer = min(c.at for c in bot.standin.calls_to("response_url") if is_final(c))
            lag = answer - completed_at(job, config)
            checks = bot.sandbox.stats.requests - 2  # less the create and the fetch
        lags.append(lag)
        # The rest: the status check itself, fetching and decoding the report, composing the
        # answer and posting it to the response_url.
        wait = schedule_wait(schedule, job_seconds)
        print(f"{text:<34}{job_seconds:>7g}{checks:>8}{wait:>12.2f}{lag:>12.2f}{lag - wait:>12.2f}")
    print(f"p50 {statistics.median(lags):.2f} s, max {max(lags):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ack", "burst", "latency"))
    parser.add_argument("--rounds", type=int, default=150, help="ack: measured rounds")
    parser.add_argument("--warmup", type=int, default=5, help="ack: rounds not measured")
    parser.add_argument("--commands", type=int, default=100, help="burst: commands")
    parser.add_argument("--people", type=int, default=20, help="burst: people (and threads)")
    parser.add_argument("--poll-initial", type=float, default=1.0, help="burst, latency: seconds")
    parser.add_argument("--poll-max", type=float, default=4.0, help="burst, latency: seconds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.rounds < 2 or args.warmup < 0 or args.warmup + args.rounds > 300:
        # Each round asks "since" a day further back, and a period may not exceed a year.
        parser.error("--rounds must be at least 2, and --warmup + --rounds at most 300")
    if args.commands < 2 or args.people < 1:
        parser.error("--commands must be at least 2 and --people at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    poll = (args.poll_initial, args.poll_max)
    print(f"Python {sys.version.split()[0]}, {TODAY}, all on {LOOPBACK}")
    if args.only in (None, "ack"):
        bench_ack(args.rounds, args.warmup, args.seed)
    if args.only in (None, "burst"):
        bench_burst(args.commands, args.people, poll, args.seed)
    if args.only in (None, "latency"):
        bench_latency(LATENCY_SAMPLES, poll)


if __name__ == "__main__":
    main()
