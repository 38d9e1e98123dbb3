"""Incremental embedding updates vs full recompute; distributed vs single-process inference.

For each dataset (the default recommender data and an R-MAT graph), two 2-layer model families
(64-d, seeded; inference cost does not depend on training): LightGCN (degree-normalised, ``sym``)
and GraphSAGE (``mean``), and 4 parts (METIS + hub splitting):

* full-graph inference: plain single-process layer-wise inference (the baseline) vs the same on
  4 PartitionActors (Ray); max abs difference between the two; next to it the Ray floor — the
  same number of rounds (L + 1) of empty calls on the 4 actors, measured in the same run;
* single edge insertions between non-hub nodes (random endpoints) and with a hub endpoint:
  latency p50/p99, nodes recomputed (mean and median), messages per event, and the exact
  changed set (nodes whose final embedding changed; its share of the graph), single-process
  and distributed;
* work ratio: a full recompute recomputes N·L node-layers; an event recomputes what it reports.

Each insertion is undone by an untimed removal, so every event meets the same graph.
Run: ``flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_incremental.py
[--quick]``. Results: benchmarks/results/bench_incremental.json (``--quick``:
bench_incremental_quick.json).
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
MODELS = ("lightgcn", "graphsage")


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


def make_model(kind: str, num_nodes: int) -> torch.nn.Module:
    """A seeded 2-layer model on ID embeddings: LightGCN (sym) or GraphSAGE (mean)."""
    from dsgraph.models.graphsage import GraphSAGE
    from dsgraph.models.lightgcn import LightGCN

    torch.manual_seed(0)
    if kind == "lightgcn":
        return LightGCN(num_nodes, embedding_dim=DIM, num_layers=NUM_LAYERS).eval()
    return GraphSAGE(num_nodes, 0, DIM, DIM, num_layers=NUM_LAYERS, embedding_dim=DIM).eval()


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


def measure_events(engine: Any, pairs: list[tuple[int, int]], num_nodes: int) -> dict[str, float]:
    """Insert each pair (timed), then remove it again (untimed)."""
    from dsgraph.inference.events import AddEdge, RemoveEdge

    lat, nodes, msgs, changed = [], [], [], []
    for u, v in pairs:
        r = engine.apply([AddEdge(u, v)])
        assert not r.rejected, r.rejected
        lat.append(r.latency_ms)
        nodes.append(r.nodes_recomputed)
        msgs.append(r.messages_sent)
        changed.append(r.node_ids.size)
        engine.apply([RemoveEdge(u, v)])
    full_work = num_nodes * NUM_LAYERS
    return {
        "events": len(pairs),
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "nodes_recomputed": float(np.mean(nodes)),
        "nodes_recomputed_median": float(np.median(nodes)),
        "messages": float(np.mean(msgs)),
        "changed_nodes": float(np.mean(changed)),
        "changed_pct": 100.0 * float(np.mean(changed)) / num_nodes,
        "work_ratio": full_work / max(float(np.mean(nodes)), 1.0),
        "work_ratio_median": full_work / max(float(np.median(nodes)), 1.0),
    }


def empty_round_s(engine: Any, repeats: int) -> float:
    """Median time of one round of trivial calls on every actor (the per-round Ray floor)."""
    import ray

    def one() -> None:
        ray.get([a.status.remote() for a in engine.actors])

    return time_median(one, repeats=max(repeats, 20))[0]


def bench_dataset(
    name: str,
    graph: CSRGraph,
    node_type: np.ndarray | None,
    events: int,
    hub_events: int,
    repeats: int,
    log,
) -> list[dict[str, Any]]:
    from dsgraph.distributed.partition_engine import PartitionEngine
    from dsgraph.inference.full import layerwise_inference
    from dsgraph.inference.incremental import IncrementalEngine
    from partitioning.api import partition

    rows: list[dict[str, Any]] = []
    n, e = graph.num_nodes, graph.num_edges
    pairs = {
        hub: pick_pairs(graph, hub_events if hub else events, hub, node_type, seed=1 + hub)
        for hub in (False, True)
    }
    log(f"[{name}] METIS into {NUM_PARTS} parts (hub threshold {HUB_THRESHOLD})")
    t0 = time.perf_counter()
    part = partition(graph, NUM_PARTS, hub_threshold=HUB_THRESHOLD, seed=0)
    t_metis = time.perf_counter() - t0
    for kind in MODELS:
        model = make_model(kind, n)
        base = {"dataset": name, "model": kind, "nodes": n, "edges": e}
        log(f"[{name}/{kind}] single-process full-graph inference")
        torch.set_num_threads(2)
        t_single, _ = time_median(lambda m=model: layerwise_inference(m, graph), repeats=repeats)
        reference = layerwise_inference(model, graph)
        engine = IncrementalEngine(model, graph, node_type=node_type)
        t_engine, _ = time_median(engine.full_inference, repeats=repeats)
        rows.append({**base, "mode": "full, 1 process", "seconds": t_single})
        rows.append({**base, "mode": "full, 1 process (engine)", "seconds": t_engine})
        for hub in (False, True):
            kind_ev = "hub endpoint" if hub else "random non-hub"
            log(f"[{name}/{kind}] single-process insertions ({kind_ev})")
            m = measure_events(engine, pairs[hub], n)
            rows.append({**base, "mode": f"insert, 1 process, {kind_ev}", **m})
        del engine

        log(f"[{name}/{kind}] starting {NUM_PARTS} PartitionActors")
        dist = PartitionEngine(
            model, graph, num_parts=NUM_PARTS, partition=part, node_type=node_type, backend="ray"
        )
        emb = dist.full_inference()
        max_diff = float((emb - reference).abs().max())
        t_dist, _ = time_median(dist.full_inference, repeats=repeats, warmup=0)
        rounds = NUM_LAYERS + 1 + (NUM_LAYERS if part.hubs.num_hubs else 0)
        floor = rounds * empty_round_s(dist, repeats)
        rows.append(
            {
                **base,
                "mode": f"full, {NUM_PARTS} PartitionActors",
                "seconds": t_dist,
                "vs_1_process": t_dist / t_single,
                "ray_floor_s": floor,
                "floor_vs_1_process": (t_single + floor) / t_single,
                "max_abs_diff": max_diff,
                "messages": dist.last_full_stats.messages,
                "metis_s": t_metis,
                "hubs": int(part.hubs.num_hubs),
            }
        )
        for hub in (False, True):
            kind_ev = "hub endpoint" if hub else "random non-hub"
            log(f"[{name}/{kind}] distributed insertions ({kind_ev})")
            m = measure_events(dist, pairs[hub], n)
            rows.append({**base, "mode": f"insert, {NUM_PARTS} actors, {kind_ev}", **m})
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
    parser.add_argument(
        "--rmat-hub-events",
        type=int,
        default=None,
        help="insertions with a hub endpoint, R-MAT (each costs seconds at scale 20)",
    )
    args = parser.parse_args()
    scale = args.scale or (13 if args.quick else 20)
    events = args.events or (20 if args.quick else 200)
    rmat_events = args.rmat_events or (20 if args.quick else 30)
    rmat_hub_events = args.rmat_hub_events or (20 if args.quick else 10)
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
            rows += bench_dataset("recommender", graph, node_type, events, events, repeats, log)
            log(f"generating R-MAT scale {scale}")
            rmat = rmat_graph(scale)
            rows += bench_dataset(
                f"rmat-{scale}", rmat, None, rmat_events, rmat_hub_events, repeats, log
            )
    finally:
        stop(session)
    targets: dict[str, bool] = {}
    for r in rows:
        tag = f"{r['dataset']}, {r['model']}"
        if r["mode"].startswith("insert") and "non-hub" in r["mode"]:
            where = r["mode"].removeprefix("insert, ").removesuffix(", random non-hub")
            if r["dataset"] == "recommender":
                targets[f"p50_ms<=35 ({tag}, non-hub, {where})"] = r["p50_ms"] <= 35
                targets[f"p99_ms<=150 ({tag}, non-hub, {where})"] = r["p99_ms"] <= 150
            targets[f"work_ratio>=100 ({tag}, non-hub, {where})"] = r["work_ratio"] >= 100
        if r["mode"].startswith(f"full, {NUM_PARTS}"):
            targets[f"distributed<=2x single ({tag})"] = r["vs_1_process"] <= 2
            targets[f"max_abs_diff<=1e-5 ({tag})"] = r["max_abs_diff"] <= 1e-5
    report(
        "bench_incremental_quick" if args.quick else "bench_incremental",
        rows,
        "Incremental updates and distributed full-graph inference (2-layer models, 4 parts)",
        extra={
            "quick": args.quick,
            "rmat_scale": scale,
            "events": events,
            "rmat_events": rmat_events,
            "rmat_hub_events": rmat_hub_events,
            "targets": targets,
        },
    )
    for name, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
