"""The proxy graph METIS sees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.graph import CSRGraph
from partitioning._kernels import check_structure
from partitioning.hubs import split_hubs


def as_graph(proxy) -> CSRGraph:
    n = proxy.num_vertices
    src = np.repeat(np.arange(n), np.diff(proxy.indptr))
    return CSRGraph.from_edges(src, proxy.indices, n)


@pytest.mark.parametrize("threshold", [None, 10, 40, 300])
def test_proxy_graph_is_symmetric_and_keeps_every_edge(rmat_graph, threshold):
    proxy = split_hubs(rmat_graph, threshold)
    g = as_graph(proxy)
    assert g.is_symmetric()
    assert g.num_edges == rmat_graph.num_edges
    src, dst = g.edges()
    assert not (src == dst).any()
    deg = rmat_graph.degrees()
    hubs = np.flatnonzero(deg > threshold) if threshold else np.empty(0, np.int64)
    np.testing.assert_array_equal(proxy.hub_ids, hubs)
    np.testing.assert_array_equal(
        proxy.node_ids, np.flatnonzero((deg > 0) & ~np.isin(np.arange(deg.size), hubs))
    )
    if threshold:
        per_hub = np.diff(proxy.proxy_ptr)
        np.testing.assert_array_equal(per_hub, -(-deg[hubs] // threshold))
        # The hash spreads a hub's edges: every proxy gets some, together exactly the degree.
        pdeg = proxy.proxy_degrees()
        hub_of = proxy.proxy_hub()
        for i in range(hubs.size):
            d = pdeg[hub_of == i]
            assert d.sum() == deg[hubs[i]]
            assert d.min() > 0 and d.max() <= 2.5 * threshold


def test_both_endpoints_agree_on_the_proxy(rmat_graph):
    proxy = split_hubs(rmat_graph, 20)
    hub = proxy.hub_ids[0]
    nbrs = rmat_graph.neighbors(int(hub)).astype(np.int64)
    got = proxy.proxy_of(np.full(nbrs.size, hub), nbrs)
    lo, hi = proxy.proxy_ptr[0], proxy.proxy_ptr[1]
    assert got.min() >= lo and got.max() < hi
    # Each neighbour's row in the proxy graph points at exactly that proxy.
    a = proxy.num_active
    ordinary = np.flatnonzero(proxy.hub_rank[nbrs] < 0)
    for u, q in zip(nbrs[ordinary][:50], got[ordinary][:50], strict=True):
        v = int(np.searchsorted(proxy.node_ids, u))
        row = proxy.indices[proxy.indptr[v] : proxy.indptr[v + 1]]
        assert a + q in row
        assert not np.isin(np.arange(a + lo, a + hi), row).sum() > 1


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    m=st.integers(0, 120),
    symmetrize=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_check_structure_matches_the_definition(n, m, symmetrize, seed):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    g = CSRGraph.from_edges(src, dst, n, symmetrize=symmetrize)
    symmetric, loops, dups = check_structure(g.indptr, g.indices)
    s, d = g.edges()
    fwd = np.sort(s * n + d)
    assert symmetric == bool(np.array_equal(fwd, np.sort(d * n + s)))
    assert loops == bool((s == d).any())
    assert dups == bool(np.unique(fwd).size < fwd.size)
