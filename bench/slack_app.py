"""The Slack app end to end on loopback: ack latency, BrowserStack requests per command, answer lag.

    .venv/bin/python bench/slack_app.py [--only ack|burst|latency] [--rounds 150] [--users 2000]

usagebot is built as the tests and ``make demo`` build it, by ``bot.stack.LoopbackStack`` on one
``SystemClock`` made for this run, and nothing is patched: the BrowserStack sandbox, the Slack
stand-in and usagebot itself (``Usagebot``: Bolt, the work loop and an SQLite database in a
temporary folder, behind ``HttpServer``: its WSGI server, the signature check and Bolt's WSGI
adapter) share this script's process, the "usagebot process". Commands are signed slash commands
POSTed over HTTP on 127.0.0.1, as Slack sends them. Waiting for answers is on the stand-in's
condition variable (``wait_for``), never a sleep.

A baseline runs in a process of its own, so that it does not share the GIL with the usagebot
process and cannot hide that process's load: the bare Bolt app is the "baseline process". The acks
of both are sent and timed by a third, the "load generator" process, so that neither app's client
side runs beside usagebot's background work either. Each figure names the process it comes from.

ack      ``/usage`` commands, one at a time, each sent both to usagebot and to a bare Bolt app that
         acks it with a static placeholder of the same size, served the same way (``HttpServer``
         with its signature check, the same ``App`` options and Web API client as
         ``bot.slack.app``). The two alternate command by command (ABBA) so that machine noise
         hits both alike. A round is six commands: ``help``, ``teams``, ``team Acme team`` and
         ``top 5`` (answered from the cache after the first round), and ``idle since D`` and
         ``teams since D`` with a new date D each round (a new BrowserStack job each). Between
         rounds it waits for every answer. Here the sandbox does not rate-limit and jobs are
         short: the point is the work after the ack, not BrowserStack.
burst    100 commands from 20 people at once (20 threads of the load generator): ``teams``,
         ``team <name>``, ``idle``, ``top``, ``me``, ``user <email>`` over three periods, as on a
         busy morning, until every one is answered. The sandbox enforces BrowserStack's limit (a
         burst of 5, then 15 a minute) and so does the bot's client (``shared_rate_limiter``, from
         the settings); jobs take 1 s queued + 2 s processing, the bot polls after 1 s, then up to
         every 4 s. Counted at the sandbox: requests and 429s. For scale, the acks of the same
         burst sent to the bare Bolt app just before (while usagebot is idle) are printed too.
latency  A handful of uncached commands, one at a time (``stack.driver``), each on a fresh stack (so
         that neither the cache nor the rate limit of an earlier sample plays a part), with jobs
         of different lengths so that completion falls at different points of the poll schedule.
         Measured: from the moment the sandbox's job store says the job is ``completed`` (the
         later of two for ``team`` and ``teams``, which read both reports) to the
         status check that finds it so (read off the sandbox's request log) and to the final
         answer's arrival at the stand-in, next to the wait the poll schedule alone implies. The
         work loop runs a due check at its next tick (``--tick``), and each next check is due a
         delay after the last one ran, so the ticks move the checks later than the schedule.

Targets (the Slack app issue): ack p99 within 1.2x of the bare Bolt app; under 0.2 BrowserStack
requests per answered command in the burst; zero 429s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.browserstack.jobs import PollSchedule
from bot.browserstack.sandbox import SandboxConfig, SyntheticOrg
from bot.clock import Clock, SystemClock
from bot.server import HttpServer, RequestVerifier, freeze_startup_objects
from bot.slack import views
from bot.slack.delivery import retry_handlers
from bot.slack.standin import Call, SlackStandIn, form_body, sign, slash_command
from bot.stack import BOT_TOKEN, SIGNING_SECRET, LoopbackStack, slack_user

if TYPE_CHECKING:
    from bot.browserstack.sandbox.jobs import Job
    from bot.runtime import Usagebot

LOOPBACK = "127.0.0.1"
CHANNEL = "C0BENCH"
BARE = "U0BARE"  # who sees the bare Bolt app's acks
HOURGLASS = ":hourglass"  # in a placeholder's blocks; never in an answer's
FORM = "application/x-www-form-urlencoded"
# Fresh interpreters for the baseline and the load generator: nothing of this process (its
# threads, its GIL, its stand-ins) is inherited.
SPAWN = multiprocessing.get_context("spawn")
# BrowserStack's own limit, and one so high that it never holds a request back.
REAL_LIMIT = {"browserstack_rate_burst": 5, "browserstack_rate_per_minute": 15.0}
NO_LIMIT = {"browserstack_rate_burst": 1000, "browserstack_rate_per_minute": 600_000.0}

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

Prepared = tuple[str, bytes, dict[str, str]]  # a POST the load generator sends: url, body, headers
Sent = tuple[int, float, int, bytes]  # what it tells back: index, seconds, status, response body


# --- usagebot and its surroundings (the usagebot process) ------------------------------------


def slack_people(org: SyntheticOrg, count: int) -> dict[str, dict[str, Any]]:
    """U00, U01, ...: full members whose Slack emails are people of the synthetic org."""
    # Real emails of the org, so that "/usage me" finds each person in the user report.
    return {
        f"U{i:02d}": slack_user(
            f"U{i:02d}", name=user.email.split("@")[0], email=user.email, real_name=user.name
        )
        for i, user in enumerate(org.users[:count])
    }


def sandbox_config(
    *,
    users: int = 2000,
    rate_limit: bool = True,
    queued_seconds: float = 1.0,
    processing_seconds: float = 2.0,
) -> SandboxConfig:
    """The sandbox's shape (``users`` members); ``LoopbackStack`` sets its clock and credentials."""
    return SandboxConfig(
        users=users,
        seed=42,
        rate_limit=rate_limit,
        rate_burst=5,
        rate_per_minute=15.0,
        queued_seconds=queued_seconds,
        processing_seconds=processing_seconds,
    )


