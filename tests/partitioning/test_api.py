"""partition(): ownership, hub shares, determinism, balance and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.errors import PartitionError
from dsgraph.graph import CSRGraph
from partitioning.api import partition, random_partition
from partitioning.metrics import evaluate


def check_hub_shares(graph: CSRGraph, result) -> None:
    """Every hub's copies hold disjoint shares whose counts and weights sum to its row."""
    hubs = result.hubs
    edge_part = result.edge_owner(graph)
    for i, hub in enumerate(hubs.hub_ids):
        lo, hi = graph.indptr[hub], graph.indptr[hub + 1]
        parts, counts, weights = hubs.copies_of(int(hub))
        assert counts.sum() == hi - lo
        np.testing.assert_allclose(weights.sum(), graph.edge_weights(int(hub)).sum(), rtol=1e-6)
        observed = np.bincount(edge_part[lo:hi], minlength=result.num_parts)
        np.testing.assert_array_equal(observed[parts], counts)
        assert observed.sum() == counts.sum()  # no share outside the listed copies
        assert hubs.master[i] in parts
        assert result.owner[hub] == hubs.master[i]
        assert counts[parts == hubs.master[i]][0] == counts.max()


@pytest.mark.parametrize("threshold", [None, 20])
def test_every_node_has_one_owner_and_edges_one_owner(rmat_graph, threshold):
    result = partition(rmat_graph, 4, hub_threshold=threshold, seed=1)
    assert result.owner.shape == (rmat_graph.num_nodes,)
    assert result.owner.min() >= 0 and result.owner.max() < 4
    edge_part = result.edge_owner(rmat_graph)
    assert edge_part.shape == (rmat_graph.num_edges,)
    assert edge_part.min() >= 0 and edge_part.max() < 4
    # Ordinary nodes own their whole row.
    src = np.repeat(np.arange(rmat_graph.num_nodes), rmat_graph.degrees())
    ordinary = ~np.isin(src, result.hubs.hub_ids)
    np.testing.assert_array_equal(edge_part[ordinary], result.owner[src[ordinary]])
    if threshold is None:
        assert result.hubs.num_hubs == 0
    else:
        assert result.hubs.num_hubs == int((rmat_graph.degrees() > threshold).sum())
        assert result.hubs.num_mirrors() > 0
        check_hub_shares(rmat_graph, result)


def test_weighted_hub_weight_shares_sum_to_row_weight(make_random_graph):
    graph = make_random_graph(300, 3000, seed=2, weighted=True)
    result = partition(graph, 3, hub_threshold=8, seed=0)
    assert result.hubs.num_hubs > 0
    check_hub_shares(graph, result)


def test_star_hub_is_split_over_parts(make_star_graph):
    graph = make_star_graph(400)
    result = partition(graph, 4, hub_threshold=50, seed=0)
    parts, counts, _ = result.hubs.copies_of(0)
    assert parts.size > 1  # the hub's edges are spread, not all in one part
    assert counts.sum() == 400


def test_same_seed_same_partition_and_other_seed_differs(rmat_graph):
    a = partition(rmat_graph, 8, hub_threshold=30, seed=5)
    b = partition(rmat_graph, 8, hub_threshold=30, seed=5)
    np.testing.assert_array_equal(a.owner, b.owner)
    np.testing.assert_array_equal(a.hub_edge_part, b.hub_edge_part)
    np.testing.assert_array_equal(a.hubs.copy_part, b.hubs.copy_part)
    c = partition(rmat_graph, 8, hub_threshold=30, seed=6)
    assert not np.array_equal(a.owner, c.owner)


def test_k1_is_trivial(rmat_graph):
    result = partition(rmat_graph, 1, hub_threshold=20)
    assert (result.owner == 0).all()
    assert (result.edge_owner(rmat_graph) == 0).all()
    assert result.hubs.num_mirrors() == 0


