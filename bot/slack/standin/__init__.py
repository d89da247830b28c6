"""A faithful stand-in for Slack on loopback, for the end-to-end tests and ``make demo``.

with SlackStandIn(member_channels={"C0001"}) as slack:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    driver = AppDriver(app_url, signing_secret, slack)   # plays Slack towards the app
    driver.command("team", user="U0001", channel="C0001")
    slack.wait_for(lambda s: s.ephemeral("C0001", "U0001"))
"""

from bot.slack.standin.payloads import (
    AppDriver,
    app_home_opened,
    app_mention,
    block_actions,
    form_body,
    interactive_body,
    sign,
    slash_command,
    url_verification,
)
from bot.slack.standin.server import Call, Event, Msg, SlackStandIn, UploadedFile
from bot.terminal import Button, mrkdwn, render_message, render_with_buttons

__all__ = [
    "AppDriver",
    "Button",
    "Call",
    "Event",
    "Msg",
    "SlackStandIn",
    "UploadedFile",
    "app_home_opened",
    "app_mention",
    "block_actions",
    "form_body",
    "interactive_body",
    "mrkdwn",
    "render_message",
    "render_with_buttons",
    "sign",
    "slash_command",
    "url_verification",
]
