"""`stream-health migrate` on a real database: what it says is where the database is."""

import pytest

from stream_health.db.revision import SHIPPED_REVISION
from stream_health_cli.main import main


def test_migrate_reports_the_revision_reached_and_refuses_to_claim_a_downgrade(
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_DATABASE_URL", migrated_database_url)

    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == f"database migrated to {SHIPPED_REVISION}"

    # At head already: an older revision is not reached, and it says so.
    assert main(["migrate", "--revision", "0009"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"the database is at {SHIPPED_REVISION}, past 0009" in err
    assert main(["migrate"]) == 0  # and nothing was changed
    assert SHIPPED_REVISION in capsys.readouterr().out
