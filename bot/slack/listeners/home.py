"""The App Home tab (issue 12): ``app_home_opened``, its buttons, and the alerts' button.

Each hands over to the front desk's pool at once (the ack must be quick); ``bot.home`` does the
rest, from the database and the cache only.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.frontdesk import FrontDesk


def register(app: App) -> None:
    app.event("app_home_opened")(handle_home_opened)
    app.action("home_refresh")(handle_refresh)
    app.action("home_teams")(handle_teams)
    app.action("home_digest")(handle_digest)
    app.action("home_ask_idle")(handle_ask_idle)
    app.action("home_unsubscribe")(handle_unsubscribe)
    app.action("alert_details")(handle_alert_details)


def handle_home_opened(event: dict[str, Any], context: BoltContext) -> None:
    desk: FrontDesk = context["desk"]
    if event.get("tab", "home") != "home" or desk.home is None:
        return  # the Messages tab: nothing to publish
    desk.later(desk.home.opened, event["user"])


def _user(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value", ""))


def handle_refresh(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    if desk.home is not None:
        desk.later(desk.home.opened, _user(body))


def handle_teams(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    desk.later(desk.ask_in_dm, _user(body), "teams")


def handle_digest(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    desk.later(desk.ask_in_dm, _user(body), "digest")


def handle_ask_idle(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    if desk.home is not None:
        desk.later(desk.home.ask_idle, _user(body))


def handle_unsubscribe(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    if desk.home is not None and _value(body).isdigit():
        desk.later(desk.home.unsubscribe, _user(body), int(_value(body)))


def handle_alert_details(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    desk: FrontDesk = context["desk"]
    if _value(body) in ("teams", "idle"):
        desk.later(desk.ask_in_dm, _user(body), _value(body))
