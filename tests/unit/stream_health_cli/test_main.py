import os
from pathlib import Path

import pytest

from stream_health_cli.main import main

HS256_KEY = "k" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("STREAM_HEALTH_", "OTEL_")):
            monkeypatch.delenv(name)


def test_check_config_accepts_the_shipped_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert "incorrect, problematic, disabled" in capsys.readouterr().out


def test_check_config_names_the_bad_key_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("stream_conditions:\n  problematic: {reconnects: 5, period: soon}\n")
    monkeypatch.setenv("STREAM_HEALTH_CONDITIONS", str(path))

    assert main(["check-config"]) == 2
    assert "stream_conditions.problematic.period" in capsys.readouterr().err


def test_check_config_fails_on_a_missing_conditions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_CONDITIONS", str(tmp_path / "absent.yaml"))

    assert main(["check-config"]) == 2
    assert "STREAM_HEALTH_CONDITIONS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        (
            "STREAM_HEALTH_DATABASE_URL",
            "mysql://admin:hunter2-db@db/x",
            "STREAM_HEALTH_DATABASE_URL",
        ),
        (
            "STREAM_HEALTH_SERVICE_TOKENS",
            "raw-service-token-hunter2",
            "STREAM_HEALTH_SERVICE_TOKENS",
        ),
        ("STREAM_HEALTH_CALLBACK_ALLOW", "not-a-cidr", "STREAM_HEALTH_CALLBACK_ALLOW"),
        ("STREAM_HEALTH_KAFKA_BOOTSTRAP", "kafka:port", "STREAM_HEALTH_KAFKA_BOOTSTRAP"),
        ("STREAM_HEALTH_TOPIC_PARTITIONS", "0", "STREAM_HEALTH_TOPIC_PARTITIONS"),
        ("STREAM_HEALTH_API_PORT", "70000", "STREAM_HEALTH_API_PORT"),
        ("STREAM_HEALTH_LOG_LEVEL", "loud", "STREAM_HEALTH_LOG_LEVEL"),
        ("STREAM_HEALTH_MAX_FUTURE_SKEW", "0", "STREAM_HEALTH_MAX_FUTURE_SKEW"),
        (
            "STREAM_HEALTH_ANALYTICS_DOWN_STATUSES",
            "SIDEWAYS",
            "STREAM_HEALTH_ANALYTICS_DOWN_STATUSES",
        ),
        ("STREAM_HEALTH_TOPICS__CHANGES", "bad topic", "STREAM_HEALTH_TOPICS__CHANGES"),
        ("STREAM_HEALTH_TOPICS__CHANGES", "mediaserver.events", "STREAM_HEALTH_TOPICS"),
        ("STREAM_HEALTH_JWT_KEY", "short-hunter2", "STREAM_HEALTH_JWT_KEY"),
        (
            "STREAM_HEALTH_JWT_KEY",
            "-----BEGIN PUBLIC KEY-----\nhunter2\n-----END PUBLIC KEY-----",
            "STREAM_HEALTH_JWT_KEY",
        ),
    ],
)
def test_check_config_names_each_invalid_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(variable, value)

    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert f"{named}: " in err
    assert "hunter2" not in out + err  # a value may be a password or a raw token


def test_check_config_reports_every_invalid_variable_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_WORKER_PORT", "-1")
    monkeypatch.setenv("STREAM_HEALTH_SERVICE_TOKENS", "abc")

    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "STREAM_HEALTH_WORKER_PORT: " in err
    assert "STREAM_HEALTH_SERVICE_TOKENS: " in err


def test_check_config_summarises_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_JWT_KEY", HS256_KEY)
    monkeypatch.setenv("STREAM_HEALTH_DATABASE_URL", "postgresql://sh:hunter2@db:5432/sh")
    monkeypatch.setenv("STREAM_HEALTH_SERVICE_TOKENS", "ab" * 32)

    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "Authenticator(jwt=HS256, service_tokens=1)" in out
    assert "postgresql+asyncpg://sh:***@db:5432/sh" in out
    assert "hunter2" not in out
    assert HS256_KEY not in out


def test_every_command_refuses_invalid_settings_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_DATABASE_URL", "mysql://admin:hunter2@db/x")

    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "STREAM_HEALTH_DATABASE_URL: must be a PostgreSQL DSN" in err
    assert "hunter2" not in err


def test_check_config_says_whether_tracing_is_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config"]) == 0
    assert "tracing: off" in capsys.readouterr().out

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert main(["check-config"]) == 0
    assert "tracing: on, OTLP/HTTP to http://collector:4318" in capsys.readouterr().out
