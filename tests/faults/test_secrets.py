"""Secrets stay secret: no log the suite's processes and stacks wrote holds one.

Runs last (the fault suite is sorted to the end and this module last in it), over every log
file of the session's services (worker and api processes, under pytest's temporary
directory) and of both stacks (Kafka, PostgreSQL). The suite's inputs carry stream urls
with passwords, bearer tokens, JWTs and the JWT key; none may appear.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.stream_health_api.harness import JWT_SECRET, SERVICE_TOKEN

# A url credential that is not masked, a JWT, or one of the literal secrets the tests use.
LEAKS = [
    re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@\"]+:(?!\*\*\*@)[^\s@/\"]+@", re.IGNORECASE),
    re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*"),
    re.compile(re.escape(JWT_SECRET)),
    re.compile(re.escape(SERVICE_TOKEN)),
    re.compile(r"(?:faults|hostile)-secret-\d+"),
]


def _logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    session = tmp_path_factory.getbasetemp()
    stacks = [ROOT / ".stack" / "logs", ROOT / ".stack" / "faults" / "logs"]
    files = list(session.rglob("*.log"))
    for folder in stacks:
        files += [path for path in folder.glob("*.log") if "install" not in path.name]
    return files


def test_no_log_holds_a_token_key_or_stream_password(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    files = _logs(tmp_path_factory)
    scanned = 0
    leaks: list[str] = []
    for path in files:
        text = path.read_text(errors="replace")
        scanned += len(text)
        for pattern in LEAKS:
            if found := pattern.search(text):
                leaks.append(f"{path}: {found.group(0)[:60]!r}")

    assert any("worker-" in path.name for path in files), "no worker log to scan"
    assert scanned > 100_000, f"only {scanned} bytes of logs: nothing much was checked"
    assert leaks == []


def test_the_scan_finds_what_it_looks_for() -> None:
    line = '{"event":"x","url":"rtsp://operator:faults-secret-7@10.9.7.1/live"}'
    masked = '{"event":"x","url":"rtsp://operator:***@10.9.7.1/live"}'

    assert LEAKS[0].search(line)
    assert not LEAKS[0].search(masked)
    assert LEAKS[1].search("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2ln")
