"""deploy/compose.yaml: valid for the compose spec; setup runs once before the services."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.deploy.settings_env import cli_commands, unknown_settings
from tests.deploy.tools import DEPLOY, check, documents

COMPOSE = DEPLOY / "compose.yaml"


def _services() -> dict[str, Any]:
    [compose] = documents(COMPOSE)
    services: dict[str, Any] = compose["services"]
    return services


def test_the_compose_file_passes_the_compose_spec() -> None:
    result = check("compose", COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text(encoding="utf-8").replace(
            "condition: service_completed_successfully", "condition: service_completed"
        ),
        encoding="utf-8",
    )

    result = check("compose", broken)

    assert result.returncode == 1
    assert "services.worker.depends_on" in result.stdout


def test_worker_and_api_start_after_migrations_and_topics_succeeded() -> None:
    services = _services()
    for name in ("worker", "api"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "topics": {"condition": "service_completed_successfully"},
        }, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_every_awaited_service_has_a_healthcheck() -> None:
    services = _services()
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}"
    assert "healthcheck" in services["worker"]
    assert "healthcheck" in services["api"]


def test_stream_health_services_run_cli_commands_with_real_settings() -> None:
    commands = cli_commands()
    for name, service in _services().items():
        if service.get("image", "").startswith("stream-health"):
            assert service["command"][0] in commands, name
            assert unknown_settings(list(service["environment"])) == [], name


def test_kafka_is_the_version_the_local_stack_runs() -> None:
    local = (DEPLOY / "local" / "kafka.sh").read_text(encoding="utf-8")
    [version] = re.findall(r'KAFKA_VERSION="\$\{KAFKA_VERSION:-([\d.]+)\}"', local)

    assert _services()["kafka"]["image"] == f"apache/kafka:{version}"


def test_the_services_build_the_repositorys_image() -> None:
    for name in ("migrate", "topics", "worker", "api"):
        build = _services()[name]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]) == DEPLOY / "Dockerfile", name
