"""The proxy graph METIS sees."""

from __future__ import annotations

import numpy as np
import pytest

from dsgraph.graph import CSRGraph
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
        # Round robin: a hub's proxies differ by at most one edge and stay within threshold.
        pdeg = proxy.proxy_degrees()
        hub_of = proxy.proxy_hub()
        for i in range(hubs.size):
            d = pdeg[hub_of == i]
            assert d.max() - d.min() <= 1 and d.max() <= threshold
            assert d.sum() == deg[hubs[i]]


def test_lookup_proxy_is_consistent_both_ways(rmat_graph):
    proxy = split_hubs(rmat_graph, 20)
    hub = int(proxy.hub_ids[0])
    nbrs = rmat_graph.neighbors(hub).astype(np.int64)
    got = proxy.lookup_proxy(np.full(nbrs.size, hub), nbrs)
    lo, hi = proxy.hub_row_ptr[0], proxy.hub_row_ptr[1]
    np.testing.assert_array_equal(got, proxy.entry_proxy[lo:hi])
    missing = np.setdiff1d(np.arange(rmat_graph.num_nodes), nbrs)[:5]
    assert (proxy.lookup_proxy(np.full(missing.size, hub), missing) == -1).all()
