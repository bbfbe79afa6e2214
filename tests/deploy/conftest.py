"""Fixtures of the deploy checks."""

from __future__ import annotations

import pytest

from tests.deploy.metrics import exported_metric_names


@pytest.fixture(scope="session")
async def exported() -> dict[str, str]:
    """Sample name -> metric family, for everything the worker and the api export."""
    return await exported_metric_names()
