"""Deployment descriptors: app.yaml for App Engine, the Dockerfile, compose.yaml; the manifest.

No Docker engine runs the tests: the Dockerfile and compose.yaml are checked as text and YAML,
and what can run without one (the health check's command, the CLI command) is run.
"""

from __future__ import annotations

import ast
import http.server
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import build_parser
from bot.settings import CLOUD_SQL_EXAMPLE, FILE_SETTINGS
from bot.slack.messages import TEMPLATES

ROOT = Path(__file__).parent.parent


def assert_is_cli_command(argv: list[str], command: str) -> None:
    """``argv`` runs ``python -m bot <command>``, and the CLI has that command."""
    assert argv[:3] == ["python", "-m", "bot"]
    args = build_parser().parse_args(argv[3:])  # exits (failing the test) if there is no such
    assert args.command == argv[3] == command


def looks_secret(name: str) -> bool:
    """A variable that would hold a secret's value (a NAME_FILE holds only a path)."""
    if name.endswith("_FILE"):
        return False
    return name in FILE_SETTINGS or any(w in name for w in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


# app.yaml: Google App Engine (standard).


def app_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "app.yaml").read_text())
    return data


def test_app_yaml_runs_a_cli_command_on_two_instances() -> None:
    app = app_yaml()
    assert app["runtime"] == "python311"
    # Two: one dying (a crash, a restart) leaves the other to answer and to take its work over.
    assert app["manual_scaling"] == {"instances": 2}
    assert_is_cli_command(shlex.split(app["entrypoint"]), "serve")


def test_app_yaml_holds_no_secrets() -> None:
    env = app_yaml().get("env_variables", {})
    assert not {name for name in env if looks_secret(name)}
    assert all(isinstance(value, str) for value in env.values())


def test_app_yaml_says_where_database_and_secrets_come_from() -> None:
    lines = (ROOT / "app.yaml").read_text().splitlines()
    comments = " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))
    assert "DATABASE_URL must be set" in comments
    assert CLOUD_SQL_EXAMPLE in comments
    assert "Secret Manager" in comments
    assert "env_variables" in comments
    assert "_FILE" in comments
    for name in FILE_SETTINGS:
        assert name in comments, f"app.yaml does not say where {name} comes from"


# Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, in order: (INSTRUCTION, arguments), continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    return instructions


def index_of(instructions: list[tuple[str, str]], keyword: str, needle: str = "") -> int:
    for i, (kw, rest) in enumerate(instructions):
        if kw == keyword and needle in rest:
            return i
    raise AssertionError(f"no {keyword} {needle} in the Dockerfile")


def test_dockerfile_builds_a_small_image_dependencies_first() -> None:
    steps = dockerfile()
    assert [rest for kw, rest in steps if kw == "FROM"] == ["python:3.11-slim"]
    # The dependency layer comes before the code, so that a code change does not reinstall it.
    copy_requirements = index_of(steps, "COPY", "requirements.txt")
    install = index_of(steps, "RUN", "pip install -r requirements.txt")
    copy_code = index_of(steps, "COPY", "bot/")
    assert copy_requirements < install < copy_code
    # The templates are read from beside the package (bot/slack/messages.py).
    assert TEMPLATES.relative_to(ROOT) == Path("templates")
    assert ("COPY", "templates/ templates/") in steps
    assert ("COPY", "bot/ bot/") in steps


def test_dockerfile_runs_serve_as_a_user_of_its_own() -> None:
    steps = dockerfile()
    user = index_of(steps, "USER")
    cmd = index_of(steps, "CMD")
    name = steps[user][1]
    assert name not in ("root", "0")
    assert not name.startswith(("root:", "0:"))
    assert index_of(steps, "RUN", "useradd") < user < cmd
    assert name in steps[index_of(steps, "RUN", "useradd")][1]
    assert [kw for kw, _ in steps].count("CMD") == 1
    argv = json.loads(steps[cmd][1])  # exec form: the bot is PID 1 and gets SIGTERM itself
    assert argv == ["python", "-m", "bot", "serve"]
    assert_is_cli_command(argv, "serve")


