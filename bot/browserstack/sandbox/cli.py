"""``python -m bot sandbox``: run the BrowserStack sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bot.browserstack.sandbox.faults import FaultConfig
from bot.browserstack.sandbox.server import SandboxConfig, SandboxServer
from bot.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_USERNAME = "sandbox"
DEFAULT_ACCESS_KEY = "sandbox-key"  # the sandbox's published demo credential, not a secret


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``sandbox`` command."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on; 0 picks a free one"
    )
    # SUPPRESS: when absent, leave whatever the caller (settings, environment) already put in args.
    parser.add_argument("--username", default=argparse.SUPPRESS, help="Basic auth username")
    parser.add_argument("--access-key", default=argparse.SUPPRESS, help="Basic auth access key")
    parser.add_argument(
        "--users", type=int, default=2000, help="synthetic people in the organisation"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic organisation")
    parser.add_argument(
        "--queued-seconds", type=float, default=2.0, help="time a job spends enqueued"
    )
    parser.add_argument(
        "--processing-seconds", type=float, default=3.0, help="time a job spends processing"
    )
    parser.add_argument(
        "--queue-limit", type=int, default=10, help="unfinished jobs allowed at once"
    )
    parser.add_argument(
        "--no-rate-limit",
        dest="rate_limit",
        action="store_false",
        help="do not enforce BrowserStack's 5-burst, 15-a-minute limit",
    )
    parser.add_argument("--rate-burst", type=int, default=5, help="requests allowed in a burst")
    parser.add_argument(
        "--rate-per-minute", type=float, default=15.0, help="sustained request rate"
    )
    faults = parser.add_argument_group("fault injection (fractions between 0 and 1)")
    faults.add_argument("--error-rate", type=_fraction, default=0.0, help="requests answered 5xx")
    faults.add_argument("--slow-rate", type=_fraction, default=0.0, help="requests answered slowly")
    faults.add_argument("--slow-seconds", type=float, default=5.0, help="delay of a slow answer")
    faults.add_argument(
        "--malformed-rate", type=_fraction, default=0.0, help="200s with a broken body"
    )
    faults.add_argument("--fail-rate", type=_fraction, default=0.0, help="jobs that end 'failed'")
    faults.add_argument("--stuck-rate", type=_fraction, default=0.0, help="jobs that never finish")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault decisions")


def _opt(args: argparse.Namespace, name: str, default: Any) -> Any:
    """An option's value, or ``default`` when the caller's parser did not set it."""
    value = getattr(args, name, None)
    return default if value is None else value


def config_from_args(args: argparse.Namespace, *, clock: Clock) -> SandboxConfig:
    """A SandboxConfig from parsed options; missing ones take the sandbox's defaults."""
    base = SandboxConfig()
    rates = ("error_rate", "slow_rate", "malformed_rate", "fail_rate", "stuck_rate")
    faults = FaultConfig(
        **{name: _opt(args, name, 0.0) for name in rates},
        slow_seconds=_opt(args, "slow_seconds", 5.0),
    )
    return SandboxConfig(
        username=_opt(args, "username", None) or DEFAULT_USERNAME,
        access_key=_opt(args, "access_key", None) or DEFAULT_ACCESS_KEY,
        users=_opt(args, "users", base.users),
        seed=_opt(args, "seed", base.seed),
        queued_seconds=_opt(args, "queued_seconds", base.queued_seconds),
        processing_seconds=_opt(args, "processing_seconds", base.processing_seconds),
        queue_limit=_opt(args, "queue_limit", base.queue_limit),
        rate_limit=_opt(args, "rate_limit", base.rate_limit),
        rate_burst=_opt(args, "rate_burst", base.rate_burst),
        rate_per_minute=_opt(args, "rate_per_minute", base.rate_per_minute),
        faults=faults,
        fault_seed=_opt(args, "fault_seed", base.fault_seed),
        clock=clock,
    )


def run(args: argparse.Namespace, *, clock: Clock) -> int:
    """Serve until Ctrl-C; return the process exit code."""
    host, port = _opt(args, "host", "127.0.0.1"), _opt(args, "port", 8765)
    try:
        config = config_from_args(args, clock=clock)
        server = SandboxServer(config, host=host, port=port)
    except ValueError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"sandbox: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    # The access key is never printed: screenshots of a demo terminal travel far.
    print(
        f"BrowserStack sandbox listening on {server.url} "
        f"(username {config.username}, access key hidden)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("BrowserStack sandbox stopped", file=sys.stderr)
    return 0
