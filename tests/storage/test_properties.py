"""Property-based round trips of the Parquet dataset format (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.graph import CSRGraph
from dsgraph.storage import read_dataset, write_dataset


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 40),
    e=st.integers(1, 150),
    d=st.integers(0, 4),
    directed=st.booleans(),
    row_group=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_write_read_round_trip(
    n: int, e: int, d: int, directed: bool, row_group: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, e), rng.integers(0, n, e)
    weight = rng.random(e).astype(np.float32)
    feats = rng.standard_normal((n, d)).astype(np.float32) if d else None
    split = rng.integers(0, 4, n).astype(np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dataset(
            Path(tmp) / "ds",
            src=src,
            dst=dst,
            num_nodes=n,
            directed=directed,
            name="p",
            weight=weight,
            features=feats,
            split=split,
            row_group_size=row_group,
        )
        ds = read_dataset(path)
        assert np.array_equal(ds.edges.src, src) and np.array_equal(ds.edges.dst, dst)
        assert np.array_equal(ds.edges.weight, weight)
        assert np.array_equal(ds.split, split)
        if d:
            assert np.array_equal(ds.features.numpy(), feats)
        else:
            assert ds.features is None
        ref = CSRGraph.from_edges(src, dst, n, weight, symmetrize=not directed)
        assert np.array_equal(ds.graph.indptr, ref.indptr)
        assert np.array_equal(ds.graph.indices, ref.indices)
        assert np.array_equal(ds.graph.weights, ref.weights)
