"""deploy/k8s: valid for Kubernetes and KEDA, and consistent with the code it deploys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import Settings
from stream_health_api.app import build_app as build_api
from stream_health_worker.app import build_app as build_worker
from tests.deploy.settings_env import cli_commands, unknown_settings
from tests.deploy.tools import DEPLOY, K8S, check, documents, manifests

Resource = dict[str, Any]


def _resources() -> list[Resource]:
    return [d for path in manifests() for d in documents(path)]


def _one(kind: str, name: str) -> Resource:
    [found] = [r for r in _resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _pod_specs() -> list[tuple[str, Resource]]:
    return [
        (r["metadata"]["name"], r["spec"]["template"]["spec"])
        for r in _resources()
        if r["kind"] in {"Deployment", "Job"}
    ]


def _env() -> dict[str, str]:
    data: dict[str, str] = _one("ConfigMap", "stream-health-env")["data"]
    return data


def test_manifests_pass_the_kubernetes_and_keda_schemas() -> None:
    result = check("k8s", *manifests())

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_manifest_is_rejected(tmp_path: Path) -> None:
    scaled = (K8S / "keda-scaledobject.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        scaled.replace("lagThreshold:", "lagThresold:").replace("minReplicaCount:", "minReplicas:")
        + "---\n"
        + (K8S / "worker.yaml")
        .read_text(encoding="utf-8")
        .replace("containerPort: 8081", "containerPort: ops"),
        encoding="utf-8",
    )

    result = check("k8s", broken)

    assert result.returncode == 1
    assert "metadata.lagThresold: not a key of KEDA's kafka scaler" in result.stdout
    assert "'minReplicas' was unexpected" in result.stdout
    assert "containerPort: 'ops' is not of type 'integer'" in result.stdout


def test_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    [kustomization] = documents(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])

    assert listed == {p.name for p in manifests()} - {"secret.example.yaml"}
    images = {c["image"] for _, spec in _pod_specs() for c in spec["containers"]}
    assert images == {"stream-health"}
    assert [i["name"] for i in kustomization["images"]] == ["stream-health"]


def test_containers_run_commands_the_cli_has() -> None:
    commands = cli_commands()
    for name, spec in _pod_specs():
        for container in spec["containers"]:
            assert container["args"][0] in commands, name


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    [uid] = re.findall(r"^USER (\d+):\d+$", dockerfile, flags=re.MULTILINE)
    for name, spec in _pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == int(uid), name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name


@pytest.mark.parametrize(
    ("deployment", "build", "port_setting"),
    [
        ("stream-health-worker", build_worker, "STREAM_HEALTH_WORKER_PORT"),
        ("stream-health-api", build_api, "STREAM_HEALTH_API_PORT"),
    ],
)
def test_probes_ask_paths_the_service_serves_on_its_configured_port(
    deployment: str, build: Any, port_setting: str
) -> None:
    served = set(build(Settings()).openapi()["paths"])
    [container] = _one("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] in served, probe
        assert ports[http["port"]] == int(_env()[port_setting]), probe
    assert "/metrics" in served


def test_keda_never_scales_the_worker_beyond_the_partitions_or_to_zero() -> None:
    spec = _one("ScaledObject", "stream-health-worker")["spec"]
    partitions = int(_env().get("STREAM_HEALTH_TOPIC_PARTITIONS", Settings().topic_partitions))

    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert "idleReplicaCount" not in spec


def test_keda_watches_the_group_and_brokers_the_worker_uses() -> None:
    spec = _one("ScaledObject", "stream-health-worker")["spec"]
    worker = _one("Deployment", "stream-health-worker")
    [container] = worker["spec"]["template"]["spec"]["containers"]
    [trigger] = spec["triggers"]

    assert spec["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert spec["scaleTargetRef"]["envSourceContainerName"] == container["name"]
    assert "replicas" not in worker["spec"], "KEDA owns the worker's replica count"
    from_env = {k: v for k, v in trigger["metadata"].items() if k.endswith("FromEnv")}
    assert from_env == {
        "bootstrapServersFromEnv": "STREAM_HEALTH_KAFKA_BOOTSTRAP",
        "consumerGroupFromEnv": "STREAM_HEALTH_CONSUMER_GROUP",
    }
    assert set(from_env.values()) <= set(_env())
    assert {"configMapRef": {"name": "stream-health-env"}} in container["envFrom"]


def test_settings_in_the_configmap_and_secret_are_real_and_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = documents(K8S / "secret.example.yaml")[0]["stringData"]
    env = {**_env(), **secret}

    assert unknown_settings(list(env)) == []
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Settings()  # raises on an invalid value


def test_unknown_setting_names_are_reported() -> None:
    names = [
        "STREAM_HEALTH_KAFKA_BOOTSTRAPS",
        "STREAM_HEALTH_TOPICS__DLQ",
        "STREAM_HEALTH_TOPICS__DLQS",
    ]

    assert unknown_settings(names) == [
        "STREAM_HEALTH_KAFKA_BOOTSTRAPS",
        "STREAM_HEALTH_TOPICS__DLQS",
    ]


def test_the_conditions_configmap_is_what_the_product_loads(tmp_path: Path) -> None:
    data = _one("ConfigMap", "stream-health-conditions")["data"]
    path = tmp_path / "conditions.yaml"
    path.write_text(data["conditions.yaml"], encoding="utf-8")
    mounted = {
        m["mountPath"] for _, s in _pod_specs() for c in s["containers"] for m in c["volumeMounts"]
    }

    assert load_conditions(path) == load_conditions(None)  # the shipped defaults
    assert str(Path(_env()["STREAM_HEALTH_CONDITIONS"]).parent) in mounted


def test_the_example_secret_holds_placeholders_only() -> None:
    [secret] = documents(K8S / "secret.example.yaml")

    for name, value in secret["stringData"].items():
        assert value == "" or "REPLACE-ME" in value, name