@contextlib.contextmanager
def loopback(
    clock: Clock, config: SandboxConfig, *, people: int, settings: Mapping[str, object]
) -> Iterator[LoopbackStack]:
    """A running stack on a fresh SQLite file, whose Slack knows ``people`` of the org."""
    # The same org as the sandbox's (same seed, size and day), for the people's emails.
    org = SyntheticOrg(config.seed, config.users, today=clock.today())
    with (
        tempfile.TemporaryDirectory() as workdir,
        LoopbackStack(
            clock=clock,
            database=Path(workdir) / "bot.sqlite",
            sandbox=config,
            users=slack_people(org, people),
            member_channels={CHANNEL},
            settings=settings,
        ) as stack,
    ):
        freeze_startup_objects()  # as ``serve`` does once its app is built
        yield stack


def events_url(stack: LoopbackStack) -> str:
    return f"{stack.http.url}/slack/events"


def prepare(standin: SlackStandIn, url: str, text: str, *, user: str) -> tuple[str, Prepared]:
    """``/usage text`` as Slack sends it, signed on the stand-in's clock; and its response_url."""
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
    signed = sign(body, SIGNING_SECRET, timestamp=standin.clock.timestamp())
    return response_url, (url, body, {"Content-Type": FORM, **signed})


def show_ack(standin: SlackStandIn, response_url: str, status: int, content: bytes) -> None:
    """Show the ack as Slack does (which releases the bot's posts to that response_url)."""
    ack = json.loads(content) if status == 200 and content.strip() else None
    standin.record_ack(response_url, ack if isinstance(ack, dict) else None)


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


# --- the baseline process: a bare Bolt app ---------------------------------------------------


