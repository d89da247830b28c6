"""The front desk's own pool: work after the ack, and what happens when that work has a bug."""

from __future__ import annotations

import logging

import pytest

from bot.slack.frontdesk import FrontDesk
from bot.slack.standin import SlackStandIn


def test_a_bug_after_the_ack_is_logged_and_told_to_the_asker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise KeyError("a bug")

    with SlackStandIn() as slack:
        response_url = slack.new_response_url(channel="C1", user="U1")
        with caplog.at_level(logging.ERROR):
            FrontDesk._run(response_url, broken, (), {})
        (told,) = slack.ephemeral("C1", "U1")
    assert "Something went wrong on my side" in told.text
    assert "KeyError" in caplog.text  # the traceback, once, for the admins
    assert "a bug" not in told.text  # and nothing of it for the user


def test_without_a_response_url_the_bug_is_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        FrontDesk._run(None, lambda: 1 / 0, (), {})
    assert "ZeroDivisionError" in caplog.text
