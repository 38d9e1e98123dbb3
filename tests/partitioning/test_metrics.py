"""Metrics: hand-checked values on a tiny graph, hash baseline on a large one."""

from __future__ import annotations

import numpy as np
import pytest

from dsgraph.graph import CSRGraph
from partitioning.api import partition, random_partition
from partitioning.metrics import evaluate, imbalance
from partitioning.result import PartitionResult


def path_graph(n: int) -> CSRGraph:
    src = np.arange(n - 1)
    return CSRGraph.from_edges(src, src + 1, n, symmetrize=True)


def test_path_split_in_two_by_hand():
    # 0-1-2-3-4-5, parts {0,1,2} {3,4,5}: edges 2→3 and 3→2 are cut.
    graph = path_graph(6)
    result = PartitionResult.from_assignment(np.array([0, 0, 0, 1, 1, 1]), 2)
    m = evaluate(graph, result)
    assert m.edge_cut == 2
    assert m.edge_cut_fraction == pytest.approx(2 / 10)
    assert m.owned_nodes == [3, 3] and m.owned_edges == [5, 5]
    assert m.halo_nodes == [1, 1]
    assert m.vertex_imbalance == 0 and m.edge_imbalance == 0
    assert m.replication_factor == pytest.approx(8 / 6)
    assert m.comm_volume == 2 and m.halo_volume == 2


def test_halo_counts_distinct_nodes_and_train_imbalance():
    # Star: centre 0 in part 0, leaves 1..4 in part 1 → part 1 needs node 0 once.
    graph = CSRGraph.from_edges(np.zeros(4, np.int64), np.arange(1, 5), 5, symmetrize=True)
    result = PartitionResult.from_assignment(np.array([0, 1, 1, 1, 1]), 2)
    train = np.array([True, True, True, False, False])
    m = evaluate(graph, result, train)
    assert m.edge_cut == 8
    assert m.halo_nodes == [4, 1]
    assert m.train_nodes == [1, 2]
    assert m.train_imbalance == pytest.approx(2 / 1.5 - 1)
    assert m.vertex_imbalance == pytest.approx(4 / 2.5 - 1)


def test_mirrors_make_hub_edges_local(make_star_graph):
    graph = make_star_graph(400)
    plain = evaluate(graph, partition(graph, 4, hub_threshold=None, seed=0))
    split = evaluate(graph, partition(graph, 4, hub_threshold=50, seed=0))
    assert sum(split.mirror_nodes) > 0
    assert split.comm_volume == split.edge_cut + sum(split.mirror_nodes)
    assert split.edge_cut < plain.edge_cut
    assert split.edge_imbalance < plain.edge_imbalance


def test_imbalance_helper():
    assert imbalance(np.array([2, 2, 2])) == 0
    assert imbalance(np.array([3, 1])) == pytest.approx(0.5)
    assert imbalance(np.array([0, 0])) == 0


def test_random_hash_cuts_about_one_minus_one_over_k(rmat_graph):
    for k in (2, 4, 8):
        m = evaluate(rmat_graph, random_partition(rmat_graph, k, seed=0))
        assert m.edge_cut_fraction == pytest.approx(1 - 1 / k, abs=0.03)


def test_metis_beats_random_hash(rmat_graph):
    metis = evaluate(rmat_graph, partition(rmat_graph, 4, hub_threshold=40))
    rand = evaluate(rmat_graph, random_partition(rmat_graph, 4))
    assert metis.comm_volume < rand.comm_volume
    assert metis.halo_volume < rand.halo_volume
