"""``python -m bot manifest [--http URL]`` as an admin runs it: a real process, stdout parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.manifest import ManifestError, manifest, request_url
from tests.cli import assert_one_clean_line, run_bot

ROOT = Path(__file__).parent.parent
EVENTS = "https://usagebot.example.com/slack/events"


def test_http_manifest_has_every_request_url_and_no_socket_mode() -> None:
    result = run_bot("manifest", "--http", "https://usagebot.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    m = json.loads(result.stdout)
    assert m["settings"]["socket_mode_enabled"] is False
    assert [c["url"] for c in m["features"]["slash_commands"]] == [EVENTS]
    assert m["settings"]["interactivity"] == {"is_enabled": True, "request_url": EVENTS}
    assert m["settings"]["event_subscriptions"]["request_url"] == EVENTS
    # Everything else is manifest.json's, word for word.
    assert m == manifest("https://usagebot.example.com")
    assert result.stdout.startswith('{\n  "_metadata": {\n    "major_version": 1,')  # 2-space


def test_socket_mode_manifest_is_manifest_json_verbatim() -> None:
    result = run_bot("manifest")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "manifest.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://usagebot.example.com", "must be an https URL"),
        ("usagebot.example.com", "must be an https URL"),
        ("https://", "needs a host name"),
        ("https://usagebot.example.com?x=1", "only the bot's https://host"),
    ],
)
def test_a_url_slack_cannot_use_is_one_line_and_status_2(url: str, named: str) -> None:
    result = run_bot("manifest", "--http", url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_clean_line(result.stderr, "--http", named)
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_password_in_the_url_is_refused_and_not_echoed() -> None:
    result = run_bot("manifest", "--http", "https://admin:hunter2@usagebot.example.com")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr
    assert_one_clean_line(result.stderr, "https://***@usagebot.example.com")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://usagebot.example.com", EVENTS),
        ("https://usagebot.example.com/", EVENTS),
        (" https://usagebot.example.com ", EVENTS),
        ("https://example.com:8443/usagebot/", "https://example.com:8443/usagebot/slack/events"),
    ],
)
def test_request_url(given: str, expected: str) -> None:
    assert request_url(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "https://[::1",
        "https://example.com:99999",
        "https://exa mple.com",
        "https://x/" + "a" * 3000,
    ],
)
def test_request_url_refuses(given: str) -> None:
    with pytest.raises(ManifestError):
        request_url(given)


def test_the_http_variant_leaves_manifest_json_alone() -> None:
    before = manifest(None)
    manifest("https://usagebot.example.com")
    assert manifest(None) == before == json.loads((ROOT / "manifest.json").read_text())
