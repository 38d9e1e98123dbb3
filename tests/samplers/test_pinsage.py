"""PinSAGE importance neighbourhoods: normalised weights, path-count preference, determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers.pinsage import PinSAGESampler

from ._graphs import random_graphs


@settings(max_examples=30, deadline=None)
@given(random_graphs())
def test_weights_sum_to_one_and_neighbors_are_reachable(graph):
    seeds = np.arange(graph.num_nodes)
    out = PinSAGESampler(graph, 20, 4, 0.3, top_t=5, seed=1).sample(seeds)
    assert out.neighbors.shape == out.weights.shape == (graph.num_nodes, 5)
    assert out.neighbors.dtype == np.int64 and out.weights.dtype == np.float32
    sums = out.weights.sum(axis=1)
    reached = out.neighbors[:, 0] >= 0
    np.testing.assert_allclose(sums[reached], 1.0, rtol=1e-5)
    assert (sums[~reached] == 0).all()
    for i, s in enumerate(seeds):
        nbrs = out.neighbors[i][out.neighbors[i] >= 0]
        assert s not in nbrs
        assert len(set(nbrs.tolist())) == nbrs.size
        # Padding only at the end; weights non-increasing.
        k = nbrs.size
        assert (out.neighbors[i, k:] == -1).all() and (out.weights[i, k:] == 0).all()
        assert (np.diff(out.weights[i, :k]) <= 1e-7).all()
        # Within walk_length hops of the seed.
        frontier, seen = {int(s)}, {int(s)}
        for _ in range(4):
            frontier = {int(v) for u in frontier for v in graph.neighbors(u)} - seen
            seen |= frontier
        assert set(nbrs.tolist()) <= seen


def test_favours_nodes_with_more_paths():
    # Seed 0 reaches 1, 2, 3; node 4 is behind all three (3 paths), node 5 behind 1 only.
    src = [0, 0, 0, 1, 2, 3, 1]
    dst = [1, 2, 3, 4, 4, 4, 5]
    g = CSRGraph.from_edges(src, dst, 6, symmetrize=True)
    out = PinSAGESampler(g, 2000, 2, 0.0, top_t=6, seed=3).sample(np.array([0]))
    w = dict(zip(out.neighbors[0].tolist(), out.weights[0].tolist(), strict=True))
    assert w[4] > 1.5 * w[5]


def test_deterministic_across_threads_and_seed_sensitive():
    rng = np.random.default_rng(0)
    g = CSRGraph.from_edges(rng.integers(0, 500, 4000), rng.integers(0, 500, 4000), 500)
    sampler = PinSAGESampler(g, 30, 3, 0.5, top_t=10, seed=7)
    seeds = np.arange(500)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sampler.sample(seeds, epoch=1)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sampler.sample(seeds, epoch=1)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.neighbors, two.neighbors)
    np.testing.assert_array_equal(one.weights, two.weights)
    other = PinSAGESampler(g, 30, 3, 0.5, top_t=10, seed=8).sample(seeds, epoch=1)
    assert not np.array_equal(one.weights, other.weights)


def test_bad_arguments():
    g = CSRGraph.from_edges([0], [1], 2)
    with pytest.raises(SamplerError, match="top_t"):
        PinSAGESampler(g, 10, 3, 0.5, top_t=0)
    with pytest.raises(SamplerError, match="restart_prob"):
        PinSAGESampler(g, 10, 3, 1.5, top_t=3)
    with pytest.raises(SamplerError, match="seeds row 0"):
        PinSAGESampler(g, 10, 3, 0.5, top_t=3).sample(np.array([9]))
