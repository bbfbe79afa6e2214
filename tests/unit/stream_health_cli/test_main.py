from pathlib import Path

import pytest

from stream_health_cli.main import main


def test_check_config_accepts_the_shipped_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STREAM_HEALTH_CONDITIONS", raising=False)

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