def test_dockerfile_port() -> None:
    steps = dockerfile()
    assert ("EXPOSE", "3000") in steps
    assert ("ENV", "PORT=3000") in steps


def healthcheck_argv() -> list[str]:
    steps = dockerfile()
    options, _, command = steps[index_of(steps, "HEALTHCHECK")][1].partition(" CMD ")
    assert all(option.startswith("--") for option in options.split())
    return shlex.split(command)  # shell form: what /bin/sh would run


def test_healthcheck_asks_healthz_with_python_alone() -> None:
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2]
    assert not {"curl", "wget"} & set(re.findall(r"\w+", " ".join(argv)))  # not in the slim image


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_follows_healthz(
    health_server: http.server.HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    healthy: bool,
) -> None:
    """The HEALTHCHECK's own command, run here against a stand-in /healthz on $PORT."""
    monkeypatch.setattr(_Health, "status", status)
    argv = healthcheck_argv()
    env = {**os.environ, "PORT": str(health_server.server_address[1])}
    result = subprocess.run(  # noqa: S603 - the Dockerfile's own command, our interpreter
        [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    assert (result.returncode == 0) is healthy, result.stderr


def imported_packages() -> dict[str, set[str]]:
    """Top-level modules that bot/ imports from outside the standard library -> files."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top != "bot" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_image_installs_every_package_the_bot_imports() -> None:
    """The image installs requirements.txt alone: a package the bot imports that only the
    development requirements (or a local install) bring would be missing there."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = {
        canonical(re.split(r"[\[=<>~! ]", line.strip(), maxsplit=1)[0])
        for line in lines
        if line.strip() and not line.startswith("#")
    }
    distributions = importlib.metadata.packages_distributions()
    for module, files in sorted(imported_packages().items()):
        names = {canonical(d) for d in distributions.get(module, [module])}
        assert names & pinned, (
            f"{module} (imported by {', '.join(sorted(files))}) is not in requirements.txt: "
            "the Docker image and App Engine install only that file"
        )


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = set(dockerignore())
    assert {".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "secrets"} <= ignored
    # ... but nothing the Dockerfile copies.
    for keyword, rest in dockerfile():
        if keyword == "COPY":
            for source in shlex.split(rest)[:-1]:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, source


# compose.yaml: the bot and its PostgreSQL


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_compose_bot_waits_for_a_healthy_postgres() -> None:
    spec = compose()
    services = spec["services"]
    assert set(services) == {"bot", "postgres"}
    postgres, bot = services["postgres"], services["bot"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    volume, _, target = postgres["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in spec["volumes"]  # a named volume: the data outlives the container
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert bot["build"] == "."
    assert (ROOT / "Dockerfile").exists()
    assert any(str(port).endswith(":3000") for port in bot["ports"])


def test_compose_database_url_matches_postgres() -> None:
    """The URL the comments say to write is the database the postgres service makes."""
    postgres = compose()["services"]["postgres"]["environment"]
    user, db = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    text = (ROOT / "compose.yaml").read_text()
    assert f"postgresql+psycopg://{user}:%s@postgres:5432/{db}" in text
    assert "secrets/database_url" in text
    assert "secrets/postgres_password" in text


def test_compose_holds_no_secret_values() -> None:
    spec = compose()
    declared = spec["secrets"]
    for name, secret in declared.items():
        # A file beside compose.yaml (kept out of the image and of git), not a value here.
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith("./secrets/"), name
    for service_name, service in spec["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict)
        mounted = {f"/run/secrets/{name}" for name in service.get("secrets", [])}
        assert set(service.get("secrets", [])) <= set(declared)
        for name, value in environment.items():
            assert not looks_secret(name), f"{service_name}: {name} holds a value"
            if name.endswith("_FILE"):
                assert value in mounted, f"{service_name}: {name}={value} is not a mounted secret"
    bot = spec["services"]["bot"]["environment"]
    assert {f"{name}_FILE" for name in FILE_SETTINGS} <= set(bot)
    assert "POSTGRES_PASSWORD_FILE" in spec["services"]["postgres"]["environment"]


def test_compose_says_how_to_run_replicas() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "#   replicas:" in text
    assert "the BrowserStack budget" in text  # one for all replicas: no longer a reason for one


# Slack's own JSON Schema for manifests (slackapi/manifest-schema, MIT: its licence is beside it),
# kept in the repository so that every clone validates the manifests.
SLACK_SCHEMA = Path(__file__).parent / "fixtures" / "slack-manifest-schema"


def slack_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SLACK_SCHEMA / "manifest.schema.1.0.0.json").read_text())
    return schema


def test_manifest_is_valid_for_slack() -> None:
    import jsonschema

    jsonschema.validate(manifest(), slack_schema())  # raises ValidationError naming the bad field


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text())
    return data


def check_fields(m: dict[str, Any]) -> None:
    """The project's own check of each field a manifest sets, by Slack's documented rules."""
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


def test_manifest_fields_the_app_relies_on() -> None:
    check_fields(manifest())


def test_manifest_declares_what_the_bot_uses_and_nothing_more() -> None:
    m = manifest()
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/usage"
    assert "team <name>" in command["usage_hint"]
    assert m["settings"]["socket_mode_enabled"] is True
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened", "app_mention"]
    assert m["features"]["app_home"]["home_tab_enabled"] is True  # the Home tab (bot/home)
    # Each scope is here because some code calls the method that needs it.
    used = {
        "app_mentions:read": "app_mention",
        "channels:history": "conversations_replies",
        "chat:write": "chat_postMessage",
        "commands": "/usage",
        "files:write": "files_upload_v2",
        "groups:history": "conversations_replies",
        "im:history": "conversations_history",
        "im:write": "conversations_open",
        "usergroups:read": "usergroups_users_list",
        "users:read": "users_info",
        "users:read.email": "email",
    }
    assert set(m["oauth_config"]["scopes"]["bot"]) == set(used)
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").rglob("*.py"))
    for scope, needle in used.items():
        assert needle in source, f"{scope} is declared but nothing uses {needle}"


# --- Both variants of the manifest, Socket Mode and HTTP (``python -m bot manifest``) -----------

HTTP_BASE = "https://usagebot.example.com"
MANIFEST_VARIANTS = {"socket mode": None, "http": HTTP_BASE}


def _variant(name: str) -> dict[str, Any]:
    from bot.manifest import manifest as build_manifest

    return build_manifest(MANIFEST_VARIANTS[name])


@pytest.mark.parametrize("variant", MANIFEST_VARIANTS)
def test_each_manifest_variant_is_valid_for_slack(variant: str) -> None:
    import jsonschema

    jsonschema.validate(_variant(variant), slack_schema())  # a ValidationError names the field


@pytest.mark.parametrize("variant", MANIFEST_VARIANTS)
def test_each_manifest_variant_fields(variant: str) -> None:
    """The checks of test_manifest_fields_the_app_relies_on, for each variant, and the fields
    that tell the two apart."""
    m = _variant(variant)
    check_fields(m)
    features, settings = m["features"], m["settings"]
    assert settings["interactivity"]["is_enabled"] is True

    # Slack sends HTTP-mode requests to https URLs only; the bot serves all three on one path.
    urls = [
        *(command.get("url") for command in features["slash_commands"]),
        settings["interactivity"].get("request_url"),
        settings["event_subscriptions"].get("request_url"),
    ]
    if variant == "http":
        assert settings["socket_mode_enabled"] is False
        assert urls == [f"{HTTP_BASE}/slack/events"] * 3
        assert all(url.startswith("https://") and len(url) <= 3000 for url in urls)
    else:
        assert settings["socket_mode_enabled"] is True
        assert urls == [None] * 3  # Socket Mode carries everything: no URL to leave stale
        assert m == manifest()  # manifest.json itself


def test_the_manifest_variants_differ_only_in_how_slack_reaches_the_bot() -> None:
    socket_mode, http = _variant("socket mode"), _variant("http")
    for command in http["features"]["slash_commands"]:
        del command["url"]
    del http["settings"]["interactivity"]["request_url"]
    del http["settings"]["event_subscriptions"]["request_url"]
    http["settings"]["socket_mode_enabled"] = True
    assert http == socket_mode
