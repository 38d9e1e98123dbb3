"""Exactness of incremental updates: after random event sequences, embeddings equal a full
recompute on the modified graph (max abs diff ≤ 1e-5, fp32) — single process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inference_models import GcnModel, LightGcnModel, SageModel
from inference_oracle import Oracle

from dsgraph.graph import CSRGraph
from dsgraph.inference.events import AddEdge, AddNode, EventError, RemoveEdge, UpdateFeatures
from dsgraph.inference.full import layerwise_inference
from dsgraph.inference.incremental import IncrementalEngine

from ._helpers import dense_layers

TOL = 1e-5


FEAT = 4


def random_graph(rng: np.random.Generator, n: int, m: int, undirected: bool) -> CSRGraph:
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    return CSRGraph.from_edges(
        src, dst, n, symmetrize=undirected, drop_self_loops=True, dedupe=True
    )


def make_model(kind: str, n: int):
    if kind == "sage":
        return SageModel(FEAT, hidden=8)
    if kind == "gcn":
        return GcnModel(FEAT, hidden=8)
    return LightGcnModel(n, dim=6)


def random_events(rng, engine, count: int, with_nodes: bool):
    """A valid-looking batch drawn against the engine's current graph (some may be invalid)."""
    events = []
    n = engine.num_nodes
    for _ in range(count):
        r = rng.random()
        u, v = (int(x) for x in rng.integers(0, n, 2))
        if r < 0.45:
            events.append(RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v))
        elif r < 0.75:
            # remove an existing edge out of a random node (exercises deletions)
            nbrs = engine.part.out_adj.row(u)[0]
            if nbrs.size:
                events.append(RemoveEdge(u, int(nbrs[rng.integers(nbrs.size)])))
        elif with_nodes and r < 0.9:
            events.append(UpdateFeatures(u, rng.normal(size=FEAT)))
        elif with_nodes:
            events.append(AddNode(features=rng.normal(size=FEAT)))
            n += 1
            events.append(AddEdge(n - 1, v))
    return events


def check_equal(engine: IncrementalEngine, model, oracle: Oracle) -> None:
    ref = layerwise_inference(model, oracle.graph(), oracle.x)
    got = engine.embeddings()
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() <= TOL


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["sage", "gcn", "lightgcn"]),
    undirected=st.booleans(),
    n=st.integers(3, 30),
    batches=st.integers(1, 4),
    batch_size=st.integers(1, 6),
    dense=st.booleans(),
)
def test_random_event_sequences_match_full_recompute(
    seed, kind, undirected, n, batches, batch_size, dense
):
    """``dense`` toggles the whole-layer sparse product used for large frontiers."""
    with dense_layers(dense):
        _random_event_sequences(seed, kind, undirected, n, batches, batch_size)


def _random_event_sequences(seed, kind, undirected, n, batches, batch_size):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, n, 3 * n, undirected)
    model = make_model(kind, n)
    x = None if kind == "lightgcn" else torch.from_numpy(rng.normal(size=(n, FEAT))).float()
    engine = IncrementalEngine(model, graph, x, undirected=undirected)
    oracle = Oracle(graph, x, undirected)
    engine.full_inference()
    check_equal(engine, model, oracle)
    for _ in range(batches):
        events = random_events(rng, engine, batch_size, with_nodes=x is not None)
        result = engine.apply(events)
        rejected = {r.index for r in result.rejected}
        oracle.apply([ev for i, ev in enumerate(events) if i not in rejected])
        check_equal(engine, model, oracle)
        # the reported rows are the new embeddings of those nodes
        if result.node_ids.size:
            assert torch.equal(
                engine.embeddings()[torch.from_numpy(result.node_ids)], result.embeddings
            )


def changed_rows(before: torch.Tensor, after: torch.Tensor) -> set[int]:
    """Nodes whose row differs at all between two full recomputes (new rows count)."""
    n_old = before.shape[0]
    diff = (after[:n_old] != before).any(dim=1).nonzero().flatten().tolist()
    return set(diff) | set(range(n_old, after.shape[0]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["lightgcn", "sage"]),
    undirected=st.booleans(),
    n=st.integers(8, 60),
    dense=st.booleans(),
)
def test_recomputes_exactly_the_nodes_whose_value_changes(seed, kind, undirected, n, dense):
    """Per layer, the nodes the engine recomputes are exactly those whose h^l differs between a
    full recompute before and after the event (a linear SAGE, so no ReLU hides a change): no
    change is missed and no node is recomputed whose value cannot change. The one exception is
    a value coincidence the structure cannot see: a row that is zero before and after (e.g. a
    new edge from a node without in-edges carries an all-zero message)."""
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, n, 3 * n, undirected)
    x = None if kind == "lightgcn" else torch.from_numpy(rng.normal(size=(n, FEAT))).float()
    model = LightGcnModel(n, dim=6) if kind == "lightgcn" else SageModel(FEAT, 8, activation=False)
    with dense_layers(dense):
        engine = IncrementalEngine(model, graph, x, undirected=undirected)
        engine.full_inference()
        before = layerwise_inference(model, graph, x, return_layers=True)
        oracle = Oracle(graph, x, undirected)
        for _ in range(3):
            u, v = (int(a) for a in rng.integers(0, n, 2))
            if u == v:
                continue
            if kind == "sage" and rng.random() < 0.3:
                event = UpdateFeatures(u, rng.normal(size=FEAT))
            else:
                event = RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v)
            result = engine.apply([event])
            assert not result.rejected
            oracle.apply([event])
            after = layerwise_inference(model, oracle.graph(), oracle.x, return_layers=True)
            final_changed = set()
            for layer in range(1, model.num_layers + 1):
                want = changed_rows(before[layer], after[layer])
                got = engine.part.last_recomputed[layer - 1].tolist()
                assert len(got) == len(set(got)), "a node recomputed twice in one layer"
                assert want <= set(got), f"layer {layer}: missed {sorted(want - set(got))}"
                extra = sorted(set(got) - want)
                zero = (after[layer][extra] == 0).all(dim=1) & (before[layer][extra] == 0).all(
                    dim=1
                )
                assert zero.all(), f"layer {layer}: recomputed unchanged nodes {extra}"
                final_changed |= want
            assert result.nodes_recomputed == sum(p.size for p in engine.part.last_recomputed)
            assert final_changed <= set(result.node_ids.tolist())
            before = after


