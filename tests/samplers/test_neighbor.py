"""Fan-out sampling: bounds, real edges, relabelling, laws, determinism, adj_t."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers.neighbor import NeighborSampler

from ._graphs import random_graphs


def _check_subgraph(graph: CSRGraph, sub, seeds: np.ndarray, fanouts, replace: bool) -> None:
    nodes = sub.nodes
    assert nodes.dtype == np.int64 and sub.row.dtype == np.int64 and sub.col.dtype == np.int64
    assert np.array_equal(nodes[: sub.num_seeds], seeds)
    assert np.unique(nodes).size == nodes.size
    assert sum(sub.num_sampled_nodes) == nodes.size
    assert sum(sub.num_sampled_edges) == sub.row.size == sub.col.size == sub.edge.size
    # Every edge exists: edge position points at row col → indices == row's node.
    tgt, src = nodes[sub.col], nodes[sub.row]
    assert (graph.indptr[tgt] <= sub.edge).all() and (sub.edge < graph.indptr[tgt + 1]).all()
    assert np.array_equal(graph.indices[sub.edge], src)
    # Per-hop fan-out bound, and frontiers are exactly the previous hop's new nodes.
    starts = np.cumsum([0, *sub.num_sampled_nodes])
    e_lo = 0
    for h, f in enumerate(fanouts):
        e_hi = e_lo + sub.num_sampled_edges[h]
        cols = sub.col[e_lo:e_hi]
        assert ((cols >= starts[h]) & (cols < starts[h + 1])).all()
        per_target = np.bincount(cols - starts[h], minlength=starts[h + 1] - starts[h])
        degs = graph.degrees()[nodes[starts[h] : starts[h + 1]]]
        cap = np.where(degs > 0, f, 0) if replace else np.minimum(f, degs)
        assert np.array_equal(per_target, cap)
        if not replace:
            pairs = sub.edge[e_lo:e_hi]
            assert np.unique(pairs).size == pairs.size
        e_lo = e_hi
    assert (np.diff(sub.col) >= 0).all()


@settings(max_examples=40, deadline=None)
@given(random_graphs(), st.booleans(), st.booleans(), st.data())
def test_fanout_invariants(graph, replace, weighted, data):
    fanouts = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    k = data.draw(st.integers(1, graph.num_nodes))
    seeds = np.random.default_rng(k).permutation(graph.num_nodes)[:k]
    sampler = NeighborSampler(graph, fanouts, replace=replace, weighted=weighted, seed=2)
    sub = sampler.sample(seeds)
    _check_subgraph(graph, sub, seeds, fanouts, replace)


def test_large_fanout_uses_selection_sampling_without_duplicates():
    n = 400
    g = CSRGraph.from_edges(np.zeros(n - 1, np.int64), np.arange(1, n), n)
    sub = NeighborSampler(g, [100]).sample(np.array([0]))
    _check_subgraph(g, sub, np.array([0]), [100], False)
    assert sub.num_sampled_edges == [100]


def test_fanout_minus_one_takes_every_edge():
    g = CSRGraph.from_edges([0, 0, 0, 1], [1, 2, 3, 2], 4)
    for replace in (False, True):
        sub = NeighborSampler(g, [-1, -1], replace=replace).sample(np.array([0]))
        assert sub.nodes.tolist() == [0, 1, 2, 3]
        assert sub.num_sampled_edges == [3, 1]


def _stars(num_stars: int, weights: list[float]) -> CSRGraph:
    """Disjoint stars: centre i·s → leaves i·s + 1 … i·s + len(weights), s = len(weights) + 1."""
    size = len(weights) + 1
    centres = np.repeat(np.arange(num_stars) * size, size - 1)
    leaves = centres + np.tile(np.arange(1, size), num_stars)
    w = np.tile(np.asarray(weights, dtype=np.float32), num_stars)
    return CSRGraph.from_edges(centres, leaves, num_stars * size, w)


def _leaf_counts(sub, size: int) -> np.ndarray:
    offsets = sub.nodes[sub.row] - sub.nodes[sub.col]
    return np.bincount(offsets, minlength=size)


@pytest.mark.parametrize("replace", [False, True])
def test_uniform_draws_are_uniform(replace):
    g = _stars(3000, [1.0] * 10)
    sub = NeighborSampler(g, [3], replace=replace, seed=1).sample(np.arange(3000) * 11)
    counts = _leaf_counts(sub, 11)
    assert counts[0] == 0
    assert chisquare(counts[1:]).pvalue > 0.001


@pytest.mark.parametrize("replace", [False, True])
def test_weighted_draws_follow_weights(replace):
    g = _stars(4000, [1.0, 2.0, 0.0, 3.0, 4.0])
    sampler = NeighborSampler(g, [1], replace=replace, weighted=True, seed=5)
    counts = _leaf_counts(sampler.sample(np.arange(4000) * 6), 6)
    assert counts[0] == 0 and counts[3] == 0
    expected = np.array([1, 2, 3, 4]) / 10 * counts.sum()
    assert chisquare(counts[[1, 2, 4, 5]], expected).pvalue > 0.001


def test_deterministic_across_threads():
    rng = np.random.default_rng(1)
    g = CSRGraph.from_edges(rng.integers(0, 2000, 40_000), rng.integers(0, 2000, 40_000), 2000)
    seeds = rng.permutation(2000)[:300]
    sampler = NeighborSampler(g, [10, 5], seed=3)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sampler.sample(seeds, epoch=2)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sampler.sample(seeds, epoch=2)
    finally:
        numba.set_num_threads(before)
    for name in ("nodes", "row", "col", "edge"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    three = sampler.sample(seeds, epoch=3)
    assert not np.array_equal(one.edge, three.edge)


def test_adj_t_matches_edges_and_feeds_a_pyg_layer():
    from torch_geometric.nn import SAGEConv

    rng = np.random.default_rng(2)
    g = CSRGraph.from_edges(rng.integers(0, 300, 3000), rng.integers(0, 300, 3000), 300)
    sub = NeighborSampler(g, [5, 5], seed=0).sample(np.arange(20))
    adj = sub.adj_t()
    assert adj.layout == torch.sparse_csr and adj.shape == (sub.num_nodes, sub.num_nodes)
    dense = adj.to_dense()
    ref = torch.zeros(sub.num_nodes, sub.num_nodes)
    ref.index_put_(
        (torch.from_numpy(sub.col), torch.from_numpy(sub.row)),
        torch.ones(sub.num_edges),
        accumulate=True,
    )
    assert torch.equal(dense, ref)
    x = torch.randn(sub.num_nodes, 8)
    conv = SAGEConv(8, 4)
    out_sparse = conv(x, adj)
    out_index = conv(x, sub.edge_index())
    torch.testing.assert_close(out_sparse, out_index, rtol=1e-4, atol=1e-5)


def test_bad_arguments():
    g = CSRGraph.from_edges([0, 1], [1, 0], 2)
    with pytest.raises(SamplerError, match="fanouts"):
        NeighborSampler(g, [])
    with pytest.raises(SamplerError, match=r"fanouts\[1\]"):
        NeighborSampler(g, [2, 0])
    with pytest.raises(SamplerError, match="edge weights"):
        NeighborSampler(g, [2], weighted=True)
    with pytest.raises(SamplerError, match="row 2 repeats node 1"):
        NeighborSampler(g, [2]).sample(np.array([1, 0, 1]))


def test_parallel_and_serial_fill_agree():
    from samplers import kernels_neighbor as KN
    from samplers._rng import key_for

    rng = np.random.default_rng(4)
    n = 20_000
    g = CSRGraph.from_edges(rng.integers(0, n, 200_000), rng.integers(0, n, 200_000), n)
    frontier = rng.permutation(n)[: 2 * KN.PARALLEL_MIN_NODES].astype(np.int64)
    counts = np.minimum(g.degrees()[frontier], 7)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    outs = []
    for fill in (KN.fill_samples, KN.fill_samples_serial):
        out = np.empty(int(offsets[-1]), dtype=np.int64)
        empty_f, empty_i = np.empty(0, np.float32), np.empty(0, np.int32)
        fill(
            g.indptr,
            empty_f,
            False,
            empty_f,
            empty_i,
            frontier,
            offsets,
            7,
            False,
            key_for(1, 0),
            0,
            out,
        )
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    sub = NeighborSampler(g, [7, 3], seed=1).sample(frontier)
    _check_subgraph(g, sub, frontier, [7, 3], False)


def test_reused_scratch_and_pickling_keep_results():
    import pickle

    rng = np.random.default_rng(5)
    g = CSRGraph.from_edges(rng.integers(0, 500, 5000), rng.integers(0, 500, 5000), 500)
    sampler = NeighborSampler(g, [4, 4], seed=1)
    first = sampler.sample(np.arange(50))
    with pytest.raises(SamplerError):
        sampler.sample(np.array([3, 3]))
    sampler.sample(np.arange(100, 300))
    again = sampler.sample(np.arange(50))
    copy = pickle.loads(pickle.dumps(sampler)).sample(np.arange(50))
    for other in (again, copy):
        np.testing.assert_array_equal(first.nodes, other.nodes)
        np.testing.assert_array_equal(first.edge, other.edge)
