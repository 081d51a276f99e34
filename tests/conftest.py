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


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread() -> None:
    """One intra-op torch thread: tiny models run far faster without oversubscribing shared cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
