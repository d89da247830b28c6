"""``make demo`` without a terminal: a scripted session through the real bot, drawn as text."""

from __future__ import annotations

import io

from bot.clock import ShiftedClock
from bot.demo import run_console


def test_scripted_session_shows_what_slack_would(clock: ShiftedClock) -> None:
    out = io.StringIO()
    script = ("/usage help", "/usage teams", "click Details in thread", "/usage tem")
    # The demo's own sandbox, with report jobs of tenths of a second rather than seconds.
    run = run_console(clock, interactive=False, script=script, out=out, job_seconds=(0.1, 0.2))
    assert run == 0
    text = out.getvalue()
    assert "you> /usage teams" in text
    assert "/usage team <name>" in text  # help, with entities shown as Slack shows them
    assert "Generating the report of all teams" in text  # the placeholder ...
    assert "· updated " in text  # ... replaced in place
    assert "All teams" in text
    assert "[1] Share in channel  [2] Details in thread" in text
    assert "direct message" in text  # details of a private answer go to a DM thread
    assert "Did you mean `team`?" in text
    assert "0 rate-limited (429) answers" in text
