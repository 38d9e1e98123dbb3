"""Alias and CDF tables: exact probabilities reconstructed from the tables."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from samplers.tables import build_tables, chunk_bounds, degree_weights

from ._graphs import random_graphs


def _alias_probabilities(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    n = prob.size
    p = prob.astype(np.float64) / n
    for i in range(n):
        p[alias[i]] += (1.0 - prob[i]) / n
    return p


@settings(max_examples=40, deadline=None)
@given(random_graphs())
def test_alias_and_cdf_reproduce_the_weights(graph):
    for node_w in (None, degree_weights(graph, -1.0)):
        edge_w = graph.weights if node_w is None else None
        alias = build_tables(graph, edge_weights=edge_w, node_weights=node_w, table="alias")
        cdf = build_tables(graph, edge_weights=edge_w, node_weights=node_w, table="cdf")
        assert np.array_equal(alias.live, cdf.live)
        for u in range(graph.num_nodes):
            lo, hi = graph.indptr[u], graph.indptr[u + 1]
            w = edge_w[lo:hi] if node_w is None else node_w[graph.indices[lo:hi]]
            if hi == lo:
                assert alias.live[u] == 0
                continue
            want = w / w.sum()
            got = _alias_probabilities(alias.prob[lo:hi], alias.alias[lo:hi])
            np.testing.assert_allclose(got, want, atol=1e-5)
            c = cdf.cdf[lo:hi].astype(np.float64)
            np.testing.assert_allclose(np.diff(c, prepend=0.0) / c[-1], want, atol=1e-5)


def test_chunk_bounds_cover_all_nodes():
    indptr = np.array([0, 10, 10, 11, 30, 31, 31], dtype=np.int64)
    for k in (1, 2, 3, 10):
        b = chunk_bounds(indptr, k)
        assert b[0] == 0 and b[-1] == 6 and (np.diff(b) > 0).all()
