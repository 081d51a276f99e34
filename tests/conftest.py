"""Shared pytest setup: an isolated radius-table cache per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_table_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Build numerical radius tables fresh in a temp cache, never trusting a user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RANDSMOOTH_CACHE_DIR", str(tmp_path_factory.mktemp("randsmooth-cache")))
    yield
    mp.undo()
