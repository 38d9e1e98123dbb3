"""The wave protocol across several in-process parts with hub mirrors: exactness and routing.

The same PartState steps run inside Ray actors (tests/distributed/test_partition_actor.py);
here they run in one process so the invariants can be checked on every mail.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inference_models import GcnModel, LightGcnModel, SageModel
from inference_oracle import Oracle

from dsgraph.distributed.partition_engine import PartitionEngine
from dsgraph.graph import CSRGraph
from dsgraph.inference.events import AddEdge, AddNode, RemoveEdge, UpdateFeatures
from dsgraph.inference.full import layerwise_inference
from dsgraph.inference.incremental import LocalTransport

from ._helpers import dense_layers, eager_compaction

TOL = 1e-5


FEAT = 4


class RecordingTransport(LocalTransport):
    """Delivers mail like LocalTransport and records (sender, receiver, mail) triples."""

    def __init__(self, parts):
        super().__init__(parts)
        self.sent: list[tuple[int, int, object]] = []

    def mail(self, handle, dest):
        m = handle[1 + dest]
        self.sent.append((handle[0].part, dest, m))
        return m


def hub_graph(rng, n: int, undirected: bool = True, weighted: bool = False) -> CSRGraph:
    """Random graph where nodes 0 and 1 are hubs (many in-edges from every part)."""
    m = 3 * n
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    # Every node sends an edge into 0 and into 1, so both are hubs whatever the random draw.
    src[:n], dst[:n] = np.arange(n), 0
    src[n : 2 * n], dst[n : 2 * n] = np.arange(n), 1
    w = rng.uniform(0.5, 2.0, m).astype(np.float32) if weighted else None
    return CSRGraph.from_edges(
        src, dst, n, w, symmetrize=undirected, drop_self_loops=True, dedupe=True
    )


def make_engine(kind, graph, x, owner, undirected, weighted=False):
    model = {
        "sage": lambda: SageModel(FEAT, hidden=8),
        "gcn": lambda: GcnModel(FEAT, hidden=8),
        "lightgcn": lambda: LightGcnModel(graph.num_nodes, dim=6),
    }[kind]()
    model.edge_weighted = weighted
    engine = PartitionEngine(
        model,
        graph,
        x,
        num_parts=4,
        partition=owner,
        hub_threshold=4,
        undirected=undirected,
        backend="local",
    )
    engine.transport = RecordingTransport(engine.parts)
    engine.driver.t = engine.transport
    return model, engine


def check_routing(engine) -> None:
    """Halo rows go only to parts holding the node as halo; partials only to hub masters."""
    parts = engine.parts
    for sender, dest, mail in engine.transport.sent:
        assert sender != dest
        recv = parts[dest]
        for hr in mail.halo:
            lids = recv.g2l[hr.nodes]
            assert (lids >= 0).all()
            assert all(int(v) in recv.halo_nodes for v in lids), "halo row to a non-holder"
            assert (engine.owner[hr.nodes] == sender).all()
        for pr in mail.partials:
            assert (engine.owner[pr.nodes] == dest).all(), "partial not sent to the master"
            assert engine.hub[pr.nodes].all(), "partial for a node that is not a hub"
    engine.transport.sent.clear()


def features_of(engine) -> torch.Tensor:
    rows = {}
    for p in engine.parts:
        ids = p.owned_ids()
        for g, lv in zip(ids.tolist(), p.g2l[ids].tolist(), strict=True):
            rows[g] = p.features[lv]
    return torch.stack([rows[i] for i in range(engine.num_nodes)])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["sage", "gcn", "lightgcn"]),
    undirected=st.booleans(),
    n=st.integers(12, 40),
    batches=st.integers(1, 3),
    dense=st.booleans(),
    weighted=st.booleans(),
    compact=st.booleans(),
)
def test_four_parts_with_hub_mirrors_match_full_recompute(
    seed, kind, undirected, n, batches, dense, weighted, compact
):
    """``weighted``: edge weights enter degrees and sums (hub totals from the driver);
    ``compact``: edited rows are folded into the base CSRs after every batch."""
    with dense_layers(dense), eager_compaction(compact):
        _four_parts(seed, kind, undirected, n, batches, weighted)


def _four_parts(seed, kind, undirected, n, batches, weighted):
    rng = np.random.default_rng(seed)
    graph = hub_graph(rng, n, undirected, weighted)
    x = None if kind == "lightgcn" else torch.from_numpy(rng.normal(size=(n, FEAT))).float()
    owner = rng.integers(0, 4, n)
    owner[:4] = np.arange(4)  # every part owns something
    model, engine = make_engine(kind, graph, x, owner, undirected, weighted)
    assert engine.hub[:2].all()
    emb = engine.full_inference()
    assert (emb - layerwise_inference(model, graph, x)).abs().max() <= TOL
    assert engine.last_full_stats.messages > 0
    check_routing(engine)
    oracle = Oracle(graph, x, undirected)
    for _ in range(batches):
        events = []
        for _ in range(5):
            u, v = (int(a) for a in rng.integers(0, engine.num_nodes, 2))
            hub = int(rng.integers(0, 2))
            if rng.random() < 0.3:
                u, v = (v, hub) if rng.random() < 0.5 else (hub, v)
            w = float(rng.uniform(0.5, 2.0)) if weighted else 1.0
            events.append(RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v, w))
        if x is not None:
            events.append(UpdateFeatures(int(rng.integers(0, n)), rng.normal(size=FEAT)))
            events.append(AddNode(features=rng.normal(size=FEAT)))
            events.append(AddEdge(engine.num_nodes, 0))  # new node → hub
        result = engine.apply(events)
        rejected = {r.index for r in result.rejected}
        oracle.apply([ev for i, ev in enumerate(events) if i not in rejected])
        check_routing(engine)
        ref = layerwise_inference(model, oracle.graph(), oracle.x)
        assert (engine.embeddings() - ref).abs().max().item() <= TOL
        if x is not None:
            assert torch.equal(features_of(engine), oracle.x)


def test_event_far_from_a_part_sends_it_nothing():
    """Two disconnected components on parts {0,1} and {2,3}: an event in one never mails 2, 3."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 20, (60, 2))
    b = rng.integers(20, 40, (60, 2))
    e = np.concatenate([a, b])
    graph = CSRGraph.from_edges(e[:, 0], e[:, 1], 40, symmetrize=True, drop_self_loops=True)
    owner = np.concatenate([np.arange(20) % 2, 2 + np.arange(20) % 2])
    x = torch.randn(40, FEAT)
    _, engine = make_engine("sage", graph, x, owner, True)
    engine.full_inference()
    engine.transport.sent.clear()
    u, v = 3, 4
    result = engine.apply([RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v)])
    assert result.messages_sent > 0
    assert all(dest in (0, 1) and s in (0, 1) for s, dest, _ in engine.transport.sent)
    check_routing(engine)


