"""`--worker-ref`: benchmark the worker of a git revision instead of the working tree."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tomllib
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
    project = tomllib.loads((dest / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return commit, sorted({str((dest / package).parent) for package in packages})
