"""The shipped schema revision, known without Alembic."""

import subprocess
import sys

from stream_health.db.migrate import head_revision
from stream_health.db.revision import SHIPPED_REVISION


def test_the_shipped_revision_is_the_newest_migration() -> None:
    assert head_revision() == SHIPPED_REVISION


def test_the_services_readiness_check_does_not_import_alembic() -> None:
    # In a fresh interpreter: this one has imported Alembic already (the test above).
    probe = (
        "import sys, stream_health.ops, stream_health_worker.app, stream_health_api.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
