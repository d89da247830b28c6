"""The checks ``python -m bot serve`` makes before it builds the bot: does Slack take our tokens?

A wrong token would otherwise surface minutes later, as a failed answer to someone's ``/usage``,
or as a retry loop in Socket Mode. Asking Slack once at the start turns each problem into one line
and an exit status: ``SlackRefused`` (a ``SettingsError``, status 2) when Slack says no to a token,
``SlackUnavailable`` (status 1) when Slack cannot be asked or answers something unreadable.
Neither message carries a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.redact import redact_url
from bot.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# slack_sdk logs each failed request at ERROR before raising it; the failure is reported here, in
# one line, so its own lines would only be noise (and a second, different account of it).
_quiet = logging.getLogger(f"{__name__}.slack_sdk")
_quiet.setLevel(logging.CRITICAL)
_quiet.propagate = False

TIMEOUT = 10  # seconds: a start should fail fast, and Slack answers auth.test in well under one

# Slack's common Web API errors that mean "this token is no good here" (any other answer that is
# not ok is Slack in trouble, or not Slack): fixing them means changing a setting or the app,
# so they exit with status 2.
REFUSALS = frozenset(
    {
        "access_denied",
        "account_inactive",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "invalid_auth",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "org_login_required",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
        "two_factor_setup_required",
    }
)

# Settings (``bot.settings``) read these names in any case; Bolt reads the upper-case ones itself.

_WHAT_TO_DO = {
    "SLACK_BOT_TOKEN": "set it to the app's Bot User OAuth Token (xoxb-…, under OAuth & "
    "Permissions), and reinstall the app to the workspace if it was removed or the token revoked",
    "SLACK_APP_TOKEN": "set it to an app-level token (xapp-…) with the connections:write scope, "
    "from the app's Basic Information → App-Level Tokens (or unset it to serve over HTTP)",
}


class SlackRefused(SettingsError):
    """Slack refused a token: the message names the setting, Slack's reason and the fix."""


class SlackUnavailable(Exception):
    """Slack could not be asked, or gave no usable answer: the message names SLACK_API_URL."""


@dataclass(frozen=True)
class SlackIdentity:
    """Who the bot token signs in as, from ``auth.test``."""

    user: str
    user_id: str
    team: str
    team_id: str


def check_slack(settings: Settings, *, timeout: int = TIMEOUT) -> SlackIdentity:
    """Ask Slack whether it takes the bot token (and the app token in Socket Mode).

    Raises SlackRefused or SlackUnavailable; returns who the bot is when all is well.
    """
    assert settings.slack_bot_token is not None, "serve requires SLACK_BOT_TOKEN first"
    bot = _client(settings.slack_bot_token, settings, timeout)
    answer = _ask(bot.auth_test, "auth.test", "SLACK_BOT_TOKEN", settings, timeout)
    identity = SlackIdentity(
        user=str(answer.get("user", "")),
        user_id=str(answer.get("user_id", "")),
        team=str(answer.get("team", "")),
        team_id=str(answer.get("team_id", "")),
    )
    log.info(
        "Slack takes SLACK_BOT_TOKEN: bot %s (%s) in team %s (%s)",
        identity.user,
        identity.user_id,
        identity.team,
        identity.team_id,
    )
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        app = _client(settings.slack_app_token, settings, timeout)
        # Slack answers with a WebSocket URL, good for one connection. It is dropped unused:
        # SocketModeHandler asks for its own when it connects, and the URL must not be logged.
        _ask(
            lambda: app.apps_connections_open(app_token=app_token),
            "apps.connections.open",
            "SLACK_APP_TOKEN",
            settings,
            timeout,
        )
        log.info("Slack takes SLACK_APP_TOKEN: Socket Mode can connect")
    return identity


def _client(token: SecretStr, settings: Settings, timeout: int) -> WebClient:
    # Only slack_sdk's default retry (one, on a connection error): a rate limit or an outage
    # should stop the start with its reason, not hold it up behind Retry-After waits.
    return WebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_base,
        timeout=timeout,
        logger=_quiet,
    )


def _ask(
    call: Callable[[], SlackResponse],
    method: str,
    setting: str,
    settings: Settings,
    timeout: int,
) -> SlackResponse:
    """``call()``, with every way it can fail turned into SlackRefused or SlackUnavailable."""
    where = f"SLACK_API_URL ({redact_url(settings.slack_api_base)})"
    try:
        return call()
    except SlackApiError as error:
        status, code = _status_and_code(error.response)
        if status == 200 and code in REFUSALS:
            raise SlackRefused(
                f"Slack refused {setting} ({code}): {_WHAT_TO_DO[setting]}."
            ) from None
        raise SlackUnavailable(
            f"Slack at {where} gave no usable answer to {method} (HTTP {status}: {code}); "
            "check SLACK_API_URL (unset, it is https://slack.com/api/), or try again if Slack "
            "is having trouble (https://slack-status.com)."
        ) from None
    except (OSError, HTTPException, SlackClientError) as error:  # URLError is an OSError
        raise SlackUnavailable(
            f"Cannot reach Slack at {where}: {_cause(error, timeout)}; check SLACK_API_URL "
            "(unset, it is https://slack.com/api/) and this machine's network."
        ) from None
    except AttributeError as error:
        # slack_sdk reading an answer that is JSON but not a Web API object (a list, say).
        raise SlackUnavailable(
            f"Slack at {where} gave no usable answer to {method} ({type(error).__name__}); "
            "check SLACK_API_URL (unset, it is https://slack.com/api/)."
        ) from None


def _status_and_code(response: SlackResponse | Any) -> tuple[int, str]:
    """The HTTP status and Slack's error code, shortened to one line when it is not a code."""
    status = getattr(response, "status_code", 0)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    # A non-JSON answer becomes slack_sdk's own sentence quoting the body: keep it to one line.
    text = " ".join(str(code or "no error code").split())
    return int(status), text if len(text) <= 120 else text[:119] + "…"


def _cause(error: BaseException, timeout: int) -> str:
    """What went wrong on the way, in words: 'Connection refused', 'no answer within 10 s'."""
    reason = getattr(error, "reason", error)  # URLError wraps the OSError that says it
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout} s"
    if isinstance(reason, OSError) and reason.strerror:
        return str(reason.strerror)
    text = " ".join(str(reason).split())
    return text or type(reason).__name__
