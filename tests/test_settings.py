"""The one settings object: built from the environment, secrets kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.browserstack.models import Product
from bot.clock import SystemClock
from bot.settings import (
    CLOUD_SQL_EXAMPLE,
    FILE_SETTINGS,
    Settings,
    SettingsError,
    load_settings,
)
from bot.storage import default_database_url
from tests.cli import run_bot
from tests.conftest import ACCESS_KEY, USERNAME, SandboxFactory

SECRET = "very-secret-access-key"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing from the machine running the tests: its own BrowserStack account, a DATABASE_URL, or
    # App Engine's GAE_ENV would change what these tests see.
    for name in ("BROWSERSTACK_USERNAME", "BROWSERSTACK_API_URL", "GAE_ENV", *FILE_SETTINGS):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.api_url == "https://api.browserstack.com"
    assert settings.browserstack_filters_in == "body"
    assert (settings.browserstack_rate_burst, settings.browserstack_rate_per_minute) == (5, 15)


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERSTACK_USERNAME", "owner")
    monkeypatch.setenv("BROWSERSTACK_ACCESS_KEY", SECRET)
    monkeypatch.setenv("BROWSERSTACK_API_URL", "http://127.0.0.1:8765/")
    monkeypatch.setenv("BROWSERSTACK_FILTERS_IN", "query")
    settings = load_settings().require("browserstack")
    assert settings.api_url == "http://127.0.0.1:8765"
    assert settings.browserstack_filters_in == "query"
    assert settings.browserstack_access_key is not None
    assert settings.browserstack_access_key.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "BROWSERSTACK_USERNAME, BROWSERSTACK_ACCESS_KEY"),
        ({"BROWSERSTACK_USERNAME": "owner"}, "BROWSERSTACK_ACCESS_KEY"),
        (
            {"BROWSERSTACK_USERNAME": " ", "BROWSERSTACK_ACCESS_KEY": SECRET},
            "BROWSERSTACK_USERNAME",
        ),
    ],
)
def test_require_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"Missing settings?: {missing}\\."):
        load_settings().require("browserstack")


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("BROWSERSTACK_API_URL", "not a url", "BROWSERSTACK_API_URL"),
        ("BROWSERSTACK_FILTERS_IN", "header", "BROWSERSTACK_FILTERS_IN"),
        ("BROWSERSTACK_RATE_BURST", "0", "BROWSERSTACK_RATE_BURST"),
        ("BROWSERSTACK_RATE_PER_MINUTE", "fast", "BROWSERSTACK_RATE_PER_MINUTE"),
    ],
)
def test_wrong_values_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=complaint) as caught:
        load_settings()
    assert value not in str(caught.value) or value == "0"


def test_secret_hidden_in_repr_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERSTACK_ACCESS_KEY", SECRET)
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
    monkeypatch.setenv("BROWSERSTACK_RATE_BURST", "many")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert SECRET not in str(caught.value)


def test_explicit_values_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERSTACK_USERNAME", "from-env")
    assert Settings(browserstack_username="explicit").browserstack_username == "explicit"


# Secrets from files: NAME_FILE names a file holding NAME's value (Docker secrets, mounted
# secrets).

FILE_VALUES = {
    "BROWSERSTACK_ACCESS_KEY": SECRET,
    "SLACK_BOT_TOKEN": "xoxb-1-from-a-file",
    "SLACK_SIGNING_SECRET": "signing-secret-from-a-file",
    "SLACK_APP_TOKEN": "xapp-1-from-a-file",
    "DATABASE_URL": "postgresql+psycopg://usagebot:pa55word@postgres:5432/usagebot",
}


def secret_value(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name.lower())
    return value if value is None or isinstance(value, str) else value.get_secret_value()


def test_every_file_setting_is_a_setting() -> None:
    assert set(FILE_VALUES) == set(FILE_SETTINGS)
    assert all(name.lower() in Settings.model_fields for name in FILE_SETTINGS)


@pytest.mark.parametrize("name", FILE_SETTINGS)
@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_value_read_from_file_without_its_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, ending: str
) -> None:
    secret_file = tmp_path / name.lower()
    secret_file.write_text(FILE_VALUES[name] + ending, newline="")
    monkeypatch.setenv(f"{name}_FILE", str(secret_file))
    settings = load_settings()
    assert secret_value(settings, name) == FILE_VALUES[name]
    if name != "DATABASE_URL":
        assert FILE_VALUES[name] not in repr(settings)


def test_secrets_from_files_satisfy_serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BROWSERSTACK_USERNAME", "owner")
    for name, value in FILE_VALUES.items():
        (tmp_path / name).write_text(value + "\n")
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
    settings = load_settings().require("browserstack", "slack", "slack_http", "database")
    assert settings.socket_mode
    assert settings.database == FILE_VALUES["DATABASE_URL"]


def test_blank_variable_leaves_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # As Compose leaves `SLACK_BOT_TOKEN: ${SLACK_BOT_TOKEN:-}` when it is not set.
    (tmp_path / "token").write_text("xoxb-1-from-a-file\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "token"))
    assert secret_value(load_settings(), "SLACK_BOT_TOKEN") == "xoxb-1-from-a-file"


@pytest.mark.parametrize("name", FILE_SETTINGS)
def test_variable_and_file_both_set_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    (tmp_path / "value").write_text(FILE_VALUES[name])
    monkeypatch.setenv(name, FILE_VALUES[name] + "-other")
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "value"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"Both {name} and {name}_FILE are set" in message
    assert FILE_VALUES[name] not in message


def test_missing_file_names_variable_and_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "run" / "secrets" / "browserstack_access_key"
    monkeypatch.setenv("BROWSERSTACK_ACCESS_KEY_FILE", str(missing))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"BROWSERSTACK_ACCESS_KEY_FILE: cannot read {missing} (No such file or directory)"
    )


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "Is a directory"), (SECRET.encode() + b"\xff\xfe\n", "is not UTF-8 text")],
)
def test_unreadable_file_never_shows_its_content(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None, complaint: str
) -> None:
    path = tmp_path / "slack_bot_token"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("SLACK_BOT_TOKEN_FILE: ")
    assert str(path) in message
    assert complaint in message
    assert SECRET not in message
    assert "\\x" not in message  # no byte of the file quoted by the decoder


def test_missing_secret_mentions_its_file_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERSTACK_USERNAME", "owner")
    with pytest.raises(SettingsError, match="BROWSERSTACK_ACCESS_KEY_FILE at a file holding it"):
        load_settings().require("browserstack")


def test_file_value_is_validated_like_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("xapp-the-wrong-token\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(SettingsError, match=r"SLACK_BOT_TOKEN: .*xoxb-") as caught:
        load_settings()
    assert "xapp-the-wrong-token" not in str(caught.value)


# App Engine (GAE_ENV set by the platform): the disk is read-only, so no SQLite file.


@pytest.mark.parametrize(
    "url", [None, "", "sqlite:////tmp/usagebot.sqlite", "sqlite+pysqlite:///:memory:"]
)
def test_app_engine_refuses_sqlite(monkeypatch: pytest.MonkeyPatch, url: str | None) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    if url is not None:
        monkeypatch.setenv("DATABASE_URL", url)
    settings = load_settings()
    for check in (lambda: settings.database, lambda: settings.require("database")):
        with pytest.raises(SettingsError) as caught:
            check()
        message = str(caught.value)
        assert message.startswith("DATABASE_URL ")
        assert "App Engine (GAE_ENV=standard)" in message
        assert "read-only" in message
        assert "Cloud SQL" in message
        assert CLOUD_SQL_EXAMPLE in message


def test_app_engine_takes_postgresql(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    url = "postgresql+psycopg://usagebot:pw@/usagebot?host=/cloudsql/acme:europe-west1:main"
    (tmp_path / "database_url").write_text(url + "\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "database_url"))
    settings = load_settings().require("database")
    assert settings.database == url


@pytest.mark.parametrize("gae_env", [None, ""])
def test_elsewhere_the_sqlite_default_is_fine(
    monkeypatch: pytest.MonkeyPatch, gae_env: str | None
) -> None:
    if gae_env is not None:
        monkeypatch.setenv("GAE_ENV", gae_env)
    settings = load_settings().require("database")
    assert settings.database == default_database_url()
    assert settings.database.startswith("sqlite:///")


def test_cloud_sql_example_reaches_psycopg_as_a_unix_socket() -> None:
    """The URL the message suggests gives libpq the socket folder as ``host``."""
    url = sa.engine.make_url(CLOUD_SQL_EXAMPLE)
    _, params = sa.create_engine(url).dialect.create_connect_args(url)
    assert params["host"] == "/cloudsql/PROJECT:REGION:INSTANCE"
    assert (params["dbname"], params["user"], params["password"]) == ("DB", "USER", "PASSWORD")


# As a user meets them: `python -m bot ...` (tests.cli).


@pytest.mark.parametrize("url", [None, "sqlite:////tmp/usagebot.sqlite"])
def test_serve_on_app_engine_without_a_database_stops_with_status_2(url: str | None) -> None:
    env = {
        "GAE_ENV": "standard",
        "BROWSERSTACK_USERNAME": "owner",
        "BROWSERSTACK_ACCESS_KEY": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-1-token",
        "SLACK_APP_TOKEN": "xapp-1-token",
        "PORT": "0",
    }
    if url is not None:
        env["DATABASE_URL"] = url
    result = run_bot("serve", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("usagebot: DATABASE_URL ")
    assert CLOUD_SQL_EXAMPLE in line
    assert SECRET not in result.stderr


def test_fetch_with_key_file_and_no_database_setting(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    # The CLI makes its own clock from the real date: so must the sandbox it asks.
    server = sandbox_factory(clock=SystemClock())
    (tmp_path / "key").write_text(ACCESS_KEY + "\n")
    result = run_bot(
        "fetch",
        "team",
        "--format",
        "json",
        env={
            # No DATABASE_URL: the default SQLite file, in a data folder of the test's own.
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "BROWSERSTACK_USERNAME": USERNAME,
            "BROWSERSTACK_ACCESS_KEY_FILE": str(tmp_path / "key"),
            "BROWSERSTACK_API_URL": server.url,
            "REPORT_POLL_INITIAL_SECONDS": "0.05",
            "REPORT_POLL_MAX_SECONDS": "0.2",
            "BROWSERSTACK_RATE_BURST": "1000",
            "BROWSERSTACK_RATE_PER_MINUTE": "600000",
        },
    )
    assert result.returncode == 0, result.stderr
    assert '"teams"' in result.stdout


# --- prices: licences as BrowserStack bills them -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("SEAT_PRICES", "automate=129", r"SEAT_PRICES: .*Automate is priced in PARALLEL_PRICES"),
        ("SEAT_PRICES", "app-automate=1", r"takes live and app-live only"),
        ("SEAT_PRICES", "live=cheap", r"is not 'product=monthly price', e.g. live=39"),
        ("SEAT_PRICES", "live=-5", r"must be a number ≥ 0"),
        ("PARALLEL_PRICES", "live=39", r"PARALLEL_PRICES: .*Live is priced in SEAT_PRICES"),
        ("PARALLEL_PRICES", "automate=nan", r"must be a number ≥ 0"),
    ],
)
def test_prices_name_what_each_setting_takes(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=complaint):
        load_settings()


def test_prices_parse_per_licence_kind() -> None:
    settings = Settings.from_values(
        {"seat_prices": "live=39, App Live=49", "parallel_prices": "automate=150,app-automate=200"}
    )
    assert settings.seat_price_map == {Product.LIVE: 39.0, Product.APP_LIVE: 49.0}
    assert settings.parallel_price_map == {Product.AUTOMATE: 150.0, Product.APP_AUTOMATE: 200.0}


def test_reclaim_admins_are_user_ids_and_one_user_group() -> None:
    settings = Settings.from_values({"reclaim_admins": "U0ANA, W0BEN S0ADMINS"})
    assert settings.reclaim_admin_ids == frozenset({"U0ANA", "W0BEN"})
    assert settings.reclaim_admin_group == "S0ADMINS"
    unset = Settings.from_values({})
    assert (unset.reclaim_admin_ids, unset.reclaim_admin_group) == (frozenset(), None)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("@ana", r"'@ana' is not a Slack user id \(U…, W…\) or user group id \(S…\)"),
        ("U0ANA S0ONE S0TWO", r"give one user group, not 2 \(S0ONE, S0TWO\)"),
    ],
)
def test_reclaim_admins_say_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, value: str, complaint: str
) -> None:
    monkeypatch.setenv("RECLAIM_ADMINS", value)
    with pytest.raises(SettingsError, match=complaint):
        load_settings()