def test_update_recomputes_far_less_than_full_graph():
    rng = np.random.default_rng(0)
    graph = random_graph(rng, 3000, 9000, undirected=True)
    model = SageModel(FEAT, hidden=8)
    x = torch.from_numpy(rng.normal(size=(3000, FEAT))).float()
    engine = IncrementalEngine(model, graph, x)
    engine.full_inference()
    u, v = 1, 2
    ev = RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v)
    result = engine.apply([ev])
    # 2 layers over an average degree of ~6: a few dozen nodes, not 2 × 3000
    assert 0 < result.nodes_recomputed < 0.05 * 2 * 3000
    assert result.messages_sent == 0
    assert result.latency_ms > 0


def test_degree_change_propagates_for_sym_models():
    """Adding u–v changes deg(u), deg(v): their other neighbours' embeddings must change."""
    graph = CSRGraph.from_edges([0, 1, 2], [1, 2, 3], 5, symmetrize=True)
    model = GcnModel(FEAT, hidden=8)
    x = torch.randn(5, FEAT)
    engine = IncrementalEngine(model, graph, x)
    before = engine.full_inference().clone()
    result = engine.apply([AddEdge(1, 4)])
    changed = set(result.node_ids.tolist())
    # node 0 is not adjacent to 4, but its neighbour 1's degree changed → 0 changes
    assert 0 in changed
    assert not torch.allclose(before[0], engine.embeddings()[0])
    oracle = Oracle(graph, x, True)
    oracle.apply([AddEdge(1, 4)])
    check_equal(engine, model, oracle)


def test_rejects_malformed_events_and_applies_the_rest():
    graph = CSRGraph.from_edges([0, 1], [1, 2], 4, symmetrize=True)
    x = torch.randn(4, FEAT)
    model = SageModel(FEAT)
    engine = IncrementalEngine(model, graph, x)
    engine.full_inference()
    events = [
        AddEdge(0, 9),  # unknown node
        RemoveEdge(0, 3),  # not an edge
        UpdateFeatures(1, [1.0, 2.0]),  # wrong width
        AddEdge(2, 3),  # fine
        RemoveEdge(2, 3),  # fine: removes the edge added just before
        RemoveEdge(2, 3),  # duplicate removal
    ]
    result = engine.apply(events)
    reasons = {r.index: r.reason for r in result.rejected}
    assert set(reasons) == {0, 1, 2, 5}
    assert "unknown node" in reasons[0] and "9" in reasons[0]
    assert "does not exist" in reasons[1]
    assert "wrong feature width 2, expected 4" in reasons[2]
    assert "does not exist" in reasons[5]
    assert result.applied == 2
    assert not engine.has_edge(2, 3)


def test_atomic_batch_is_refused_whole():
    graph = CSRGraph.from_edges([0, 1], [1, 2], 4, symmetrize=True)
    x = torch.randn(4, FEAT)
    engine = IncrementalEngine(SageModel(FEAT), graph, x)
    before = engine.full_inference().clone()
    with pytest.raises(EventError, match="event 1: unknown node"):
        engine.apply([AddEdge(2, 3), AddEdge(0, 7)], atomic=True)
    assert not engine.has_edge(2, 3)
    assert torch.equal(engine.embeddings(), before)


def test_id_embedding_model_cannot_add_nodes():
    graph = CSRGraph.from_edges([0, 1], [1, 2], 3, symmetrize=True)
    engine = IncrementalEngine(LightGcnModel(3), graph)
    engine.full_inference()
    result = engine.apply([AddNode()])
    assert result.applied == 0
    assert "embeds nodes by id" in result.rejected[0].reason


def test_weighted_sum_model_uses_edge_weights():
    """A 'sum' model with edge_weighted=True aggregates Σ w·h; incremental stays exact."""

    class SumModel(torch.nn.Module):
        aggregation = "sum"
        self_loops = False
        edge_weighted = True
        num_layers = 2

        def input_embedding(self, node_ids, x):
            return x

        def layer_update(self, layer, agg, h_self):
            return torch.tanh(agg + h_self)

        def combine(self, hs):
            return hs[-1]

    graph = CSRGraph.from_edges([0, 1, 2], [1, 2, 3], 4, [0.5, 2.0, 1.5], symmetrize=True)
    x = torch.randn(4, 3)
    model = SumModel()
    engine = IncrementalEngine(model, graph, x)
    engine.full_inference()
    oracle = Oracle(graph, x, True)
    events = [AddEdge(0, 3, weight=3.0), RemoveEdge(1, 2)]
    engine.apply(events)
    oracle.apply(events)
    check_equal(engine, model, oracle)