class _BareBot:
    """Just enough of a Usagebot for ``HttpServer``: a Bolt app, a health check, a verifier."""

    def __init__(self, app: App, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    def health(self) -> dict[str, object]:
        return {"ok": True}

    def request_verifier(self) -> RequestVerifier:
        return RequestVerifier(SIGNING_SECRET, clock=self.clock)


def bare_bolt(api_url: str, ack_payload: dict[str, Any]) -> App:
    """A Bolt app with usagebot's options (see ``bot.slack.app``) that acks with a fixed message."""
    app = App(
        client=WebClient(
            token=BOT_TOKEN, base_url=api_url, retry_handlers=retry_handlers(), timeout=15
        ),
        request_verification_enabled=False,  # HttpServer verifies, as it does for usagebot
        token_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    @app.command("/usage")
    def _ack(ack: Ack) -> None:
        ack(**ack_payload)

    return app


def run_baseline(conn: Connection, api_url: str) -> None:
    """The baseline process: serve ``bare_bolt`` until told to stop; first say (pid, URL)."""
    logging.basicConfig(
        level=logging.WARNING, format="baseline %(levelname)s %(name)s: %(message)s"
    )
    # Its ack: usagebot's own placeholder for "teams", so that both send as many bytes.
    static = views.placeholder_message(
        title="Generating the report of all teams",
        period_label="the last 14 days",
        status="starting",
        elapsed=None,
        request_id="0" * 32,
    ).payload()
    # This process's one clock, for the signature check: the real time, as the usagebot process's.
    bot = cast("Usagebot", _BareBot(bare_bolt(api_url, static), SystemClock()))
    server = HttpServer(bot, host=LOOPBACK, port=0).start()
    freeze_startup_objects()  # as serve does, and as ``loopback`` does for usagebot
    try:
        conn.send((os.getpid(), f"{server.url}/slack/events"))
        with contextlib.suppress(EOFError):
            conn.recv()
    finally:
        server.stop()


# --- the load generator process --------------------------------------------------------------


def run_generator(conn: Connection) -> None:
    """The load generator: POST each batch it is sent, ``concurrency`` at a time, timing each.

    Each result goes back as soon as it is in (the usagebot process shows the ack at the stand-in
    then). Only the POST is timed: bodies and signatures come ready-made.
    """
    logging.basicConfig(
        level=logging.WARNING, format="generator %(levelname)s %(name)s: %(message)s"
    )
    clients: dict[str, httpx.Client] = {}
    lock = threading.Lock()

    def post(index: int, request: Prepared) -> None:
        url, body, headers = request
        started = time.perf_counter()
        try:
            response = clients[url].post(url, content=body, headers=headers)
            sent: Sent = (
                index,
                time.perf_counter() - started,
                response.status_code,
                response.content,
            )
        except httpx.HTTPError as error:
            sent = (index, time.perf_counter() - started, -1, repr(error).encode())
        with lock:
            conn.send(sent)

    # What this process times must be the bot's, not its own collector's pauses (it imported
    # the bench and the bot: a full collection took 55-65 ms in ``bench/cached_answers.py``).
    freeze_startup_objects()
    conn.send(os.getpid())
    try:
        while (batch := conn.recv()) is not None:
            concurrency, requests = batch
            for url, _, _ in requests:
                if url not in clients:
                    clients[url] = httpx.Client(timeout=30)
            if concurrency == 1:
                for index, request in enumerate(requests):
                    post(index, request)
                continue
            with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
                list(pool.map(post, range(len(requests)), requests))
    except EOFError:
        pass
    finally:
        for client in clients.values():
            client.close()


@contextlib.contextmanager
def process(target: Callable[..., None], *args: object) -> Iterator[tuple[Connection, Any]]:
    """Run ``target(conn, *args)`` in a fresh process; yield the pipe and its first message."""
    here, there = SPAWN.Pipe()
    child = SPAWN.Process(target=target, args=(there, *args), daemon=True)
    child.start()
    there.close()
    try:
        yield here, here.recv()
    finally:
        with contextlib.suppress(OSError):
            here.send(None)
        here.close()
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()


@dataclass
class Peers:
    """The processes around the usagebot process: the baseline and the load generator."""

    conn: Connection  # to the load generator
    generator_pid: int
    baseline_pid: int
    baseline_url: str

    def send(self, requests: Sequence[Prepared], *, concurrency: int = 1) -> Iterator[Sent]:
        """Have the load generator POST ``requests``; each result as soon as it is in."""
        self.conn.send((concurrency, list(requests)))
        for _ in requests:
            yield self.conn.recv()

    def describe(self) -> str:
        return (
            f"usagebot pid {os.getpid()} (with the sandbox and the Slack stand-in),"
            f" bare Bolt pid {self.baseline_pid} (alone),"
            f" load generator pid {self.generator_pid} (sends and times every ack)"
        )


@contextlib.contextmanager
def peers(standin: SlackStandIn) -> Iterator[Peers]:
    with (
        process(run_baseline, standin.api_url) as (_, (baseline_pid, baseline_url)),
        process(run_generator) as (conn, generator_pid),
    ):
        yield Peers(conn, generator_pid, baseline_pid, baseline_url)


def commands(
    peers: Peers,
    standin: SlackStandIn,
    sends: Sequence[tuple[str, str, str]],
    *,
    concurrency: int = 1,
) -> list[tuple[float, int]]:
    """POST ``/usage text`` for each (url, text, user) from the load generator; (seconds, status).

    Each ack is shown at the stand-in as soon as it is in, as Slack shows it.
    """
    prepared = [prepare(standin, url, text, user=user) for url, text, user in sends]
    results: list[tuple[float, int]] = [(0.0, 0)] * len(sends)
    for index, seconds, status, content in peers.send(
        [request for _, request in prepared], concurrency=concurrency
    ):
        show_ack(standin, prepared[index][0], status, content)
        results[index] = (seconds, status)
    return results


# --- ack latency -------------------------------------------------------------------------------


def bench_ack(clock: Clock, rounds: int, warmup: int, seed: int, tick: float, members: int) -> None:
    config = sandbox_config(
        users=members, rate_limit=False, queued_seconds=0.05, processing_seconds=0.15
    )
    settings = {
        "report_poll_initial_seconds": 0.1,
        "report_poll_max_seconds": 0.4,
        "scheduler_tick_seconds": tick,
        **NO_LIMIT,
    }
    names = ("usagebot", "bare Bolt")
    samples: dict[str, dict[str, list[float]]] = {n: {f: [] for f in ACK_FORMS} for n in names}
    failures = 0
    rng = random.Random(seed)
    started = time.perf_counter()
    with (
        loopback(clock, config, people=4, settings=settings) as stack,
        peers(stack.standin) as around,
    ):
        people = sorted(stack.standin.users)
        targets = {"usagebot": events_url(stack), "bare Bolt": around.baseline_url}
        turn = itertools.count()
        for round_no in range(warmup + rounds):
            # A new date each round: those two commands need a new BrowserStack job.
            day = (clock.today() - dt.timedelta(days=30 + round_no)).isoformat()
            forms = list(ACK_FORMS)
            rng.shuffle(forms)
            for form in forms:
                text = form.format(day=day)
                # The bare app's acks are placeholders never replaced: shown to someone else.
                users = {"usagebot": people[round_no % len(people)], "bare Bolt": BARE}
                # ABBA: each app goes first half the time, right after the other's work.
                order = names if next(turn) % 2 == 0 else names[::-1]
                for name in order:
                    [(seconds, status)] = commands(
                        around, stack.standin, [(targets[name], text, users[name])]
                    )
                    failures += status != 200
                    if round_no >= warmup:
                        samples[name][form].append(seconds)
            # Let this round's answers arrive, so rounds do not pile up on each other.
            stack.standin.wait_for(lambda s: not placeholders(s, people), timeout=60)
            stack.standin.reset()
        jobs = stack.sandbox.stats.jobs_created
        where = around.describe()
    elapsed = time.perf_counter() - started

    per_app = {n: [x for form in ACK_FORMS for x in samples[n][form]] for n in names}
    count = len(per_app["usagebot"])
    print(
        f"ack latency: {rounds} rounds of {len(ACK_FORMS)} commands after {warmup} warm-up rounds,"
        f" {count} acks per app, {jobs} BrowserStack jobs, {failures} non-200, {elapsed:.0f}s"
    )
    print(f"  processes: {where}")
    print(f"{'command':<22}{'usagebot p50/p99 ms':>22}{'bare p50/p99 ms':>18}{'ratio p50/p99':>16}")
    rows = [("all", per_app["usagebot"], per_app["bare Bolt"])]
    rows += [
        (form.format(day="D"), samples[names[0]][form], samples[names[1]][form])
        for form in ACK_FORMS
    ]
    for label, ours, bare_times in rows:
        p50, p99 = percentile(ours, 50), percentile(ours, 99)
        b50, b99 = percentile(bare_times, 50), percentile(bare_times, 99)
        target = "   (target: p99 within 1.20x)" if label == "all" else ""
        print(
            f"{label:<22}{ms(p50):>12} / {ms(p99):>6}{ms(b50):>9} / {ms(b99):>6}"
            f"{p50 / b50:>9.2f}x / {p99 / b99:.2f}x{target}"
        )


# --- a burst of commands under the real rate limit ------------------------------------------------


def is_final(call: Call) -> bool:
    """A post to a response_url that carries an answer (not a placeholder, not a deletion)."""
    blocks = call.args.get("blocks")
    return call.method == "response_url" and bool(blocks) and HOURGLASS not in str(blocks)


def is_error(call: Call) -> bool:
    """An error message (templates/error.json.j2: no header, a warning first), not an answer
    that flags something with a warning of its own (parallels full, usage without access)."""
    first = call.args["blocks"][0]
    text: str = first.get("text", {}).get("text", "")
    return first["type"] != "header" and text.startswith(":warning:")


def morning(
    org: SyntheticOrg, people: Sequence[str], count: int, rng: random.Random
) -> list[tuple[str, str]]:
    """``count`` (user, command text) pairs, as many from each person, in a shuffled order."""
    verbs = rng.choices(list(BURST_VERBS), weights=list(BURST_VERBS.values()), k=count)
    periods = rng.choices(list(BURST_PERIODS), weights=list(BURST_PERIODS.values()), k=count)
    pairs = []
    for i, (verb, period) in enumerate(zip(verbs, periods, strict=True)):
        if verb == "team":
            text = f'team "{rng.choice(BURST_TEAMS)}"'
        elif verb == "top":
            text = rng.choice(("top", "top 5", "top 20"))
        elif verb == "user":
            text = f"user {rng.choice(org.users[:500]).email}"
        else:
            text = verb
        pairs.append((people[i % len(people)], text + period))
    rng.shuffle(pairs)
    return pairs


def bench_burst(
    clock: Clock,
    count: int,
    people: int,
    poll: tuple[float, float],
    seed: int,
    tick: float,
    members: int,
) -> None:
    settings = {
        "report_poll_initial_seconds": poll[0],
        "report_poll_max_seconds": poll[1],
        "scheduler_tick_seconds": tick,
        **REAL_LIMIT,
    }
    config = sandbox_config(users=members)
    with loopback(clock, config, people=people, settings=settings) as stack:
        standin, url = stack.standin, events_url(stack)
        who = sorted(standin.users)
        burst = morning(stack.sandbox.org, who, count, random.Random(seed))
        # For scale, the same burst at a bare Bolt app first, while usagebot is still idle.
        with peers(standin) as around:
            bare = commands(
                around,
                standin,
                [(around.baseline_url, text, BARE) for _, text in burst],
                concurrency=people,
            )
            started = clock.timestamp()
            acks = commands(
                around, standin, [(url, text, user) for user, text in burst], concurrency=people
            )
            where = around.describe()
        # Bounded: the slowest answer needs a few jobs' worth of rate-limited requests.
        standin.wait_for(lambda s: answered(s, who) >= count, timeout=600)
        finals = [c for c in standin.calls_to("response_url") if is_final(c)]
        warnings = sum(is_error(c) for c in finals)
        wall = max(c.at for c in finals) - started
        stats = stack.sandbox.stats
        waiting = placeholders(standin, who)
        extra = answered(standin, who) - count
    ack_times = [seconds for seconds, _ in acks]
    bare_acks = [seconds for seconds, _ in bare]
    non_200 = sum(status != 200 for _, status in acks)
    print(
        f"burst: {count} commands from {people} people at once, {len(set(burst))} distinct,"
        f" sandbox jobs {config_line(config)}, polls {poll[0]:g} s up to {poll[1]:g} s,"
        f" work loop tick {tick:g} s"
    )
    print(f"  processes: {where}")
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
        f"  ack p50 / p99        usagebot {ms(percentile(ack_times, 50))} /"
        f" {ms(percentile(ack_times, 99))} ms ({non_200} non-200); the same burst at bare Bolt"
        f" (its own process, before): {ms(percentile(bare_acks, 50))} /"
        f" {ms(percentile(bare_acks, 99))} ms   (no target)"
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


def completed_at(job: Job, config: SandboxConfig, clock: Clock) -> float:
    """When the sandbox's job store starts answering ``completed`` for ``job``, on ``clock``.

    The job store reads the sandbox's monotonic timer; the stand-in stamps calls with the clock.
    """
    done = job.created_at + config.queued_seconds + config.processing_seconds
    return clock.timestamp() - (config.timer() - done)


class StatusChecks(logging.Handler):
    """When the sandbox answered each job status check, on the clock (read off its request log).

    ``bot.loopback`` logs every request a loopback server answers (at debug level, as it sends
    the status line); nothing is patched.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__(logging.DEBUG)
        self.clock = clock
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("BrowserStack sandbox") and "/status " in message:
            self.times.append(self.clock.timestamp())

    @contextlib.contextmanager
    def listening(self) -> Iterator[StatusChecks]:
        logger = logging.getLogger("bot.loopback")
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # its debug lines are for this handler, not the console
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


@dataclass(frozen=True)
class Lag:
    """One command's way from job completion to its answer, in seconds on the clock."""

    checks: int  # status checks the bot made
    checked: float  # completion -> the check that found the job completed
    answered: float  # completion -> the answer's arrival at the stand-in


def one_answer(
    clock: Clock, text: str, job_seconds: float, settings: Mapping[str, object], members: int
) -> Lag:
    """On a fresh stack, ``/usage text`` once, with a job of ``job_seconds``."""
    config = sandbox_config(users=members, queued_seconds=1.0, processing_seconds=job_seconds - 1.0)
    with (
        StatusChecks(clock).listening() as checks,
        loopback(clock, config, people=1, settings=settings) as stack,
    ):
        who = sorted(stack.standin.users)
        stack.driver.command(text, user=who[0], channel=CHANNEL)
        stack.standin.wait_for(lambda s: answered(s, who) >= 1, timeout=job_seconds + 60)
        # ``team`` and ``teams`` read two reports (two jobs at once): the answer can only
        # follow the last of them.
        jobs = stack.sandbox.jobs.all()
        answer = min(c.at for c in stack.standin.calls_to("response_url") if is_final(c))
        completed = max(completed_at(job, stack.sandbox.config, clock) for job in jobs)
    return Lag(len(checks.times), max(checks.times) - completed, answer - completed)


def bench_latency(
    clock: Clock,
    samples: Sequence[tuple[str, float]],
    poll: tuple[float, float],
    tick: float,
    members: int,
) -> None:
    schedule = PollSchedule(initial=poll[0], maximum=poll[1])
    settings = {
        "report_poll_initial_seconds": poll[0],
        "report_poll_max_seconds": poll[1],
        "scheduler_tick_seconds": tick,
        **REAL_LIMIT,
    }
    print(
        f"job completion -> answer: {len(samples)} uncached commands, each on a fresh stack;"
        f" polls after {poll[0]:g} s, x{schedule.factor:g} each time, up to every {poll[1]:g} s;"
        f" work loop tick {tick:g} s; all in the usagebot process (pid {os.getpid()})"
    )
    print(
        f"{'command':<18}{'job s':>6}{'checks':>8}{'schedule s':>12}{'checked s':>11}"
        f"{'answered s':>12}{'the rest s':>12}"
    )
    lags = []
    for text, job_seconds in samples:
        lag = one_answer(clock, text, job_seconds, settings, members)
        lags.append(lag.answered)
        # The schedule alone; the work loop takes a due check at its next tick, and each next
        # check is due a delay after the last one ran, so ticks move checks later.
        wait = schedule_wait(schedule, job_seconds)
        # The rest: fetching and decoding the report, composing the answer and posting it.
        print(
            f"{text:<18}{job_seconds:>6g}{lag.checks:>8}{wait:>12.2f}{lag.checked:>11.2f}"
            f"{lag.answered:>12.2f}{lag.answered - lag.checked:>12.2f}"
        )
    print(f"answered p50 {statistics.median(lags):.2f} s, max {max(lags):.2f} s   (no target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ack", "burst", "latency"))
    parser.add_argument("--rounds", type=int, default=150, help="ack: measured rounds")
    parser.add_argument("--warmup", type=int, default=5, help="ack: rounds not measured")
    parser.add_argument("--commands", type=int, default=100, help="burst: commands")
    parser.add_argument("--people", type=int, default=20, help="burst: people (and threads)")
    parser.add_argument("--poll-initial", type=float, default=1.0, help="burst, latency: seconds")
    parser.add_argument("--poll-max", type=float, default=4.0, help="burst, latency: seconds")
    parser.add_argument("--tick", type=float, default=1.0, help="the work loop's tick, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=2000, help="members of the sandbox's org")
    args = parser.parse_args()
    if args.rounds < 2 or args.warmup < 0 or args.warmup + args.rounds > 300:
        # Each round asks "since" a day further back, and a period may not exceed a year.
        parser.error("--rounds must be at least 2, and --warmup + --rounds at most 300")
    if args.commands < 2 or args.people < 1:
        parser.error("--commands must be at least 2 and --people at least 1")
    if args.users < 500:
        parser.error("--users must be at least 500 (the burst asks about the first 500)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clock = SystemClock()  # this run's one clock: the sandbox, the stand-in and the bot read it
    poll = (args.poll_initial, args.poll_max)
    print(
        f"Python {sys.version.split()[0]}, {clock.today()}, all on {LOOPBACK};"
        f" the sandbox's org has {args.users:,} members"
    )
    if args.only in (None, "ack"):
        bench_ack(clock, args.rounds, args.warmup, args.seed, args.tick, args.users)
    if args.only in (None, "burst"):
        bench_burst(clock, args.commands, args.people, poll, args.seed, args.tick, args.users)
    if args.only in (None, "latency"):
        bench_latency(clock, LATENCY_SAMPLES, poll, args.tick, args.users)


if __name__ == "__main__":
    main()
