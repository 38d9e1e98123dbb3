"""Incremental embedding updates vs full recompute; distributed vs single-process inference.

For each dataset (the default recommender data and an R-MAT graph), with a 2-layer LightGCN
(64-d, seeded; inference cost does not depend on training) and 4 parts (METIS + hub splitting):

* full-graph inference: plain single-process layer-wise inference (the baseline) vs the same on
  4 PartitionActors (Ray); max abs difference between the two;
* single edge insertions between non-hub nodes (random endpoints) and with a hub endpoint:
  latency p50/p99, nodes recomputed and messages per event, single-process and distributed;
* work ratio: a full recompute recomputes N·L node-layers; an event recomputes what it reports.

Each insertion is undone by an untimed removal, so every event meets the same graph.
Run: ``flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_incremental.py
[--quick]``. Results: benchmarks/results/bench_incremental.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report, time_median

from dsgraph.graph import CSRGraph

NUM_PARTS = 4
NUM_LAYERS = 2
DIM = 64
HUB_THRESHOLD = 1000


def recommender_graph() -> tuple[CSRGraph, np.ndarray]:
    """The default recommender data as the model sees it (symmetrised interactions)."""
    from dsgraph.datasets import default_recommender_dataset
    from dsgraph.storage import read_dataset

    ds = read_dataset(default_recommender_dataset())
    users = int(ds.meta.num_users)
    node_type = (np.arange(ds.graph.num_nodes) >= users).astype(np.int8)
    g = ds.graph
    return CSRGraph(g.indptr, g.indices), node_type


def rmat_graph(scale: int, seed: int = 0) -> CSRGraph:
    """Graph500 R-MAT with 16 edges per node, symmetrised, without self-loops or duplicates."""
    from dsgraph.datasets import rmat_edges

    src, dst = rmat_edges(scale, 16, seed=seed)
    return CSRGraph.from_edges(
        src, dst, 1 << scale, symmetrize=True, drop_self_loops=True, dedupe=True
    )


def make_model(num_nodes: int) -> torch.nn.Module:
    from dsgraph.models.lightgcn import LightGCN

    torch.manual_seed(0)
    return LightGCN(num_nodes, embedding_dim=DIM, num_layers=NUM_LAYERS).eval()


def pick_pairs(
    graph: CSRGraph, count: int, hub: bool, node_type: np.ndarray | None, seed: int
) -> list[tuple[int, int]]:
    """Unconnected (u, v) pairs: both non-hub with degree ≥ 1, or v among the top hubs.

    On a bipartite graph u is a user and v an item (a click).
    """
    rng = np.random.default_rng(seed)
    deg = graph.degrees()
    ok = (deg >= 1) & (deg <= HUB_THRESHOLD)
    left = ok if node_type is None else ok & (node_type == 0)
    right = ok if node_type is None else ok & (node_type == 1)
    if hub:
        cand = np.argsort(-deg if node_type is None else -(deg * (node_type == 1)))[:10]
        right = np.zeros(graph.num_nodes, bool)
        right[cand] = True
    lefts, rights = np.flatnonzero(left), np.flatnonzero(right)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        u, v = int(rng.choice(lefts)), int(rng.choice(rights))
        if u != v and not graph.has_edge(u, v) and (u, v) not in pairs:
            pairs.append((u, v))
    return pairs


def measure_events(engine: Any, pairs: list[tuple[int, int]]) -> dict[str, float]:
    """Insert each pair (timed), then remove it again (untimed)."""
    from dsgraph.inference.events import AddEdge, RemoveEdge

    lat, nodes, msgs = [], [], []
    for u, v in pairs:
        r = engine.apply([AddEdge(u, v)])
        assert not r.rejected, r.rejected
        lat.append(r.latency_ms)
        nodes.append(r.nodes_recomputed)
        msgs.append(r.messages_sent)
        engine.apply([RemoveEdge(u, v)])
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "nodes_recomputed": float(np.mean(nodes)),
        "messages": float(np.mean(msgs)),
    }


def bench_dataset(
    name: str,
    graph: CSRGraph,
    node_type: np.ndarray | None,
    events: int,
    repeats: int,
    log,
) -> list[dict[str, Any]]:
    from dsgraph.distributed.partition_engine import PartitionEngine
    from dsgraph.inference.full import layerwise_inference
    from dsgraph.inference.incremental import IncrementalEngine
    from partitioning.api import partition

    rows: list[dict[str, Any]] = []
    n, e = graph.num_nodes, graph.num_edges
    model = make_model(n)
    full_work = n * NUM_LAYERS
    base = {"dataset": name, "nodes": n, "edges": e}

    log(f"[{name}] single-process full-graph inference")
    torch.set_num_threads(2)
    t_single, _ = time_median(lambda: layerwise_inference(model, graph), repeats=repeats)
    reference = layerwise_inference(model, graph)
    engine = IncrementalEngine(model, graph, node_type=node_type)
    t_engine, _ = time_median(engine.full_inference, repeats=repeats)
    rows.append({**base, "mode": "full, 1 process", "seconds": t_single})
    rows.append({**base, "mode": "full, 1 process (engine)", "seconds": t_engine})

    for hub in (False, True):
        kind = "hub endpoint" if hub else "random non-hub"
        log(f"[{name}] single-process insertions ({kind})")
        pairs = pick_pairs(graph, events, hub, node_type, seed=1 + hub)
        m = measure_events(engine, pairs)
        rows.append(
            {
                **base,
                "mode": f"insert, 1 process, {kind}",
                **m,
                "work_ratio": full_work / max(m["nodes_recomputed"], 1),
            }
        )
    del engine

    log(f"[{name}] METIS into {NUM_PARTS} parts (hub threshold {HUB_THRESHOLD})")
    t0 = time.perf_counter()
    part = partition(graph, NUM_PARTS, hub_threshold=HUB_THRESHOLD, seed=0)
    t_metis = time.perf_counter() - t0
    log(f"[{name}] starting {NUM_PARTS} PartitionActors")
    dist = PartitionEngine(
        model, graph, num_parts=NUM_PARTS, partition=part, node_type=node_type, backend="ray"
    )
    emb = dist.full_inference()
    max_diff = float((emb - reference).abs().max())
    t_dist, _ = time_median(dist.full_inference, repeats=repeats, warmup=0)
    rows.append(
        {
            **base,
            "mode": f"full, {NUM_PARTS} PartitionActors",
            "seconds": t_dist,
            "vs_1_process": t_dist / t_single,
            "max_abs_diff": max_diff,
            "messages": dist.last_full_stats.messages,
            "metis_s": t_metis,
            "hubs": int(part.hubs.num_hubs),
        }
    )
    for hub in (False, True):
        kind = "hub endpoint" if hub else "random non-hub"
        log(f"[{name}] distributed insertions ({kind})")
        pairs = pick_pairs(graph, events, hub, node_type, seed=1 + hub)
        m = measure_events(dist, pairs)
        rows.append(
            {
                **base,
                "mode": f"insert, {NUM_PARTS} actors, {kind}",
                **m,
                "work_ratio": full_work / max(m["nodes_recomputed"], 1),
            }
        )
    dist.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small version (< 1 minute)")
    parser.add_argument("--scale", type=int, default=None, help="R-MAT scale (default 20)")
    parser.add_argument(
        "--events", type=int, default=None, help="insertions per case, recommender data"
    )
    parser.add_argument("--rmat-events", type=int, default=None, help="insertions per case, R-MAT")
    args = parser.parse_args()
    scale = args.scale or (13 if args.quick else 20)
    events = args.events or (20 if args.quick else 200)
    rmat_events = args.rmat_events or (20 if args.quick else 30)
    repeats = 2 if args.quick else 3

    from rich.console import Console

    from dsgraph.distributed.cluster import ClusterSettings, start, stop

    console = Console(stderr=True)
    session = start(ClusterSettings(num_cpus=2, object_store_mb=512 if args.quick else 4096))
    rows: list[dict[str, Any]] = []
    try:
        with console.status("benchmark") as status:

            def log(msg: str) -> None:
                status.update(msg)
                console.log(msg)

            graph, node_type = recommender_graph()
            rows += bench_dataset("recommender", graph, node_type, events, repeats, log)
            log(f"generating R-MAT scale {scale}")
            rmat = rmat_graph(scale)
            rows += bench_dataset(f"rmat-{scale}", rmat, None, rmat_events, repeats, log)
    finally:
        stop(session)
    rec = [r for r in rows if r["dataset"] == "recommender"]
    nonhub = next(r for r in rec if r["mode"] == "insert, 1 process, random non-hub")
    nonhub_d = next(r for r in rec if r["mode"].startswith(f"insert, {NUM_PARTS} actors, random"))
    targets = {
        "p50_ms<=35 (recommender, non-hub, 1 process)": nonhub["p50_ms"] <= 35,
        "p99_ms<=150 (recommender, non-hub, 1 process)": nonhub["p99_ms"] <= 150,
        "p50_ms<=35 (recommender, non-hub, 4 actors)": nonhub_d["p50_ms"] <= 35,
        "p99_ms<=150 (recommender, non-hub, 4 actors)": nonhub_d["p99_ms"] <= 150,
    }
    for r in rows:
        if r["mode"].startswith("insert") and "non-hub" in r["mode"]:
            targets[f"work_ratio>=100 ({r['dataset']}, {r['mode']})"] = r["work_ratio"] >= 100
        if r["mode"].startswith("full, 4"):
            targets[f"distributed<=2x single ({r['dataset']})"] = r["vs_1_process"] <= 2
            targets[f"max_abs_diff<=1e-5 ({r['dataset']})"] = r["max_abs_diff"] <= 1e-5
    report(
        "bench_incremental",
        rows,
        "Incremental updates and distributed full-graph inference (2-layer LightGCN, 4 parts)",
        extra={
            "quick": args.quick,
            "rmat_scale": scale,
            "events": events,
            "rmat_events": rmat_events,
            "targets": targets,
        },
    )
    for name, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
