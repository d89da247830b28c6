"""The one settings object: built from the environment, secrets kept secret."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError, load_settings

SECRET = "very-secret-access-key"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROWSERSTACK_USERNAME", "BROWSERSTACK_ACCESS_KEY", "BROWSERSTACK_API_URL"):
        monkeypatch.delenv(name, raising=False)


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
