"""Walks over a partitioned graph: a walk at a split hub keeps the unsplit transition law."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from dsgraph.graph import CSRGraph
from samplers.partitioned import PartitionedWalkSampler


def _hub_graph(weighted: bool) -> CSRGraph:
    """Hub 0 linked to every other node of a sparse random graph of 300 nodes."""
    rng = np.random.default_rng(0)
    n = 300
    src = np.concatenate([np.zeros(n - 1, np.int64), rng.integers(1, n, 900)])
    dst = np.concatenate([np.arange(1, n), rng.integers(1, n, 900)])
    w = rng.uniform(0.2, 3.0, src.size) if weighted else None
    return CSRGraph.from_edges(src, dst, n, w, symmetrize=True, drop_self_loops=True)


def _parts(graph: CSRGraph, k: int = 3):
    from partitioning.api import partition
    from partitioning.local import build_local

    result = partition(graph, k, hub_threshold=40, seed=0)
    return result, [build_local(graph, result, p) for p in range(k)]


@pytest.mark.parametrize("weighted", [False, True])
def test_hub_transition_law_matches_unsplit_graph(weighted):
    g = _hub_graph(weighted)
    result, parts = _parts(g)
    assert 0 in result.hubs.hub_ids
    copies, _, _ = result.hubs.copies_of(0)
    assert copies.size >= 2, "the hub must be split across parts for this test to mean anything"
    sampler = PartitionedWalkSampler(
        parts, result.owner, 1, mode="weighted" if weighted else "uniform", seed=1
    )
    nodes, walk_parts = sampler.walk(np.zeros(60_000, dtype=np.int64))
    assert set(np.unique(walk_parts[:, 0])) == set(copies.tolist())
    counts = np.bincount(nodes[:, 1], minlength=g.num_nodes)
    w = g.edge_weights(0).astype(np.float64)
    expected = np.zeros(g.num_nodes)
    expected[g.neighbors(0)] = w / w.sum() * nodes.shape[0]
    assert counts[expected == 0].sum() == 0
    support = expected > 0
    assert chisquare(counts[support], expected[support]).pvalue > 0.001


def test_walks_follow_global_edges_and_parts_own_their_nodes():
    g = _hub_graph(False)
    result, parts = _parts(g)
    sampler = PartitionedWalkSampler(parts, result.owner, 10, seed=2)
    starts = np.arange(g.num_nodes)
    nodes, walk_parts = sampler.walk(starts)
    assert np.array_equal(nodes[:, 0], starts)
    hub = np.isin(nodes, result.hubs.hub_ids)
    ok = nodes >= 0
    # Non-hub nodes are visited in their owner part; hubs in one of their copies.
    assert np.array_equal(walk_parts[ok & ~hub], result.owner[nodes[ok & ~hub]])
    for a, b in zip(nodes[:, :-1].ravel(), nodes[:, 1:].ravel(), strict=True):
        assert b < 0 or g.has_edge(int(a), int(b))
    again, _ = sampler.walk(starts)
    assert np.array_equal(nodes, again)


def test_hub_reached_mid_walk_keeps_the_unsplit_law():
    g = _hub_graph(False)
    result, parts = _parts(g)
    sampler = PartitionedWalkSampler(parts, result.owner, 2, seed=3)
    starts = np.tile(np.arange(1, g.num_nodes), 300)
    nodes, _ = sampler.walk(starts)
    via_hub = nodes[nodes[:, 1] == 0]
    counts = np.bincount(via_hub[:, 2], minlength=g.num_nodes)
    expected = np.zeros(g.num_nodes)
    expected[g.neighbors(0)] = via_hub.shape[0] / g.degrees()[0]
    assert counts[expected == 0].sum() == 0
    support = expected > 0
    assert chisquare(counts[support], expected[support]).pvalue > 0.001
