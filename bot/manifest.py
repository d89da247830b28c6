"""The Slack app manifest, for Socket Mode or for HTTP: ``python -m bot manifest [--http URL]``.

The repository's ``manifest.json`` is the one source: the HTTP variant is derived from it here,
so that the two cannot drift. In HTTP mode the bot serves commands, interactivity and events on
one path, ``/slack/events`` (``bot.server``), so all three request URLs are the same.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.redact import redact_url

MANIFEST_FILE = Path(__file__).resolve().parent.parent / "manifest.json"
EVENTS_PATH = "/slack/events"
# Slack's schema caps a slash command's url at 3000 characters (the request URLs at 3500).
MAX_URL = 3000
EXAMPLE = "https://usagebot.example.com"


class ManifestError(ValueError):
    """The base URL given for the HTTP manifest cannot be used; the message says why."""


@functools.cache
def _socket_mode_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    return data


def request_url(http_url: str) -> str:
    """``http_url`` + ``/slack/events``, or ManifestError if Slack would not accept it."""
    url = http_url.strip()
    shown = repr(redact_url(url))  # a URL with a password in it is echoed without it
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port checks the port: a number up to 65535
    except ValueError as error:  # a bad port or an unbalanced IPv6 bracket
        raise ManifestError(f"--http {shown} is not a URL ({error})") from None
    if parts.scheme != "https":
        # Slack sends its requests to https URLs only.
        raise ManifestError(f"--http {shown} must be an https URL, like {EXAMPLE}")
    if not host or any(c.isspace() for c in url):
        raise ManifestError(f"--http {shown} needs a host name, like {EXAMPLE}")
    if parts.username is not None or parts.query or parts.fragment:
        # Each would end up in the middle of the request URL, or carry a secret into Slack.
        raise ManifestError(
            f"--http {shown} must be only the bot's https://host (and path, if any), like {EXAMPLE}"
        )
    full = url.rstrip("/") + EVENTS_PATH
    if len(full) > MAX_URL:
        raise ManifestError(f"--http URL is too long for Slack ({len(full)} > {MAX_URL})")
    return full


def manifest(http_url: str | None) -> dict[str, Any]:
    """The app manifest: Socket Mode (``manifest.json``) without ``http_url``, else for HTTP
    with every request URL at ``http_url/slack/events``."""
    data = copy.deepcopy(_socket_mode_manifest())
    if http_url is None:
        return data
    url = request_url(http_url)
    features, settings = data["features"], data["settings"]
    # The url right after the command, where Slack's own export puts it.
    features["slash_commands"] = [
        {"command": command["command"], "url": url, **command}
        for command in features["slash_commands"]
    ]
    settings["interactivity"]["request_url"] = url
    settings["event_subscriptions"] = {"request_url": url, **settings["event_subscriptions"]}
    settings["socket_mode_enabled"] = False
    return data


def render(data: dict[str, Any]) -> str:
    """A manifest as text to paste into Slack: JSON with 2-space indents, like manifest.json."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
