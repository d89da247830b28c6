"""Every Slack listener, registered in one place (the layout of slackapi's bolt-python template)."""

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, home, reclaim


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    events.register(app)
    reclaim.register(app)
    home.register(app)
