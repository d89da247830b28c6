"""Deployment descriptors: app.yaml for App Engine."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
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


# Slack's own JSON Schema for manifests (MIT, slackapi/manifest-schema) lies beside the project on
# the team's machines and CI, not in a clone: the check runs wherever it is found, and CI fails
# if it is missing, so that it always runs there.
SLACK_SCHEMA = ROOT.parent / "shared" / "slack-manifest-schema" / "schemas"


def test_manifest_is_valid_for_slack() -> None:
    import jsonschema

    schema_file = SLACK_SCHEMA / "manifest.schema.1.0.0.json"
    if not schema_file.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must validate manifest.json, but {schema_file} is missing")
        pytest.skip(f"Slack's manifest schema is not at {schema_file} (it is not in a clone)")
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(manifest(), schema)  # raises ValidationError naming the bad field


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text())
    return data


def test_manifest_fields_the_app_relies_on() -> None:
    """The project's own check of each field it sets, by Slack's documented rules."""
    m = manifest()
    assert m["_metadata"] == {"major_version": 1, "minor_version": 1}
    info = m["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    features = m["features"]
    assert 1 <= len(features["bot_user"]["display_name"]) <= 80
    assert re.fullmatch(r"[a-z0-9._-]+", features["bot_user"]["display_name"])
    assert isinstance(features["bot_user"]["always_online"], bool)
    for key in ("home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"):
        assert isinstance(features["app_home"][key], bool)
    for command in features["slash_commands"]:
        assert re.fullmatch(r"/[a-z0-9_-]{1,31}", command["command"])
        assert 1 <= len(command["description"]) <= 2000
        assert len(command["usage_hint"]) <= 1000
        assert isinstance(command["should_escape"], bool)
    scopes = m["oauth_config"]["scopes"]["bot"]
    assert scopes == sorted(set(scopes))
    assert all(re.fullmatch(r"[a-z_]+:?[a-z_.]*", scope) for scope in scopes)
    settings = m["settings"]
    for key in ("org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled"):
        assert isinstance(settings[key], bool)
    assert isinstance(settings["interactivity"]["is_enabled"], bool)
    assert set(settings["event_subscriptions"]["bot_events"]) <= {"app_mention", "app_home_opened"}


def test_manifest_declares_what_the_bot_uses_and_nothing_more() -> None:
    m = manifest()
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/usage"
    assert "team <name>" in command["usage_hint"]
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
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
    assert set(m["oauth_config"]["scopes"]["bot"]) == set(used)
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").rglob("*.py"))
    for scope, needle in used.items():
        assert needle in source, f"{scope} is declared but nothing uses {needle}"
