"""build_local(): local ids, halo exactness, owned edges, hub transition probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.errors import PartitionError
from dsgraph.graph import CSRGraph
from partitioning.api import partition
from partitioning.local import HALO, MIRROR, OWNED, build_local


def owned_global_edges(local) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    src, dst = local.graph.edges()
    keep = local.owned_edge_mask()
    w = None if local.graph.weights is None else local.graph.weights[keep]
    return local.local_to_global[src[keep]], local.local_to_global[dst[keep]], w


def expected_halo(graph: CSRGraph, result, part: int, hops: int) -> dict[int, int]:
    """Halo by definition: BFS over the part's owned edges, then full rows, minus local nodes."""
    edge_part = result.edge_owner(graph)
    src = np.repeat(np.arange(graph.num_nodes), graph.degrees())
    present = set(np.flatnonzero(result.hub_copy_mask(part)).tolist())
    frontier = set(graph.indices[edge_part == part].tolist()) - present
    halo: dict[int, int] = {}
    for hop in range(1, hops + 1):
        for v in frontier:
            halo[v] = hop
        present |= frontier
        if hop == hops:
            break
        nxt = set()
        for v in frontier:
            nxt |= set(graph.neighbors(v).tolist())
        frontier = nxt - present
    del src
    return halo


@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize("threshold", [None, 25])
def test_owned_edges_reconstruct_graph_and_halo_is_exact(rmat_graph, as_multiset, hops, threshold):
    k = 4
    result = partition(rmat_graph, k, hub_threshold=threshold, seed=0)
    srcs, dsts = [], []
    owned_total = 0
    for part in range(k):
        local = build_local(rmat_graph, result, part, hops)
        s, d, _ = owned_global_edges(local)
        srcs.append(s)
        dsts.append(d)
        owned = local.local_to_global[local.kind == OWNED]
        np.testing.assert_array_equal(owned, result.owned_nodes(part))
        owned_total += owned.size
        mirrors = local.local_to_global[local.kind == MIRROR]
        assert np.all(result.owner[mirrors] != part)
        halo = dict(
            zip(
                local.local_to_global[local.kind == HALO].tolist(),
                local.hop[local.kind == HALO].tolist(),
                strict=True,
            )
        )
        assert halo == expected_halo(rmat_graph, result, part, hops)
        # Kind order: owned, then mirrors, then halo.
        assert np.all(np.diff(local.kind) >= 0)
    assert owned_total == rmat_graph.num_nodes
    src, dst = rmat_graph.edges()
    n = rmat_graph.num_nodes
    np.testing.assert_array_equal(
        as_multiset(np.concatenate(srcs), np.concatenate(dsts), n), as_multiset(src, dst, n)
    )


def test_hub_copies_reproduce_true_transition_probabilities(make_random_graph):
    graph = make_random_graph(200, 4000, seed=9, weighted=True)
    result = partition(graph, 4, hub_threshold=10, seed=0)
    locals_ = [build_local(graph, result, p, 1) for p in range(4)]
    hubs = result.hubs
    assert hubs.num_hubs > 0
    for i, hub in enumerate(hubs.hub_ids[:20]):
        lo, hi = hubs.copy_ptr[i], hubs.copy_ptr[i + 1]
        total = hubs.copy_weight[lo:hi].sum()
        prob = np.zeros(graph.num_nodes)
        for c in range(lo, hi):
            local = locals_[hubs.copy_part[c]]
            row = int(local.global_to_local(np.array([hub]))[0])
            nbrs = local.local_to_global[local.graph.neighbors(row)]
            w = local.graph.edge_weights(row).astype(np.float64)
            assert w.sum() == pytest.approx(hubs.copy_weight[c], rel=1e-5)
            np.add.at(prob, nbrs, hubs.copy_weight[c] / total * w / w.sum())
        true = np.zeros(graph.num_nodes)
        true[graph.neighbors(int(hub))] = (
            graph.edge_weights(int(hub)) / graph.edge_weights(int(hub)).sum()
        )
        np.testing.assert_allclose(prob, true, atol=1e-6)


def test_global_to_local_round_trip(rmat_graph):
    result = partition(rmat_graph, 3, hub_threshold=25)
    local = build_local(rmat_graph, result, 1, 1)
    ids = local.local_to_global
    np.testing.assert_array_equal(local.global_to_local(ids), np.arange(ids.size))
    absent = np.setdiff1d(np.arange(rmat_graph.num_nodes), ids)[:10]
    assert (local.global_to_local(absent) == -1).all()
    lids, rows = local.hub_copies()
    assert (lids >= 0).all()
    assert np.all(local.kind[lids] != HALO)
    assert np.all(result.hubs.copy_part[rows] == 1)


def test_bad_part_or_hops_is_a_clear_error(rmat_graph):
    result = partition(rmat_graph, 2)
    with pytest.raises(PartitionError, match="out of range"):
        build_local(rmat_graph, result, 2)
    with pytest.raises(PartitionError, match="halo hops"):
        build_local(rmat_graph, result, 0, 0)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 40),
    m=st.integers(0, 200),
    k=st.integers(1, 4),
    hops=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_union_of_owned_edges_is_the_graph(n, m, k, hops, seed):
    k = min(k, n)
    rng = np.random.default_rng(seed)
    graph = CSRGraph.from_edges(rng.integers(0, n, m), rng.integers(0, n, m), n, symmetrize=True)
    result = partition(graph, k, hub_threshold=4, seed=seed)
    keys = []
    for part in range(k):
        s, d, _ = owned_global_edges(build_local(graph, result, part, hops))
        keys.append(s * n + d)
    src, dst = graph.edges()
    np.testing.assert_array_equal(np.sort(np.concatenate(keys)), np.sort(src * n + dst))
