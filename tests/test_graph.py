"""Smoke tests of CSRGraph; the property-based suite lives beside it."""

import numpy as np
import pytest

from dsgraph.errors import GraphFormatError
from dsgraph.graph import CSRGraph


def test_dedupe_and_self_loops() -> None:
    g = CSRGraph.from_edges(
        [0, 0, 1, 2, 2, 2], [1, 1, 2, 0, 2, 1], dedupe=True, drop_self_loops=True
    )
    assert g.indptr.tolist() == [0, 1, 2, 4]
    assert g.indices.tolist() == [1, 2, 0, 1]
    assert g.indices.dtype == np.int32


def test_out_of_range_names_column_and_row() -> None:
    with pytest.raises(GraphFormatError, match=r"'dst' row 2: node id 7"):
        CSRGraph.from_edges([0, 1, 2], [1, 2, 7], num_nodes=3)


def test_symmetrised_duplicate_weights_are_symmetric_and_order_free() -> None:
    # (0,1) appears with weight 1, its reverse with weight 5: both directions keep the max.
    g = CSRGraph.from_edges([0, 1], [1, 0], 2, [1.0, 5.0], symmetrize=True)
    h = CSRGraph.from_edges([1, 0], [0, 1], 2, [5.0, 1.0], symmetrize=True)
    assert g.weights.tolist() == [5.0, 5.0] == h.weights.tolist()
    s = CSRGraph.from_edges([0, 1], [1, 0], 2, [1.0, 5.0], symmetrize=True, sum_duplicates=True)
    assert s.weights.tolist() == [6.0, 6.0]


def test_non_integer_ids_and_length_mismatch() -> None:
    with pytest.raises(GraphFormatError, match="'src' must hold integer node ids, got dtype float"):
        CSRGraph.from_edges(np.array([0.0, 1.0]), np.array([1, 0]))
    with pytest.raises(GraphFormatError, match="differ in length"):
        CSRGraph.from_edges([0, 1], [1])
    with pytest.raises(GraphFormatError, match="'src' row 1: node id -1"):
        CSRGraph.from_edges([0, -1], [1, 0])


def test_bad_weights_are_rejected() -> None:
    with pytest.raises(GraphFormatError, match="'weight' row 1"):
        CSRGraph.from_edges([0, 1], [1, 0], 2, [1.0, np.nan])
    with pytest.raises(GraphFormatError, match="one value per edge"):
        CSRGraph.from_edges([0, 1], [1, 0], 2, [1.0])


def test_index_dtype_switches_to_int64_above_int32() -> None:
    from dsgraph.graph import index_dtype

    assert index_dtype(2**31 - 1) == np.int32
    assert index_dtype(2**31) == np.int64


def test_isolated_nodes_and_empty_rows() -> None:
    g = CSRGraph.from_edges([3], [0], num_nodes=6)
    assert g.degrees().tolist() == [0, 0, 0, 1, 0, 0]
    assert g.neighbors(5).size == 0 and g.has_edge(3, 0) and not g.has_edge(0, 3)


def test_pyg_round_trip_and_adj_t() -> None:
    import torch

    g = CSRGraph.from_edges([0, 0, 1, 2], [1, 2, 2, 0], 3, [1.0, 2.0, 3.0, 4.0])
    data = g.to_pyg()
    back = CSRGraph.from_pyg(data)
    assert np.array_equal(back.indptr, g.indptr) and np.array_equal(back.indices, g.indices)
    assert np.array_equal(back.weights, g.weights)
    dense = g.adj_t().to_dense()
    expected = torch.zeros(3, 3)
    for s, d, w in zip(*g.edges(), g.weights, strict=True):
        expected[d, s] = float(w)  # row = target
    assert torch.equal(dense, expected)


def test_large_hub_rows_are_sorted_with_weights_attached() -> None:
    rng = np.random.default_rng(0)
    dst = rng.integers(0, 5000, 20_000)
    weights = rng.random(20_000).astype(np.float32)
    g = CSRGraph.from_edges(np.zeros(20_000, dtype=np.int64), dst, 5000, weights)
    row = g.neighbors(0)
    assert (np.diff(row) >= 0).all() and row.size == 20_000
    order = np.argsort(dst, kind="stable")  # weights travel with their edges, stably
    assert np.array_equal(g.weights, weights[order])
    unweighted = CSRGraph.from_edges(np.zeros(20_000, dtype=np.int64), dst, 5000)
    assert np.array_equal(unweighted.indices, np.sort(dst))
