"""docs/*.json are what the apps generate: a change to a route or a topic must regenerate them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_health_cli.docs import ASYNCAPI_FILE, OPENAPI_FILE, documents, write_documents
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """The documents as the apps generate them now."""
    return documents()


@pytest.mark.parametrize("name", [ASYNCAPI_FILE, OPENAPI_FILE])
def test_committed_document_matches_the_app(name: str, generated: dict[str, str]) -> None:
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")

    assert committed == generated[name], f"docs/{name} is stale: run `make docs`"


def test_documents_do_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch, generated: dict[str, str]
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_KAFKA_BOOTSTRAP", "kafka-1.example:9092")
    monkeypatch.setenv("STREAM_HEALTH_TOPICS__MEDIA_EVENTS", "renamed.events")

    assert documents() == generated


def test_the_documents_describe_both_services(tmp_path: Path) -> None:
    written = {p.name for p in write_documents(tmp_path)}
    openapi = json.loads((tmp_path / OPENAPI_FILE).read_text(encoding="utf-8"))
    asyncapi = json.loads((tmp_path / ASYNCAPI_FILE).read_text(encoding="utf-8"))

    assert written == {ASYNCAPI_FILE, OPENAPI_FILE}
    assert {"/api/admin/v1/streams/inactive", "/api/v1/orchestrator/callback"} <= set(
        openapi["paths"]
    )
    assert asyncapi["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert {"mediaserver.events", "orchestrator.callbacks", "stream-health.signals"} <= addresses
