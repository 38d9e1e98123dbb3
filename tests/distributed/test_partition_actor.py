"""PartitionActors on a real local Ray: distributed full inference and incremental updates equal
the single-process reference; a killed actor recovers from its event log to the same state."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

import inference_models
from inference_models import GcnModel
from inference_oracle import Oracle

from dsgraph.graph import CSRGraph
from dsgraph.inference.events import AddEdge, AddNode, RemoveEdge, UpdateFeatures
from dsgraph.inference.full import layerwise_inference

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def _models_by_value():
    """The test models live outside the package: ship their code to the workers by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(inference_models)
    yield
    cloudpickle.unregister_pickle_by_value(inference_models)


TOL = 1e-5
FEAT = 4


@pytest.fixture(scope="module")
def hub_graph():
    rng = np.random.default_rng(7)
    n = 300
    src, dst = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    dst[:200] = 0  # node 0 is a hub: its edges span every part
    graph = CSRGraph.from_edges(src, dst, n, symmetrize=True, drop_self_loops=True, dedupe=True)
    x = torch.from_numpy(rng.normal(size=(n, FEAT))).float()
    return graph, x


def random_batch(rng, engine, size: int):
    events = []
    for _ in range(size):
        u, v = (int(a) for a in rng.integers(0, engine.num_nodes, 2))
        if rng.random() < 0.3:
            v = 0
        if u != v:
            events.append(RemoveEdge(u, v) if engine.has_edge(u, v) else AddEdge(u, v))
    events.append(UpdateFeatures(int(rng.integers(0, engine.num_nodes)), rng.normal(size=FEAT)))
    return events


@pytest.fixture(scope="module")
def engine(ray_session, hub_graph, tmp_path_factory):
    from dsgraph.distributed.partition_engine import PartitionEngine

    graph, x = hub_graph
    model = GcnModel(FEAT, hidden=8)
    eng = PartitionEngine(
        model,
        graph,
        x,
        num_parts=4,
        hub_threshold=50,
        backend="ray",
        log_dir=tmp_path_factory.mktemp("partlog"),
        timeout_s=60,
    )
    yield model, eng
    eng.shutdown()


def test_metis_partition_has_hub_mirrors(engine):
    _, eng = engine
    assert eng.num_parts == 4
    assert eng.hub[0]
    assert len(set(eng.owner.tolist())) == 4


def test_full_inference_matches_single_process(engine, hub_graph):
    model, eng = engine
    graph, x = hub_graph
    emb = eng.full_inference()
    ref = layerwise_inference(model, graph, x)
    assert (emb - ref).abs().max().item() <= TOL
    assert eng.last_full_stats.messages > 0


def test_event_batches_match_full_recompute_and_killed_actor_recovers(engine, hub_graph):
    import ray

    model, eng = engine
    graph, x = hub_graph
    eng.full_inference()
    oracle = Oracle(graph, x, undirected=True)
    rng = np.random.default_rng(3)
    for _ in range(3):
        events = random_batch(rng, eng, 6)
        result = eng.apply(events)
        rejected = {r.index for r in result.rejected}
        oracle.apply([ev for i, ev in enumerate(events) if i not in rejected])
        ref = layerwise_inference(model, oracle.graph(), oracle.x)
        assert (eng.embeddings() - ref).abs().max().item() <= TOL
        assert result.nodes_recomputed > 0
    seqs = [s["last_seq"] for s in eng.status() if s["last_seq"] >= 0]
    assert seqs and max(seqs) == eng.seq

    # snapshot, then more events that live only in the logs, then kill a part holding a mirror
    eng.snapshot()
    events = [
        AddEdge(1, 0) if not eng.has_edge(1, 0) else RemoveEdge(1, 0),
        AddNode(features=np.ones(FEAT)),
        AddEdge(eng.num_nodes, 5),
    ]
    result = eng.apply(events)
    assert not result.rejected
    oracle.apply(events)
    before = eng.embeddings().clone()
    victim = int(eng.owner[1])
    old_pid = eng.status()[victim]["pid"]
    ray.kill(eng.actors[victim], no_restart=False)
    deadline = time.monotonic() + 60  # ray.kill is asynchronous: wait for the new incarnation
    while eng.status()[victim]["pid"] == old_pid and time.monotonic() < deadline:
        time.sleep(0.1)
    after = eng.recover()
    status = eng.status()[victim]
    assert status["pid"] != old_pid, "the actor was not restarted"
    assert status["replayed"] >= 1, "the restarted actor did not replay its event log"
    assert eng.last_recovery == "rebuild", "one lost part rebuilds alone, without a full wave"
    assert (after - before).abs().max().item() <= TOL
    ref = layerwise_inference(model, oracle.graph(), oracle.x)
    assert (after - ref).abs().max().item() <= TOL
    # a part that dies between batches is noticed by the next wave it takes part in
    victim = int(eng.owner[2])
    ray.kill(eng.actors[victim], no_restart=False)
    u = 2
    v = next(int(w) for w in rng.permutation(eng.num_nodes) if w != u and not eng.has_edge(u, w))
    result = eng.apply([AddEdge(u, v)])
    assert not result.rejected
    oracle.apply([AddEdge(u, v)])
    ref = layerwise_inference(model, oracle.graph(), oracle.x)
    assert (eng.embeddings() - ref).abs().max().item() <= TOL
    assert result.node_ids.size == eng.num_nodes  # recovery recomputed everything
    assert eng.last_recovery == "full wave"  # the wave ran without the lost part's messages
    # and it keeps working after the restart
    events = random_batch(rng, eng, 4)
    result = eng.apply(events)
    rejected = {r.index for r in result.rejected}
    oracle.apply([ev for i, ev in enumerate(events) if i not in rejected])
    ref = layerwise_inference(model, oracle.graph(), oracle.x)
    assert (eng.embeddings() - ref).abs().max().item() <= TOL
