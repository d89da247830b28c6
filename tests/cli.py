"""Running ``python -m bot ...`` as the tests do: in this process, or as a process of its own.

``run_bot`` calls ``bot.cli.main`` here, with the environment it is given and its output
captured: the same argument parsing, settings, commands and error handling a user's run goes
through, without starting an interpreter (about half a second of CPU each, which the suite pays
dozens of times). ``run_bot(..., process=True)`` runs a real ``python -m bot``: for what only a
process shows (its exit status, log lines, what the interpreter prints).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bot.cli import main
from bot.settings import Settings, get_settings
from tests.conftest import ACCESS_KEY

# Every variable the bot reads (``NAME`` and ``NAME_FILE``): none of the machine's may leak into
# a test's run of the bot.
_SETTINGS = frozenset(name.upper() for name in Settings.model_fields)


def is_setting(name: str) -> bool:
    return name.upper().removesuffix("_FILE") in _SETTINGS


def clean_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any of the bot's settings, plus ``env``."""
    return {k: v for k, v in os.environ.items() if not is_setting(k)} | dict(env or {})


@dataclass(frozen=True)
class Ran:
    """What a run of the bot's command line left: as ``subprocess.CompletedProcess`` has it."""

    returncode: int
    stdout: str
    stderr: str


def run_bot(*args: str, env: Mapping[str, str] | None = None, process: bool = False) -> Ran:
    if process:
        return _in_a_process(args, env or {})
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as stop:  # argparse: usage errors and --help
            status = stop.code if isinstance(stop.code, int) else 1
    return Ran(status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [name for name in os.environ if is_setting(name)]:
        del os.environ[name]
    os.environ.update(env)
    get_settings.cache_clear()  # the settings are read once per process: read this run's
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _in_a_process(args: tuple[str, ...], env: Mapping[str, str]) -> Ran:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean_environment(env),
        timeout=60,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def assert_one_clean_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("usagebot: ")
    for needle in needles:
        assert needle in last
    assert ACCESS_KEY not in stderr
