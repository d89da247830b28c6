"""Command line: ``python -m bot {fetch,sandbox,serve,digest,manifest,db,demo}``.

Every failure a user can meet ends in one line on stderr and a non-zero exit status, never a
traceback: the messages come from the exception trees of the modules that raise them. Each
command makes the one clock it runs on (``bot.clock``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import redact
from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.models import Product, ReportFilters, ReportKind
from bot.browserstack.sandbox import cli as sandbox_cli
from bot.clock import SystemClock
from bot.export import FORMATS
from bot.fetch import fetch_report
from bot.settings import SettingsError, get_settings
from bot.storage import StorageError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _date(text: str) -> dt.date:
    from bot.slack.commands import date_problem

    parts = text.split("-")
    if len(parts) == 3 and all(part.isdigit() for part in parts) and len(parts[0]) == 4:
        year, month, day = (int(part) for part in parts)
        problem = date_problem(year, month, day)
        if problem is None:
            return dt.date(year, month, day)
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: {problem}")
    raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31")


def _product(text: str) -> Product:
    try:
        return Product.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="usagebot: BrowserStack usage, in Slack and here."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch",
        help="run a usage report and write it out",
        description="Create a report job on BROWSERSTACK_API_URL, wait for it, and print it.",
    )
    fetch.add_argument("kind", choices=[k.value for k in ReportKind], help="one row per ...")
    fetch.add_argument(
        "--since",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first day, counted (default: the last 14 days, today included)",
    )
    fetch.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="last day, counted")
    fetch.add_argument(
        "--product",
        type=_product,
        metavar="P",
        help="Live, Automate, App-Live or App-Automate (default: all products)",
    )
    fetch.add_argument("--format", choices=FORMATS, default="table", dest="fmt")
    fetch.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")
    fetch.set_defaults(handler=cmd_fetch)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a BrowserStack Usage Reports sandbox on loopback",
        description="A faithful stand-in for BrowserStack's Usage Reports API, with a "
        "synthetic organisation, for demos and tests.",
    )
    sandbox_cli.add_arguments(sandbox)
    sandbox.set_defaults(handler=cmd_sandbox)

    serve = commands.add_parser(
        "serve",
        help="run the Slack app (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)",
        description="Run the Slack app and its scheduler until stopped.",
    )
    serve.set_defaults(handler=cmd_serve)

    digest = commands.add_parser(
        "digest",
        help="print this week's idle-seat digest (or post it with --post)",
        description="Fetch the user and team reports of the last IDLE_DAYS days and show the "
        "weekly digest as it would be posted: summary, then the thread. Needs no Slack setting "
        "unless --post.",
    )
    digest.add_argument("--post", action="store_true", help="post it now to the digest channels")
    digest.add_argument(
        "--force", action="store_true", help="with --post: post even if this week's is already out"
    )
    digest.set_defaults(handler=cmd_digest)

    manifest = commands.add_parser(
        "manifest",
        help="print the Slack app manifest (Socket Mode, or HTTP with --http)",
        description="Print the app manifest to paste into Slack (Create New App -> From an app "
        "manifest, or the app's App Manifest page). Without --http it is manifest.json, for "
        "Socket Mode; with --http, Socket Mode is off and every request URL is URL/slack/events.",
    )
    manifest.add_argument(
        "--http",
        metavar="https://HOST",
        help="the bot's public https URL, e.g. https://usagebot.example.com",
    )
    manifest.set_defaults(handler=cmd_manifest)

    db = commands.add_parser(
        "db",
        help="upgrade the database's schema, or say where it stands",
        description="The schema of DATABASE_URL (the embedded SQLite file when unset). serve "
        "upgrades it at every start; run 'db upgrade' to do it first, e.g. in a deploy step "
        "before starting new replicas. 'db status' exits 1 when an upgrade is due.",
    )
    db.add_argument("action", choices=["upgrade", "status"])
    db.set_defaults(handler=cmd_db)

    reclaim = commands.add_parser(
        "reclaim",
        help="the current reclaim campaign: tally, release list, verified savings",
        description="What '/usage reclaim' shows the seat admins, read from DATABASE_URL.",
    )
    reclaim.add_argument("action", choices=["status"])
    reclaim.set_defaults(handler=cmd_reclaim)

    demo = commands.add_parser(
        "demo",
        help="the bot on embedded defaults, with a console standing in for Slack",
        description="Start the BrowserStack sandbox, a Slack stand-in and the bot; type /usage "
        "commands and see what Slack would show. Without a terminal, plays a scripted session.",
    )
    demo.add_argument("--script", action="store_true", help="play the scripted session")
    demo.add_argument("--fetch", action="store_true", help="show the fetch pipeline instead")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    redact.install()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SettingsError as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("usagebot: interrupted", file=sys.stderr)
        return 130


def cmd_fetch(args: argparse.Namespace) -> int:
    from bot.slack.commands import DEFAULT_DAYS, Period

    settings = get_settings().require("browserstack")
    clock = SystemClock()
    start, end = args.since, args.until
    if start is None and end is None:
        # The dates sent are the dates printed: the last 14 days as /usage counts them, both
        # ends included, rather than BrowserStack's default, which it does not state.
        default = Period.last_days(DEFAULT_DAYS, today=clock.today())
        start, end = default.start, default.end
    filters = ReportFilters(start=start, end=end, product=args.product)
    return fetch_report(
        settings,
        ReportKind(args.kind),
        filters,
        fmt=args.fmt,
        output=args.output,
        clock=clock,
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    # Serve the configured credentials unless given on the command line, so that one set of
    # BROWSERSTACK_* variables serves both the sandbox and the bot pointed at it.
    settings = get_settings()
    if getattr(args, "username", None) is None:
        args.username = settings.browserstack_username
    if getattr(args, "access_key", None) is None and settings.browserstack_access_key:
        args.access_key = settings.browserstack_access_key.get_secret_value()
    return sandbox_cli.run(args, clock=SystemClock())


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.runtime import Usagebot
    from bot.server import serve
    from bot.startup import SlackUnavailable, check_slack
    from bot.storage import open_database

    settings = get_settings().require("browserstack", "slack")
    if not settings.socket_mode:
        settings.require("slack_http")
    logging.getLogger("bot").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if settings.database_url is None:
        print(
            f"usagebot: DATABASE_URL is not set: keeping requests and reports in "
            f"{settings.database.removeprefix('sqlite:///')}",
            file=sys.stderr,
        )
    # Every outside thing the bot needs, checked before any of it is built, each failure one
    # line (StorageError, SlackRefused, SlackUnavailable): the database, this machine's own
    # concern, first; then whether Slack takes the tokens.
    open_database(settings.database).dispose()
    try:
        check_slack(settings)
    except SlackUnavailable as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_FAILED
    return serve(Usagebot(settings, clock=SystemClock()))


def cmd_digest(args: argparse.Namespace) -> int:
    from slack_sdk import WebClient

    from bot.budget import account_budget
    from bot.digest.history import DigestHistory
    from bot.digest.post import DigestPoster, Route, routes
    from bot.reports.store import Store
    from bot.slack.delivery import retry_handlers
    from bot.storage import open_database
    from bot.terminal import render_message

    settings = get_settings().require("browserstack")
    slack = None
    if args.post:
        settings.require("slack", "digest")
        assert settings.slack_bot_token is not None
        slack = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_base,
            retry_handlers=retry_handlers(),
        )
    engine = open_database(settings.database)
    clock = SystemClock()
    now = clock.now()
    try:
        budget = account_budget(settings, engine, clock=clock)
        with BrowserStackClient.from_settings(settings, clock=clock, budget=budget) as client:
            poster = DigestPoster(
                settings=settings,
                browserstack=client,
                history=DigestHistory(engine),
                slack=slack,
                clock=clock,
            )
            # The datasets a running ``serve`` shares: a fresh report of the digest's period is
            # read from them, and one fetched here is kept there for its questions.
            store = Store(engine)
            poster.cached = lambda kind, filters: store.fresh_report(kind, filters, now=clock.now())
            poster.share = lambda kind, filters, report: store.share_report(
                kind, filters, report, now=clock.now(), ttl=settings.report_cache_seconds
            )
            print("Fetching the user and team reports for the digest ...", file=sys.stderr)
            if args.post:
                failed = False
                for outcome in poster.post_all(now=now, force=args.force):
                    where = outcome.route.channel + (
                        f" ({outcome.route.team})" if outcome.route.team else ""
                    )
                    print(f"{outcome.week} {where}: {outcome.reason}", file=sys.stderr)
                    failed |= not outcome.posted and outcome.reason != "already posted"
                return EXIT_FAILED if failed else EXIT_OK
            users, teams = poster.fetch(now)
            for route in routes(settings) or [Route("")]:
                _, messages = poster.build(users, teams, route, now=now, chart=False)
                heading = f"Digest for {route.channel or '(no DIGEST_CHANNEL set)'}"
                print(f"=== {heading}{f', team {route.team}' if route.team else ''} ===\n")
                print(render_message(messages.summary.payload(), width=100))
                for reply in messages.details:
                    print("  ↳ in thread:")
                    print(render_message(reply.payload(), width=100))
                if messages.csv:
                    lines = messages.csv.content.count("\n")
                    print(f"  ↳ in thread: {messages.csv.filename} ({lines - 1:,} idle members)\n")
    except errors.BrowserStackError as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        engine.dispose()
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    from bot.manifest import MANIFEST_FILE, ManifestError, manifest, render

    try:
        data = manifest(args.http)
    except ManifestError as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # run from a copy of bot/ without the repository's manifest.json
        print(f"usagebot: cannot read {MANIFEST_FILE}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(render(data))
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from bot.migrations import current, head
    from bot.storage import create_engine, open_database, safe_url, unusable

    url = get_settings().database
    where = safe_url(url)
    if args.action == "upgrade":
        logging.getLogger("bot.migrations").setLevel(logging.INFO)  # say what was done
        open_database(url).dispose()
        print(f"{where}: schema at revision {head()}, the newest")
        return EXIT_OK
    engine = create_engine(url)
    try:
        if engine.dialect.name == "sqlite" and not Path(engine.url.database or "").is_file():
            print(f"{where}: no database yet ('db upgrade' or 'serve' makes it)")
            return EXIT_FAILED
        revision = current(engine)
    except sa.exc.SQLAlchemyError as error:
        raise unusable(url, error) from None
    finally:
        engine.dispose()
    newest = head()
    if revision == newest:
        print(f"{where}: schema at revision {revision}, the newest")
        return EXIT_OK
    print(
        f"{where}: schema at revision {revision or 'none (empty, or made before migrations)'}; "
        f"this version needs {newest}: run 'python -m bot db upgrade' (serve does it at start)"
    )
    return EXIT_FAILED


def cmd_reclaim(args: argparse.Namespace) -> int:
    from bot.reclaim.service import current_campaign
    from bot.reclaim.starter import status_text
    from bot.storage import open_database

    settings = get_settings()
    engine = open_database(settings.database)
    try:
        summary = current_campaign(engine, settings.seat_price_map)
    finally:
        engine.dispose()
    print(status_text(summary))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(fetch=args.fetch, script=args.script)