def test_k_equal_to_n_gives_one_node_per_part(make_random_graph):
    graph = make_random_graph(12, 30, seed=0)
    result = partition(graph, 12, hub_threshold=None)
    assert sorted(result.owner.tolist()) == list(range(12))


@pytest.mark.parametrize(
    ("k", "message"),
    [(0, "≥ 1"), (-3, "≥ 1"), (11, "exceeds the number of nodes"), (2.5, "integer")],
)
def test_bad_k_is_a_clear_error(k, message, make_random_graph):
    graph = make_random_graph(10, 20, seed=0)
    with pytest.raises(PartitionError, match=message):
        partition(graph, k)


def test_empty_graph_is_a_clear_error():
    empty = CSRGraph(np.zeros(1, np.int64), np.empty(0, np.int32))
    with pytest.raises(PartitionError, match="empty graph"):
        partition(empty, 2)
    with pytest.raises(PartitionError, match="empty graph"):
        random_partition(empty, 2)


def test_bad_options_are_clear_errors(rmat_graph):
    with pytest.raises(PartitionError, match="balance 'cut'"):
        partition(rmat_graph, 2, balance="cut")
    with pytest.raises(PartitionError, match="hub threshold"):
        partition(rmat_graph, 2, hub_threshold=0)
    with pytest.raises(PartitionError, match="train mask"):
        partition(rmat_graph, 2, train_mask=np.ones(3, bool))


def test_directed_graph_is_symmetrised_with_a_warning_and_keeps_directions():
    rng = np.random.default_rng(4)
    src, dst = rng.integers(0, 200, 1500), rng.integers(0, 200, 1500)
    graph = CSRGraph.from_edges(src, dst, 200)
    assert not graph.is_symmetric()
    with pytest.warns(UserWarning, match="directed graph"):
        result = partition(graph, 4, hub_threshold=15)
    check_hub_shares(graph, result)
    assert result.edge_owner(graph).size == graph.num_edges


def test_isolated_nodes_are_spread_evenly():
    # 100 linked nodes and 900 isolated ones: METIS never sees the isolated ones.
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 100, 400), rng.integers(0, 100, 400)
    graph = CSRGraph.from_edges(src, dst, 1000, symmetrize=True, drop_self_loops=True)
    result = partition(graph, 4, hub_threshold=None)
    counts = np.bincount(result.owner, minlength=4)
    assert counts.max() - counts.min() <= 1
    isolated = np.flatnonzero(graph.degrees() == 0)
    per_part = np.bincount(result.owner[isolated], minlength=4)
    assert per_part.min() > 150  # no part got them all


def test_graph_with_no_edges_is_spread_round():
    graph = CSRGraph(np.zeros(11, np.int64), np.empty(0, np.int32))
    result = partition(graph, 3)
    assert sorted(np.bincount(result.owner).tolist()) == [3, 3, 4]  # 10 nodes


def test_hub_splitting_with_balance_meets_five_percent(rmat_graph):
    for k in (4, 8):
        result = partition(rmat_graph, k, hub_threshold=40, balance="nodes+edges", seed=0)
        m = evaluate(rmat_graph, result)
        assert m.vertex_imbalance <= 0.05, m
        assert m.edge_imbalance <= 0.05, m


def test_train_nodes_are_balanced(rmat_graph):
    rng = np.random.default_rng(1)
    train = rng.random(rmat_graph.num_nodes) < 0.1
    result = partition(rmat_graph, 4, hub_threshold=40, train_mask=train, seed=0)
    assert "train" in result.balance
    m = evaluate(rmat_graph, result, train)
    assert m.train_imbalance <= 0.05, m
    assert m.vertex_imbalance <= 0.05, m


