"""The api's OpenAPI and the worker's AsyncAPI documents, generated from the apps themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from stream_health.config.settings import Settings

ASYNCAPI_FILE = "asyncapi.json"
OPENAPI_FILE = "openapi.json"

WORKER_DESCRIPTION = (
    "The Kafka topics the stream-health worker consumes, as its FastStream broker declares "
    "them (one batch subscriber in one consumer group). The worker decodes each record's "
    "bytes itself, so no payload schema is declared here: the record formats are those of "
    "the SPEC, section 2. What the worker publishes (state changes on stream-health.changes, "
    "dead letters on stream-health.dlq, and the signals it also consumes) leaves from the "
    "PostgreSQL outbox through the relay's own producer, so it appears in no send operation."
)


class _ShippedDefaults(Settings):
    """Settings with the shipped defaults only: documents must not depend on the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def openapi_document() -> dict[str, Any]:
    """The api's OpenAPI document, as it serves it at /openapi.json."""
    from stream_health_api.app import build_app  # noqa: PLC0415  (services load on demand)

    return build_app(_ShippedDefaults()).openapi()


def asyncapi_document() -> dict[str, Any]:
    """The worker's AsyncAPI 3.0 document, from the broker its app wires."""
    from faststream.specification import AsyncAPI  # noqa: PLC0415

    from stream_health_worker.app import build_app  # noqa: PLC0415

    app = build_app(_ShippedDefaults())
    specification = AsyncAPI(
        app.state.broker,
        title="stream-health worker",
        version=app.version,
        description=WORKER_DESCRIPTION,
        schema_version="3.0.0",
    )
    document: dict[str, Any] = json.loads(specification.to_specification().to_json())
    return document


def render(document: dict[str, Any]) -> str:
    """The committed form: indented, stable, one trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Every generated document, by file name."""
    return {
        ASYNCAPI_FILE: render(asyncapi_document()),
        OPENAPI_FILE: render(openapi_document()),
    }


def write_documents(directory: Path) -> list[Path]:
    """Write every document into `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
