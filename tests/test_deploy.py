"""Deployment descriptors: app.yaml for App Engine."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from bot.cli import build_parser

ROOT = Path(__file__).parent.parent


def test_app_yaml_runs_a_cli_command_on_one_instance() -> None:
    app = yaml.safe_load((ROOT / "app.yaml").read_text())
    assert app["runtime"] == "python311"
    assert app["manual_scaling"] == {"instances": 1}
    argv = shlex.split(app["entrypoint"])
    assert argv[:3] == ["python", "-m", "bot"]
    parser = build_parser()
    args = parser.parse_args(argv[3:])  # exits (failing the test) if the command does not exist
    assert args.command == argv[3] == "serve"


def test_app_yaml_holds_no_secrets() -> None:
    app = yaml.safe_load((ROOT / "app.yaml").read_text())
    names = set(app.get("env_variables", {}))
    assert not {n for n in names if "KEY" in n or "TOKEN" in n or "SECRET" in n}
    assert all(isinstance(value, str) for value in app["env_variables"].values())


def test_manifest_is_valid_for_slack() -> None:
    import json

    import jsonschema

    shared = ROOT.parent / "shared" / "slack-manifest-schema" / "schemas"
    schema = json.loads((shared / "manifest.schema.1.0.0.json").read_text())
    manifest = json.loads((ROOT / "manifest.json").read_text())
    jsonschema.validate(manifest, schema)  # raises ValidationError naming the bad field


def test_manifest_declares_what_the_bot_uses_and_nothing_more() -> None:
    import json

    manifest = json.loads((ROOT / "manifest.json").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/usage"
    assert "team <name>" in command["usage_hint"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
    # Each scope is here because some code calls the method that needs it.
    used = {
        "app_mentions:read": "app_mention",
        "chat:write": "chat_postMessage",
        "commands": "/usage",
        "files:write": "files_upload_v2",
        "im:write": "conversations_open",
        "usergroups:read": "usergroups_users_list",
        "users:read": "users_info",
        "users:read.email": "email",
    }
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(used)
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").rglob("*.py"))
    for scope, needle in used.items():
        assert needle in source, f"{scope} is declared but nothing uses {needle}"