def test_random_partition_is_deterministic_and_seeded(rmat_graph):
    a = random_partition(rmat_graph, 4, seed=0)
    np.testing.assert_array_equal(a.owner, random_partition(rmat_graph, 4, seed=0).owner)
    assert not np.array_equal(a.owner, random_partition(rmat_graph, 4, seed=1).owner)
    counts = np.bincount(a.owner, minlength=4)
    assert counts.min() > 0.2 * rmat_graph.num_nodes


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 60),
    m=st.integers(0, 300),
    k=st.integers(1, 6),
    threshold=st.sampled_from([None, 3, 8]),
    directed=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_partition_invariants_on_random_small_graphs(n, m, k, threshold, directed, seed):
    k = min(k, n)
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    weight = rng.uniform(0.1, 3.0, m).astype(np.float32)
    graph = CSRGraph.from_edges(src, dst, n, weight, symmetrize=not directed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = partition(graph, k, hub_threshold=threshold, seed=seed)
    assert result.owner.min() >= 0 and result.owner.max() < k
    edge_part = result.edge_owner(graph)
    assert edge_part.size == graph.num_edges
    check_hub_shares(graph, result)


@pytest.mark.parametrize("method", ["kway", "recursive"])
def test_both_metis_methods_keep_the_invariants(rmat_graph, method):
    result = partition(rmat_graph, 4, hub_threshold=30, method=method)
    check_hub_shares(rmat_graph, result)
    m = evaluate(rmat_graph, result)
    assert m.vertex_imbalance <= 0.05 and m.edge_imbalance <= 0.05


def test_unknown_method_is_a_clear_error(rmat_graph):
    with pytest.raises(PartitionError, match="method 'spectral'"):
        partition(rmat_graph, 2, method="spectral")


def test_hub_edges_follow_their_neighbour_when_the_hub_is_there(rmat_graph):
    # Re-homing: an edge h → u lives in u's part whenever h has a copy there (balance repair
    # may move a few low-degree u afterwards, hence "almost all").
    result = partition(rmat_graph, 4, hub_threshold=30)
    hubs = result.hubs
    copy_key = hubs.copy_hub() * 4 + hubs.copy_part
    edge_part = result.edge_owner(rmat_graph)
    src = np.repeat(np.arange(rmat_graph.num_nodes), rmat_graph.degrees())
    dst = rmat_graph.indices.astype(np.int64)
    is_hub = np.zeros(rmat_graph.num_nodes, bool)
    is_hub[hubs.hub_ids] = True
    sel = is_hub[src] & ~is_hub[dst]
    has_copy_there = np.isin(src[sel] * 4 + result.owner[dst[sel]], copy_key)
    follows = edge_part[sel][has_copy_there] == result.owner[dst[sel]][has_copy_there]
    assert has_copy_there.sum() > 0
    assert follows.mean() > 0.97


def test_edge_weights_steer_metis_away_from_heavy_edges():
    # Four planted groups: sparse heavy edges inside groups, denser light edges between them.
    rng = np.random.default_rng(0)
    n, groups = 400, 4
    group = np.arange(n) % groups
    src, dst = rng.integers(0, n, 6000), rng.integers(0, n, 6000)
    inside = group[src] == group[dst]
    keep = inside | (rng.random(src.size) < 0.5)
    src, dst, inside = src[keep], dst[keep], inside[keep]
    weight = np.where(inside, 50.0, 1.0).astype(np.float32)
    graph = CSRGraph.from_edges(
        src, dst, n, weight, symmetrize=True, drop_self_loops=True, dedupe=True
    )

    def cut_weight(result) -> float:
        s, d = graph.edges()
        return float(graph.weights[result.owner[s] != result.owner[d]].sum())

    plain = partition(graph, groups, hub_threshold=None, seed=0)
    weighted = partition(graph, groups, hub_threshold=None, seed=0, edge_weights=True)
    assert cut_weight(weighted) < 0.5 * cut_weight(plain)
    split = partition(graph, groups, hub_threshold=20, seed=0, edge_weights=True)
    check_hub_shares(graph, split)


def test_edge_weights_need_a_weighted_graph(rmat_graph):
    with pytest.raises(PartitionError, match="needs a weighted graph"):
        partition(rmat_graph, 2, edge_weights=True)
