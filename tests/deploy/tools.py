"""The pinned validators deploy/validate/tools.sh installs, run as the tests need them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
TOOLS_DIR = Path(os.environ.get("STREAM_HEALTH_TOOLS_DIR", ROOT / ".stack" / "tools"))


def tool(relative: str) -> Path:
    """A tool's path; fails the test, saying how to install it, when it is missing."""
    path = TOOLS_DIR / relative
    if not path.exists():
        pytest.fail(
            f"{path} is missing: run `make deploy-tools` (deploy/validate/tools.sh)",
            pytrace=False,
        )
    return path


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a validator; its output (stdout and stderr together) is in `.stdout`."""
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "STREAM_HEALTH_TOOLS_DIR": str(TOOLS_DIR)},
        cwd=ROOT,
    )


def check(kind: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    """deploy/validate/check.py (`k8s` or `compose`) on `paths`, in the tools' Python."""
    return run(tool("venv/bin/python"), DEPLOY / "validate" / "check.py", kind, *paths)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """promtool, built from the pinned Prometheus module."""
    return run(tool("bin/promtool"), *args)


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint on one Dockerfile (errors and warnings fail; style notes are reported)."""
    return run(tool("venv/bin/hadolint"), "--failure-threshold", "warning", dockerfile)


def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file, empty ones dropped."""
    with path.open(encoding="utf-8") as stream:
        return [d for d in yaml.safe_load_all(stream) if d is not None]


def manifests() -> list[Path]:
    """Every Kubernetes manifest in deploy/k8s (kustomization.yaml is kustomize's, not k8s')."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
