"""deploy/Dockerfile and .dockerignore: hadolint-clean, one non-root image, the pinned uv.

There is no Docker engine here, so the image is linted and read, never built.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.conftest import ROOT
from tests.deploy.tools import DEPLOY, hadolint

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions(name: str) -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    return re.findall(rf"^{name} (.+)$", text, flags=re.MULTILINE)


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_sloppy_dockerfile(tmp_path: Path) -> None:
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN pip install uv\nRUN cd /src && make\n")

    result = hadolint(sloppy)

    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest
    assert "DL3013" in result.stdout  # unpinned pip package


def test_one_image_runs_every_role_as_a_non_root_user() -> None:
    assert _instructions("ENTRYPOINT") == ['["stream-health"]']
    [user] = _instructions("USER")
    uid, _, gid = user.partition(":")
    assert int(uid) >= 10000
    assert int(gid) >= 10000


def test_uv_is_the_version_the_makefile_pins() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [pinned] = re.findall(r"^UV_VERSION := (\S+)$", makefile, flags=re.MULTILINE)

    assert f"UV_VERSION={pinned}" in _instructions("ARG")
    assert any("uv sync --frozen" in run for run in _instructions("RUN"))


def test_the_build_context_holds_what_the_image_copies_and_nothing_private() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").split("\n")
    ignore = [line for line in lines if line and not line.startswith("#")]
    admitted = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for copy in _instructions("COPY")
        if not copy.startswith("--from")
        for source in copy.split()[:-1]
    }

    assert ignore[0] == "*", "everything is excluded unless admitted"
    assert copied <= admitted
    assert all((ROOT / path).exists() for path in admitted)
    assert not admitted & {".venv", ".stack", ".git", "tests", "bench"}


def _image_tags(machine: str) -> set[Tag]:
    """Wheel tags CPython 3.11 on Debian (glibc) accepts for one machine type."""
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(36, 4, -1)]
    platforms += [f"manylinux{legacy}_{machine}" for legacy in ("2014", "2010", "1")]
    tags = set(cpython_tags((3, 11), platforms=platforms))
    return tags | set(compatible_tags((3, 11), "cp311", platforms=platforms))


def _runtime_requirements() -> list[tuple[str, str, str]]:
    """(name, version, marker) of what `uv sync --frozen --no-dev` installs in the image."""
    exported = subprocess.run(
        [
            ROOT / ".venv/bin/uv",
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)(?: ; (.+))?$", exported, flags=re.MULTILINE)
    return [(name, version, marker) for name, version, marker in found]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_runtime_dependency_installs_from_a_wheel(machine: str) -> None:
    # python:3.11-slim has no compiler: an sdist-only dependency would break the build.
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    wheels = {
        (canonicalize_name(p["name"]), p["version"]): [w["url"] for w in p.get("wheels", [])]
        for p in lock["package"]
    }
    accepted = _image_tags(machine)
    environment = {"python_version": "3.11", "sys_platform": "linux", "platform_machine": machine}
    without_wheel = []
    for name, version, marker in _runtime_requirements():
        if marker and not Marker(marker).evaluate(environment):
            continue
        files = [url.rsplit("/", 1)[-1] for url in wheels[(canonicalize_name(name), version)]]
        if not any(parse_wheel_filename(f)[3] & accepted for f in files):
            without_wheel.append(f"{name}=={version}")

    assert without_wheel == []
