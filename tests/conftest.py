"""Fixtures shared by every test package: the real datasets in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays a fixed set of examples so a gate never fails on a draw no one has seen; local runs
# keep exploring new examples (and replay any failure from the .hypothesis database).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared real datasets (Cora, MovieLens-100K); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cora_raw(shared_data: Path) -> Path:
    """Planetoid raw directory of Cora."""
    return shared_data / "planetoid" / "Cora" / "raw"


@pytest.fixture(scope="session")
def movielens_dir(shared_data: Path) -> Path:
    """The GroupLens ml-100k directory."""
    return shared_data / "movielens-100k"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tests use one torch thread: on a 2-core machine torch's pool fights Numba's and Ray's."""
    import torch

    torch.set_num_threads(1)
