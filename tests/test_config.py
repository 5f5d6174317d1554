"""Settings from the environment; a bad value stops start-up with one clear line."""

import os
import subprocess
import sys

import pytest

from todo_api.config import DEFAULT_CORS_ORIGINS, ConfigurationError, load_settings


def test_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert settings.access_token_expire_minutes == 30
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.cors_origins == DEFAULT_CORS_ORIGINS
    assert settings.effective_log_format == "console"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example"]', ["https://a.example"]),
    ],
)
def test_cors_origins_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert load_settings(_env_file=None).cors_origins == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENVIRONMENT", "staging"), ("PORT", "abc"), ("WORKERS", "0"), ("LOG_LEVEL", "LOUD")],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings(_env_file=None)


@pytest.mark.parametrize("secret", [None, "too-short"])
def test_production_needs_a_long_secret_key(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings(_env_file=None)


def test_production_with_a_long_secret_key_logs_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    assert load_settings(_env_file=None).effective_log_format == "json"


@pytest.mark.parametrize(
    ("env", "needle"),
    [({"PORT": "abc"}, "PORT"), ({"ENVIRONMENT": "production", "SECRET_KEY": ""}, "SECRET_KEY")],
)
def test_the_command_refuses_to_start_with_one_line(env: dict[str, str], needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "todo_api"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
