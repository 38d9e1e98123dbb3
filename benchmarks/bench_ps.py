"""Parameter-server throughput: dense vs Top-K pushes, plain-process apply, shards, rows, workers.

One run measures, side by side on this machine:
  * dense push (full fp32 gradient) vs Top-K 5% / 1% pushes of an N-float model into one PS actor
    (updates/s, MB/s on the wire, bytes per update, wire reduction vs dense);
  * the same apply (ParameterShard.push, SGD) in a plain process — the ceiling the PS should reach;
  * 1 vs 2 PS shards for Top-K 5%;
  * a full dense pull;
  * sparse embedding row pushes (rows/s), one call per small push vs client-side batching;
  * end-to-end training steps/s with 1 vs 2 workers (bench_ps --skip-train to leave it out).

PS throughput is the server's sustained rate: payloads are put in the object store before the
clock starts (a worker does that while it computes) and up to ``window`` pushes are in flight.

Run: flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_ps.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from dsgraph.distributed.cluster import ClusterSettings, cluster, configure_threads, get
from dsgraph.distributed.parameter_server import (
    ParameterShard,
    ServerConfig,
    create_parameter_servers,
)
from dsgraph.distributed.payloads import (
    DenseGrad,
    ModelLayout,
    RowGrads,
    ShardUpdate,
    TableSpec,
    TensorSpec,
)
from dsgraph.distributed.ps_client import PSClient

SGD = ServerConfig(
    dense_optimizer="sgd", dense_lr=1e-3, row_optimizer="adagrad", max_staleness=10**9
)


def topk_updates(n: int, ratio: float | None, count: int, seed: int = 0) -> list[DenseGrad]:
    """``count`` gradients cycling over 4 distinct ones (bounds memory and object-store use):
    full fp32 (ratio None) or Top-K sorted int32 positions + fp32 values."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(min(count, 4)):
        if ratio is None:
            out.append(DenseGrad(rng.standard_normal(n, dtype=np.float32)))
        else:
            k = int(np.ceil(ratio * n))
            idx = np.sort(rng.choice(n, k, replace=False)).astype(np.int32)
            out.append(DenseGrad(rng.standard_normal(k, dtype=np.float32), idx))
    return [out[i % len(out)] for i in range(count)]


