"""A small fully-featured dataset written fresh for each test that needs one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsgraph.storage import write_dataset


def small_arrays(seed: int = 0, n: int = 60, e: int = 300, d: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    return dict(
        src=rng.integers(0, n, e),
        dst=rng.integers(0, n, e),
        num_nodes=n,
        weight=rng.random(e).astype(np.float32),
        timestamp=rng.integers(0, 10**9, e),
        edge_split=rng.integers(1, 4, e).astype(np.int8),
        edge_type=rng.integers(0, 2, e).astype(np.int8),
        features=rng.standard_normal((n, d)).astype(np.float32),
        labels=rng.integers(-1, 4, n),
        split=rng.integers(0, 4, n).astype(np.int8),
        node_type=(np.arange(n) >= n // 2).astype(np.int8),
    )


@pytest.fixture
def small_dataset(tmp_path: Path) -> tuple[Path, dict]:
    arrays = small_arrays()
    path = write_dataset(
        tmp_path / "small",
        directed=False,
        name="small",
        node_types={"user": (0, 30), "item": (30, 60)},
        **arrays,
    )
    return path, arrays
