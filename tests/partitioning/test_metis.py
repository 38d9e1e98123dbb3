"""The pymetis wrapper: determinism, balance, k edge cases, weight checks."""

from __future__ import annotations

import numpy as np
import pytest

from dsgraph.errors import PartitionError
from partitioning.metis import metis_kway


def test_deterministic_and_balanced(make_random_graph):
    g = make_random_graph(3000, 15000, seed=0)
    a = metis_kway(g.indptr, g.indices, 4, seed=3)
    b = metis_kway(g.indptr, g.indices, 4, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int32 and a.shape == (3000,)
    counts = np.bincount(a, minlength=4)
    assert counts.max() / counts.mean() <= 1.031


def test_degree_weights_balance_edges(make_random_graph):
    g = make_random_graph(3000, 15000, seed=1)
    deg = g.degrees()
    parts = metis_kway(g.indptr, g.indices, 4, vertex_weights=deg)
    per_part = np.bincount(parts, weights=deg, minlength=4)
    assert per_part.max() / per_part.mean() <= 1.031


def test_trivial_cases(make_random_graph):
    g = make_random_graph(5, 8, seed=0)
    assert (metis_kway(g.indptr, g.indices, 1) == 0).all()
    np.testing.assert_array_equal(metis_kway(g.indptr, g.indices, 5), np.arange(5))


def test_bad_weights_are_clear_errors(make_random_graph):
    g = make_random_graph(50, 100, seed=0)
    with pytest.raises(PartitionError, match="vertex weights must have shape"):
        metis_kway(g.indptr, g.indices, 2, vertex_weights=np.ones(3))
    with pytest.raises(PartitionError, match="≥ 0"):
        metis_kway(g.indptr, g.indices, 2, vertex_weights=-np.ones(50))
    with pytest.raises(PartitionError, match="≥ 1"):
        metis_kway(g.indptr, g.indices, 2, edge_weights=np.zeros(g.num_edges))
    with pytest.raises(PartitionError, match="≥ 1"):
        metis_kway(g.indptr, g.indices, 0)