def interleaved(runners: dict[str, Any], count: int, repeats: int) -> dict[str, float]:
    """Median updates/s of each runner (``count`` updates per call), runs alternating.

    Alternating plain and PS runs exposes both to the same background load, so their ratio is
    meaningful on a shared machine.
    """
    for fn in runners.values():
        fn()  # warm-up: numba compile, object-store pages, connections
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            rates[name].append(count / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def plain_runner(layout: ModelLayout, grads: list[DenseGrad]):
    """The PS apply (ParameterShard.push: checks, staleness, SGD kernel) in this process."""
    shard = ParameterShard(layout, 0, 1, SGD)
    seq = iter(range(10**9))

    def run() -> None:
        for g in grads:
            shard.push(ShardUpdate(0, next(seq), shard.version, g))

    return run


def actor_runner(layout: ModelLayout, grads: list[DenseGrad], num_ps: int, window: int):
    """Pushes to ``num_ps`` shard actors, ``window`` updates in flight; (runner, actors)."""
    import ray

    actors = create_parameter_servers(layout, num_ps, SGD)
    client = PSClient(actors, layout, worker=0)
    get([a.info.remote() for a in actors], 120, "start PS")
    # pre-split and pre-put: per update, one object per shard
    seq = iter(range(10**9))
    put: dict[int, list] = {}
    for g in grads:
        if id(g) not in put:
            positions = None if g.indices is None else g.indices.astype(np.int64)
            put[id(g)] = [ray.put(p) for p in client._split_dense(positions, g.values)]
    refs = [put[id(g)] for g in grads]

    def run() -> None:
        inflight: list = []
        for parts in refs:
            s = next(seq)
            for shard, part in enumerate(parts):
                inflight.append(actors[shard].push_dense.remote(0, s, 10**9, part))
            if len(inflight) >= window * num_ps:
                get(inflight[:num_ps], 600, "push")
                inflight = inflight[num_ps:]
        get(inflight, 600, "push")

    return run, actors


def bench_pull(layout: ModelLayout, repeats: int) -> float:
    import ray

    actors = create_parameter_servers(layout, 1, SGD)
    client = PSClient(actors, layout, worker=0)
    client.pull_dense()
    times = []
    for _ in range(repeats):
        client.dense_versions[:] = -1  # force a full transfer
        t0 = time.perf_counter()
        client.pull_dense()
        times.append(time.perf_counter() - t0)
    ray.kill(actors[0])
    return statistics.median(times)


def bench_rows(
    rows_total: int, dim: int, push_rows: int, pushes: int, batch_bytes: int, repeats: int
):
    import ray

    layout = ModelLayout(
        tensors=(TensorSpec("w", (1,)),), tables=(TableSpec("emb", rows_total, dim),)
    )
    actors = create_parameter_servers(layout, 1, SGD)
    client = PSClient(actors, layout, worker=0, batch_bytes=batch_bytes)
    rng = np.random.default_rng(0)
    batches = [
        RowGrads(
            "emb",
            rng.integers(0, rows_total, push_rows),
            rng.standard_normal((push_rows, dim), dtype=np.float32),
        )
        for _ in range(pushes)
    ]
    seq = iter(range(10**9))

    def run() -> None:
        for b in batches:
            client.push(next(seq), rows=[b])
        client.flush()

    r = interleaved({"rows": run}, pushes * push_rows, repeats)["rows"]
    ray.kill(actors[0])
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in < 1 minute")
    parser.add_argument("--skip-train", action="store_true", help="leave out end-to-end training")
    args = parser.parse_args()
    n = 1_000_000 if args.quick else 10_000_000
    count = 10 if args.quick else 30
    repeats = 3 if args.quick else 5
    window = 4
    configure_threads(1, torch=False)
    layout = ModelLayout(tensors=(TensorSpec("flat", (n,)),))
    rows = []
    extra: dict = {"model_floats": n, "updates_per_run": count, "repeats": repeats}
    with cluster(ClusterSettings(num_cpus=2, object_store_mb=1024 if not args.quick else 512)):
        import ray

        cases = {"dense fp32": None, "Top-K 5%": 0.05, "Top-K 1%": 0.01}
        dense_bytes = None
        for name, ratio in cases.items():
            grads = topk_updates(n, ratio, count, seed=1)
            nbytes = grads[0].nbytes
            dense_bytes = dense_bytes or nbytes
            runners = {"plain": plain_runner(layout, grads)}
            runners["ps1"], actors = actor_runner(layout, grads, 1, window)
            if ratio == 0.05:
                runners["ps2"], more = actor_runner(layout, grads, 2, window)
                actors += more
            r = interleaved(runners, count, repeats)
            for actor in actors:
                ray.kill(actor)
            row = {
                "case": name,
                "bytes/update": nbytes,
                "wire reduction": round(dense_bytes / nbytes, 2),
                "plain updates/s": round(r["plain"], 1),
                "PS(1) updates/s": round(r["ps1"], 1),
                "PS(1) MB/s": round(r["ps1"] * nbytes / 1e6, 1),
                "PS/plain": round(r["ps1"] / r["plain"], 3),
            }
            if "ps2" in r:
                row["PS(2) updates/s"] = round(r["ps2"], 1)
                row["PS(2)/PS(1)"] = round(r["ps2"] / r["ps1"], 3)
            rows.append(row)
            print(row, flush=True)
        dense_rate = rows[0]["PS(1) updates/s"]
        for row in rows[1:]:
            row["updates/s vs dense"] = round(row["PS(1) updates/s"] / dense_rate, 2)
        extra["dense_pull_ms"] = round(bench_pull(layout, repeats) * 1e3, 2)
        table_rows = 100_000 if args.quick else 1_000_000
        small = bench_rows(table_rows, 64, 64, 200, 0, repeats)
        batched = bench_rows(table_rows, 64, 64, 200, 256 * 1024, repeats)
        large = bench_rows(table_rows, 64, 4096, 20, 0, repeats)
        extra["rows_per_s"] = {
            "64-row pushes, one call each": round(small),
            "64-row pushes, batched 256 KiB": round(batched),
            "4096-row pushes": round(large),
        }
        print(extra, flush=True)
    if not args.skip_train:
        extra["training"] = bench_training(args.quick)
    name = "bench_ps_quick" if args.quick else "bench_ps"
    path = report(name, rows, f"Parameter server, {n:,} floats", extra=extra)
    print(f"wrote {path}")


def bench_training(quick: bool) -> list[dict]:
    """Steps/s of train_distributed with 1 vs 2 workers, same data and step budget.

    Neighbour sampling per batch (fan-out 15, 10; 4096 interactions) on a generated user-item
    graph, so sampling and the step dominate, not the network. steps/s = worker steps / driver
    training seconds (start-up: Ray, dataset load and actor construction, is excluded).
    """
    import tempfile

    from dsgraph.config import config_from_dict
    from dsgraph.distributed.driver import train_distributed

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ps_") as tmp:
        for workers in (1, 2):
            raw = {
                "version": 1,
                "data": {
                    "path": f"{tmp}/user_item",
                    "generate": {
                        "kind": "user_item",
                        "num_users": 3000 if quick else 10000,
                        "num_items": 1500 if quick else 4000,
                    },
                },
                "sampler": {"kind": "neighbor", "fanouts": [15, 10]},
                "model": {"name": "lightgcn", "embedding_dim": 64, "num_layers": 2},
                "task": {"kind": "recommendation"},
                "train": {
                    "epochs": 100,
                    "max_steps": 20 if quick else 120,
                    "batch_size": 4096,
                    "lr": 0.01,
                    "precision": "bf16",
                    "threads": 1,
                    "compression": {"enabled": True, "ratio": 0.05},
                },
                "cluster": {"num_workers": workers, "num_ps": 1},
                "output": {"dir": tmp, "overwrite": True, "plots": False, "embeddings": False},
            }
            cfg = config_from_dict(raw)
            result = train_distributed(cfg, f"{tmp}/run{workers}", progress=False)
            rows.append(
                {
                    "workers": workers,
                    "steps": result.steps,
                    "train_seconds": round(result.train_seconds, 2),
                    "steps/s": round(result.steps / result.train_seconds, 2),
                    result.headline: round(result.final[result.headline], 4),
                    "mean_staleness": round(result.ps_metrics[0]["mean_staleness"], 2),
                }
            )
            print(rows[-1], flush=True)
    rows[1]["speed-up"] = round(rows[1]["steps/s"] / rows[0]["steps/s"], 2)
    return rows


if __name__ == "__main__":
    main()
