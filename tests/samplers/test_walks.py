"""Random walks: exact transition laws (chi-square), edge validity, dead ends, determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from scipy.stats import chisquare

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph
from samplers.walks import RandomWalkSampler

from ._graphs import (
    assert_steps_are_edges,
    node2vec_graph,
    random_graphs,
    star_with_tails,
    weighted_star,
)

P_MIN = 0.001
N_WALKS = 20_000


def _first_step_counts(sampler: RandomWalkSampler, root: int, n_out: int) -> np.ndarray:
    walks = sampler.walk(np.full(N_WALKS, root), epoch=0)
    return np.bincount(walks[:, 1], minlength=n_out)


def _chi2_ok(counts: np.ndarray, probs: np.ndarray) -> float:
    support = probs > 0
    assert counts[~support].sum() == 0, "a zero-probability move was taken"
    expected = probs[support] / probs[support].sum() * counts.sum()
    return chisquare(counts[support], expected).pvalue


def test_uniform_first_step_is_uniform():
    g = star_with_tails()
    counts = _first_step_counts(RandomWalkSampler(g, 1, seed=3), 0, g.num_nodes)
    probs = np.array([0, 1, 1, 1, 1, 0, 0, 0], dtype=float)
    assert _chi2_ok(counts, probs) > P_MIN


@pytest.mark.parametrize("alpha", [-1.0, 1.0, 0.5])
@pytest.mark.parametrize("table", ["alias", "cdf"])
def test_degree_weighted_follows_deg_power(alpha, table):
    g = star_with_tails()
    sampler = RandomWalkSampler(g, 1, mode="degree", alpha=alpha, table=table, seed=5)
    counts = _first_step_counts(sampler, 0, g.num_nodes)
    deg = g.degrees().astype(float)
    probs = np.zeros(g.num_nodes)
    probs[[1, 2, 3, 4]] = deg[[1, 2, 3, 4]] ** alpha
    assert _chi2_ok(counts, probs) > P_MIN


@pytest.mark.parametrize("table", ["alias", "cdf"])
def test_edge_weighted_follows_weights(table):
    g = weighted_star()
    sampler = RandomWalkSampler(g, 1, mode="weighted", table=table, seed=7)
    counts = _first_step_counts(sampler, 0, g.num_nodes)
    probs = np.array([0, 1, 2, 0, 3, 4], dtype=float)
    assert _chi2_ok(counts, probs) > P_MIN


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("p", "q"), [(0.5, 2.0), (4.0, 0.25)])
def test_node2vec_second_order_rule(weighted, p, q):
    g = node2vec_graph(weighted)
    mode = "weighted" if weighted else "uniform"
    sampler = RandomWalkSampler(g, 2, mode=mode, p=p, q=q, seed=11)
    walks = sampler.walk(np.zeros(4 * N_WALKS, dtype=np.int64))
    via_1 = walks[walks[:, 1] == 1]
    counts = np.bincount(via_1[:, 2], minlength=g.num_nodes)
    # From t=0 at v=1: x=0 returns (1/p), x=2 is t's neighbour (1), x=3, 4 are farther (1/q).
    w_1x = g.edge_weights(1).astype(float)  # row of 1 is [0, 2, 3, 4]
    probs = np.zeros(g.num_nodes)
    probs[[0, 2, 3, 4]] = w_1x * np.array([1 / p, 1.0, 1 / q, 1 / q])
    assert _chi2_ok(counts, probs) > P_MIN
    # And the first step is still first-order.
    first = np.bincount(walks[:, 1], minlength=g.num_nodes)
    w_0x = np.zeros(g.num_nodes)
    w_0x[[1, 2]] = g.edge_weights(0)
    assert _chi2_ok(first, w_0x) > P_MIN


def test_restart_frequency_matches():
    # A directed path: the root can only be re-entered by a restart.
    n = 40
    g = CSRGraph.from_edges(np.arange(n - 1), np.arange(1, n), n)
    rp = 0.3
    walks = RandomWalkSampler(g, 10, restart_prob=rp, seed=2).walk(np.zeros(5000, np.int64))
    restarts = int((walks[:, 1:] == 0).sum())
    steps = walks[:, 1:].size
    p = chisquare([restarts, steps - restarts], [rp * steps, (1 - rp) * steps]).pvalue
    assert p > P_MIN


@settings(max_examples=40, deadline=None)
@given(random_graphs())
def test_every_step_follows_an_edge(graph):
    starts = np.arange(graph.num_nodes, dtype=np.int64)
    for mode in ("uniform", "degree", "weighted"):
        walks = RandomWalkSampler(graph, 8, mode=mode, p=0.5, q=2.0, seed=1).walk(starts)
        assert walks.shape == (graph.num_nodes, 9) and walks.dtype == np.int64
        assert (walks[:, 0] == starts).all()
        # No restarts here, so the root may only reappear through a real edge.
        for w in range(walks.shape[0]):
            for s in range(1, walks.shape[1]):
                a, b = walks[w, s - 1], walks[w, s]
                if a < 0:
                    assert b < 0
                elif b >= 0:
                    assert graph.has_edge(int(a), int(b))
                else:
                    assert graph.degrees()[a] == 0  # stopped only at a dead end


@settings(max_examples=30, deadline=None)
@given(random_graphs())
def test_restart_dead_end_policy_stays_on_edges(graph):
    starts = np.arange(graph.num_nodes, dtype=np.int64)
    sampler = RandomWalkSampler(graph, 8, dead_end="restart", restart_prob=0.2, seed=4)
    walks = sampler.walk(starts)
    assert_steps_are_edges(graph, walks, starts)
    live = graph.degrees() > 0
    # A walk stops only when its root is itself a dead end.
    stopped = (walks < 0).any(axis=1)
    assert not (stopped & live[starts]).any()


def test_dead_end_policies():
    # 0 → 1 → 2 (sink); 3 is isolated.
    g = CSRGraph.from_edges([0, 1], [1, 2], 4)
    stop = RandomWalkSampler(g, 4, dead_end="stop").walk(np.array([0, 3]))
    assert stop.tolist() == [[0, 1, 2, -1, -1], [3, -1, -1, -1, -1]]
    again = RandomWalkSampler(g, 6, dead_end="restart").walk(np.array([0, 3]))
    assert again.tolist() == [[0, 1, 2, 0, 1, 2, 0], [3, -1, -1, -1, -1, -1, -1]]


def test_zero_weight_row_is_a_dead_end():
    g = CSRGraph.from_edges([0, 1], [1, 0], 2, [1.0, 0.0])
    walks = RandomWalkSampler(g, 3, mode="weighted").walk(np.array([0, 1]))
    assert walks.tolist() == [[0, 1, -1, -1], [1, -1, -1, -1]]
    assert RandomWalkSampler(g, 3, mode="weighted").default_starts().tolist() == [0]


def _big_graph() -> CSRGraph:
    rng = np.random.default_rng(0)
    n, m = 3000, 30_000
    w = rng.uniform(0.5, 2.0, m)
    return CSRGraph.from_edges(rng.integers(0, n, m), rng.integers(0, n, m), n, w, dedupe=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mode": "degree"},
        {"mode": "weighted", "table": "cdf"},
        {"mode": "weighted", "p": 0.5, "q": 2.0, "restart_prob": 0.1, "dead_end": "restart"},
    ],
)
def test_same_seed_same_walks_for_any_threads_and_interleaving(kwargs):
    g = _big_graph()
    sampler = RandomWalkSampler(g, 12, seed=9, **kwargs)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sampler.walk(epoch=3, in_flight=1)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sampler.walk(epoch=3, in_flight=64)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, sampler.walk(epoch=3, in_flight=7))
    other_seed = RandomWalkSampler(g, 12, seed=10, **kwargs).walk(epoch=3)
    assert (other_seed != one).mean() > 0.3
    assert (sampler.walk(epoch=4) != one).mean() > 0.3


def test_walks_of_a_subset_match_their_position_only():
    g = _big_graph()
    sampler = RandomWalkSampler(g, 5, seed=1)
    starts = sampler.default_starts()[:100]
    np.testing.assert_array_equal(sampler.walk(starts), sampler.walk(starts))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"walk_length": -1}, "walk_length"),
        ({"mode": "biased"}, "mode"),
        ({"p": 0.0}, "p must"),
        ({"q": float("inf")}, "q must"),
        ({"restart_prob": 1.0}, "restart_prob"),
        ({"dead_end": "loop"}, "dead_end"),
        ({"table": "tree"}, "table"),
        ({"seed": -3}, "seed"),
        ({"mode": "weighted"}, "edge weights"),
    ],
)
def test_bad_arguments_raise_sampler_error(kwargs, match):
    g = CSRGraph.from_edges([0, 1], [1, 0], 2)
    args = {"walk_length": 3, **kwargs}
    with pytest.raises(SamplerError, match=match):
        RandomWalkSampler(g, **args)


def test_bad_starts_name_the_row():
    g = CSRGraph.from_edges([0, 1], [1, 0], 2)
    with pytest.raises(SamplerError, match="starts row 1: node id 5"):
        RandomWalkSampler(g, 3).walk(np.array([0, 5]))
    with pytest.raises(SamplerError, match="integer"):
        RandomWalkSampler(g, 3).walk(np.array([0.5]))


def test_output_converts_to_torch_without_copy():
    import torch

    g = star_with_tails()
    walks = RandomWalkSampler(g, 4).walk(np.arange(8))
    tensor = torch.from_numpy(walks)
    assert tensor.dtype == torch.int64 and tensor.data_ptr() == walks.ctypes.data
