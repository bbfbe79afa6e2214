"""The worker's code as the benchmark runs it: a git revision instead of the working tree
(`--worker-ref`), and compiled to bytecode first, as the image is built."""

from __future__ import annotations

import io
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
from collections.abc import Sequence
from pathlib import Path


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def export_revision(repo: Path, ref: str, dest: Path) -> tuple[str, list[str]]:
    """`git archive` REF into dest: (its commit, the import roots of its packages).

    Putting the roots first on PYTHONPATH makes `stream-health migrate|worker` (and the
    migrations they apply) come from that revision; the venv's packages stay as they are.
    """
    commit = _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(_git(repo, "archive", "--format=tar", commit))) as tar:
        tar.extractall(dest, filter="data")
    return commit, package_roots(dest)


def package_roots(repo: Path) -> list[str]:
    """The import roots of the project's packages in `repo` (a checkout or an export)."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return sorted({str((repo / package).parent) for package in packages})


def compile_bytecode(roots: Sequence[str]) -> None:
    """Compile the venv's packages and `roots` to bytecode, once, before any worker starts.

    The image does the same at build time (deploy/Dockerfile: UV_COMPILE_BYTECODE=1) and its
    workers start from bytecode. Without it, a machine with PYTHONDONTWRITEBYTECODE set (this
    one) compiles every module at each worker start, and each run's start pays it.
    """
    purelib = sysconfig.get_paths()["purelib"]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", purelib, *roots],
        check=True,
        stdout=subprocess.DEVNULL,
    )