def test_snapshot_round_trip_keeps_structure():
    rng = np.random.default_rng(2)
    graph = hub_graph(rng, 30)
    x = torch.randn(30, FEAT)
    owner = rng.integers(0, 4, 30)
    model, engine = make_engine("gcn", graph, x, owner, True)
    engine.full_inference()
    engine.apply([AddEdge(5, 0), AddNode(features=np.ones(FEAT)), AddEdge(30, 7)])
    from dsgraph.inference.part_state import PartState

    for p in engine.parts:
        again = PartState(p.to_init(), model)
        a = p.in_adj.to_csr()
        b = again.in_adj.to_csr()
        # same edges (global ids), same subscriptions
        ea = set(
            zip(
                p.l2g[np.repeat(np.arange(p.n), np.diff(a[0]))].tolist(),
                p.l2g[a[1]].tolist(),
                strict=True,
            )
        )
        eb = set(
            zip(
                again.l2g[np.repeat(np.arange(again.n), np.diff(b[0]))].tolist(),
                again.l2g[b[1]].tolist(),
                strict=True,
            )
        )
        assert ea == eb
        subs_a = {(int(p.l2g[v]), q) for v, qs in p.subscribers.items() for q in qs}
        subs_b = {(int(again.l2g[v]), q) for v, qs in again.subscribers.items() for q in qs}
        assert subs_a == subs_b


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["sage", "gcn", "lightgcn"]),
    victim=st.integers(0, 3),
)
def test_restarted_part_rebuilds_alone_from_the_others(seed, kind, victim):
    """A part restarted from its structure (as after an actor crash) gets its halo rows and hub
    partials from the others and recomputes only itself; later waves stay exact."""
    from dsgraph.inference.part_state import PartState

    rng = np.random.default_rng(seed)
    n = 30
    graph = hub_graph(rng, n)
    x = None if kind == "lightgcn" else torch.from_numpy(rng.normal(size=(n, FEAT))).float()
    owner = rng.integers(0, 4, n)
    owner[:4] = np.arange(4)
    model, engine = make_engine(kind, graph, x, owner, True)
    engine.full_inference()
    oracle = Oracle(graph, x, True)
    events = [AddEdge(5, 0) if not engine.has_edge(5, 0) else RemoveEdge(5, 0)]
    events.append(RemoveEdge(7, 1) if engine.has_edge(7, 1) else AddEdge(7, 1))
    engine.apply(events)
    oracle.apply(events)
    before = engine.embeddings().clone()
    old = engine.parts[victim]
    fresh = PartState(old.to_init(), model)
    fresh.last_seq = old.last_seq
    engine.parts[victim] = engine.transport.parts[victim] = fresh
    after = engine.recover()
    assert engine.last_recovery == "rebuild"
    assert fresh.ready
    assert (after - before).abs().max().item() <= TOL
    for _ in range(2):
        u, v = (int(a) for a in rng.integers(0, n, 2))
        if u == v:
            continue
        batch = [RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v), AddEdge(u, 1)]
        result = engine.apply(batch)
        oracle.apply(
            [ev for i, ev in enumerate(batch) if i not in {r.index for r in result.rejected}]
        )
        ref = layerwise_inference(model, oracle.graph(), oracle.x)
        assert (engine.embeddings() - ref).abs().max().item() <= TOL
