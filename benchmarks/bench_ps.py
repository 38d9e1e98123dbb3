"""Parameter-server throughput: dense vs Top-K pushes, plain-process apply, shards, rows, workers.

One run measures, side by side on this machine:
  * dense push (full fp32 gradient) vs Top-K 5% / 1% pushes of an N-float model into one PS actor
    (updates/s, MB/s on the wire, bytes per update, wire reduction vs dense);
  * the same apply (ParameterShard.push: validation, staleness, SGD kernel) in a plain process,
    the ceiling the PS should reach, and the PS with its apply thread switched off (sync apply);
  * 1 vs 2 PS shards for Top-K 5%, with 1 and with 2 callers (caller actors);
  * Top-K 1% pushes batched 4 per call (one Ray call, one object-store fetch for 4 updates);
  * CPU milliseconds per update in each process (where the time goes);
  * a full dense pull;
  * sparse embedding row pushes (rows/s), one call per small push vs client-side batching;
  * end-to-end training steps/s with 1 vs 2 workers (bench_ps --skip-train to leave it out).

PS throughput is the server's sustained rate: payloads are put in the object store before the
clock starts (a worker does that while it computes), up to ``window`` pushes per shard are in
flight, and a run ends only when every acknowledged update is applied (``wait_applied``). Ray
actors run at the driver's niceness (``worker_niceness=0``; Ray's default, 15, would let any
other process on the machine starve the PS but not the plain-process baseline).

Run: flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_ps.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from dsgraph.distributed.cluster import ClusterSettings, cluster, configure_threads, get
from dsgraph.distributed.parameter_server import (
    ParameterServer,
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
# what examples/recommender.yaml runs on the server (train.optimizer: adam)
ADAM = ServerConfig(
    dense_optimizer="adam", dense_lr=1e-3, row_optimizer="adam", max_staleness=10**9
)
WINDOW = 4  # pushes in flight per shard and caller
FRESH = 10**9  # base version far ahead: staleness 0, every update is applied


def topk_updates(n: int, ratio: float | None, seed: int = 0) -> list[DenseGrad]:
    """4 distinct gradients (pushes cycle over them: bounded memory and object-store use):
    full fp32 (ratio None) or Top-K sorted int32 positions + fp32 values."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(4):
        if ratio is None:
            out.append(DenseGrad(rng.standard_normal(n, dtype=np.float32)))
        else:
            k = int(np.ceil(ratio * n))
            idx = np.sort(rng.choice(n, k, replace=False)).astype(np.int32)
            out.append(DenseGrad(rng.standard_normal(k, dtype=np.float32), idx))
    return out


@dataclass
class Runner:
    """One configuration under test: ``run()`` pushes and returns the updates it applied."""

    run: Callable[[], int]
    actors: list = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)


def paired(
    plain: Runner, makers: dict[str, Callable[[], Runner]], repeats: int, cpu_keys=()
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Each PS configuration alone (its actors started, measured, killed) interleaved with the
    plain process, so no other configuration's processes share the 2 cores with it.

    Returns updates/s per configuration and "plain" (median over the pairings), and CPU ms per
    update of the configurations in ``cpu_keys``.
    """
    import ray

    rates, plain_rates, cpu = {}, [], {}
    for key, make in makers.items():
        runner = make()
        try:
            r = interleaved({"plain": plain, key: runner}, repeats)
            rates[key] = r[key]
            plain_rates.append(r["plain"])
            if key in cpu_keys:
                cpu[key] = cpu_per_update(runner)
        finally:
            for actor in runner.actors:
                ray.kill(actor)
    rates["plain"] = statistics.median(plain_rates)
    return rates, cpu


def interleaved(runners: dict[str, Runner], repeats: int) -> dict[str, float]:
    """Median updates/s of each runner, runs alternating.

    Alternating plain and PS runs exposes both to the same background load, so their ratio is
    meaningful on a shared machine.
    """
    for r in runners.values():
        r.run()  # warm-up: numba compile, object-store pages, connections
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, r in runners.items():
            t0 = time.perf_counter()
            done = r.run()
            rates[name].append(done / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def plain_runner(
    layout: ModelLayout, grads: list[DenseGrad], count: int, server: ServerConfig = SGD
) -> Runner:
    """The PS apply (ParameterShard.push: checks, staleness, optimizer kernel) in this process."""
    shard = ParameterShard(layout, 0, 1, server)
    seq = itertools.count()

    def run() -> int:
        for i in range(count):
            shard.push(ShardUpdate(0, next(seq), shard.version, grads[i % len(grads)]))
        return count

    return Runner(run, pids={"plain": os.getpid()})


def push_stream(actors: list, parts: list[list], worker: int, seqs, count: int) -> int:
    """Push ``count`` updates (``parts[i]``: one object ref per shard), ``WINDOW`` in flight."""
    num_ps = len(actors)
    inflight: list = []
    for i in range(count):
        s = next(seqs)
        for shard, part in enumerate(parts[i % len(parts)]):
            inflight.append(actors[shard].push_dense.remote(worker, s, FRESH, part))
        if len(inflight) >= WINDOW * num_ps:
            get(inflight[:num_ps], 600, "push")
            inflight = inflight[num_ps:]
    get(inflight, 600, "push")
    return count


class Pusher:
    """A caller actor: pushes pre-put updates to the shards as worker ``worker``."""

    def __init__(self, actors: list, parts: list[list], worker: int) -> None:
        configure_threads(1, torch=False)
        self.actors, self.parts, self.worker = actors, parts, worker
        self.seqs = itertools.count()

    def pid(self) -> int:
        return os.getpid()

    def run(self, count: int) -> int:
        return push_stream(self.actors, self.parts, self.worker, self.seqs, count)


def actor_runner(
    layout: ModelLayout,
    grads: list[DenseGrad],
    count: int,
    num_ps: int,
    callers: int = 1,
    apply_queue: int = 8,
    server: ServerConfig = SGD,
) -> Runner:
    """``count`` pushes per run into ``num_ps`` shard actors from ``callers`` callers (the
    driver itself when 1, else caller actors sharing the count)."""
    import ray

    remote_ps = ray.remote(ParameterServer).options(num_cpus=0)
    actors = [
        remote_ps.remote(layout, s, num_ps, server, apply_queue=apply_queue) for s in range(num_ps)
    ]
    pids = {
        f"ps{s}": info["pid"]
        for s, info in enumerate(get([a.info.remote() for a in actors], 120, "start PS"))
    }
    client = PSClient(actors, layout, worker=0)  # only for its routing
    parts = []
    for g in grads:
        positions = None if g.indices is None else g.indices.astype(np.int64)
        parts.append([ray.put(p) for p in client._split_dense(positions, g.values)])
    drain = [a.wait_applied.remote for a in actors]

    if callers == 1:
        seqs = itertools.count()

        def run() -> int:
            push_stream(actors, parts, 0, seqs, count)
            get([d() for d in drain], 600, "wait_applied")
            return count

        pids["caller"] = os.getpid()
        return Runner(run, actors, pids)
    remote_pusher = ray.remote(Pusher).options(num_cpus=0)
    pushers = [remote_pusher.remote(actors, parts, w) for w in range(callers)]
    for w, pid in enumerate(get([p.pid.remote() for p in pushers], 120, "start callers")):
        pids[f"caller{w}"] = pid
    share = -(-count // callers)

    def run_many() -> int:
        get([p.run.remote(share) for p in pushers], 600, "callers")
        get([d() for d in drain], 600, "wait_applied")
        return share * callers

    return Runner(run_many, actors + pushers, pids)


def batched_runner(
    layout: ModelLayout, grads: list[DenseGrad], count: int, per_call: int, runs: int
) -> Runner:
    """One shard; ``per_call`` updates travel in one ``push_batch`` call (one object)."""
    import ray

    (actor,) = create_parameter_servers(layout, 1, SGD)
    pid = get(actor.info.remote(), 120, "start PS")["pid"]
    # every update needs a fresh seq (a replayed one would be skipped as a duplicate)
    seqs = itertools.count()
    calls = -(-count // per_call)
    batches = iter(
        [
            ray.put(
                [
                    ShardUpdate(0, next(seqs), FRESH, grads[(c * per_call + j) % len(grads)])
                    for j in range(per_call)
                ]
            )
            for c in range(calls * runs)
        ]
    )

    def run() -> int:
        inflight = []
        for _ in range(calls):
            inflight.append(actor.push_batch.remote(next(batches)))
            if len(inflight) >= WINDOW:
                get(inflight.pop(0), 600, "push_batch")
        get(inflight, 600, "push_batch")
        get(actor.wait_applied.remote(), 600, "wait_applied")
        return calls * per_call

    return Runner(run, [actor], {"ps0": pid, "caller": os.getpid()})


def raylet_pid() -> int | None:
    for child in psutil.Process().children(recursive=True):
        try:
            if "raylet" in " ".join(child.cmdline()[:1]):
                return child.pid
        except psutil.Error:
            continue
    return None


def cpu_per_update(runner: Runner) -> dict[str, float]:
    """CPU milliseconds each process of a runner spends per update (extra runs for >= 2 s, as
    the kernel counts CPU time in 10 ms ticks)."""
    pids = dict(runner.pids)
    if (rp := raylet_pid()) is not None:
        pids["raylet"] = rp
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        done += runner.run()
    return {
        name: round(1e3 * (sum(p.cpu_times()[:2]) - before[name]) / done, 3)
        for name, p in procs.items()
    }


def adam_row(layout: ModelLayout, n: int, count: int, repeats: int, dense_bytes: int) -> dict:
    """Top-K 5% with server-side Adam (the default config's optimizer): a heavier apply per
    entry, so Ray's fixed per-call cost weighs less and a second shard can pay off."""

    grads = topk_updates(n, 0.05, seed=1)
    makers = {
        "ps1": partial(actor_runner, layout, grads, count, 1, server=ADAM),
        "ps2": partial(actor_runner, layout, grads, count, 2, server=ADAM),
    }
    r, _ = paired(plain_runner(layout, grads, count, ADAM), makers, repeats)
    row = {
        "case": "Top-K 5%, Adam",
        "bytes/update": grads[0].nbytes,
        "wire reduction": round(dense_bytes / grads[0].nbytes, 2),
        "plain updates/s": round(r["plain"], 1),
        "PS(1) updates/s": round(r["ps1"], 1),
        "PS(1) MB/s": round(r["ps1"] * grads[0].nbytes / 1e6, 1),
        "PS/plain": round(r["ps1"] / r["plain"], 3),
        "PS(2) updates/s": round(r["ps2"], 1),
        "PS(2)/PS(1)": round(r["ps2"] / r["ps1"], 3),
    }
    print(row, flush=True)
    return row


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
    seq = itertools.count()

    def run() -> int:
        for b in batches:
            client.push(next(seq), rows=[b])
        client.flush()
        get(actors[0].wait_applied.remote(), 600, "wait_applied")
        return pushes * push_rows

    r = interleaved({"rows": Runner(run)}, repeats)["rows"]
    ray.kill(actors[0])
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in < 1 minute")
    parser.add_argument("--skip-train", action="store_true", help="leave out end-to-end training")
    args = parser.parse_args()
    n = 1_000_000 if args.quick else 10_000_000
    count = 10 if args.quick else 30
    repeats = 3 if args.quick else 7
    configure_threads(1, torch=False)
    layout = ModelLayout(tensors=(TensorSpec("flat", (n,)),))
    rows = []
    extra: dict = {
        "model_floats": n,
        "updates_per_run": count,
        "repeats": repeats,
        "window_per_shard": WINDOW,
        "ray_worker_niceness": 0,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    settings = ClusterSettings(
        num_cpus=2, object_store_mb=512 if args.quick else 1536, worker_niceness=0
    )
    with cluster(settings):
        cases = {"dense fp32": None, "Top-K 5%": 0.05, "Top-K 1%": 0.01}
        dense_bytes = None
        for name, ratio in cases.items():
            grads = topk_updates(n, ratio, seed=1)
            nbytes = grads[0].nbytes
            dense_bytes = dense_bytes or nbytes
            makers = {
                "ps1": partial(actor_runner, layout, grads, count, 1),
                "ps1 sync": partial(actor_runner, layout, grads, count, 1, apply_queue=0),
            }
            if ratio == 0.05:
                makers["ps2"] = partial(actor_runner, layout, grads, count, 2)
                makers["ps1 2 callers"] = partial(actor_runner, layout, grads, count, 1, callers=2)
                makers["ps2 2 callers"] = partial(actor_runner, layout, grads, count, 2, callers=2)
            if ratio == 0.01:
                makers["ps1 batched"] = partial(
                    batched_runner, layout, grads, count, 4, repeats + 2
                )
            plain = plain_runner(layout, grads, count)
            cpu_keys = ("ps1", "ps1 sync", "ps2", "ps2 2 callers") if ratio == 0.05 else ()
            r, cpu = paired(plain, makers, repeats, cpu_keys)
            row = {
                "case": name,
                "bytes/update": nbytes,
                "wire reduction": round(dense_bytes / nbytes, 2),
                "plain updates/s": round(r["plain"], 1),
                "PS(1) updates/s": round(r["ps1"], 1),
                "PS(1) MB/s": round(r["ps1"] * nbytes / 1e6, 1),
                "PS/plain": round(r["ps1"] / r["plain"], 3),
                "PS(1) sync apply": round(r["ps1 sync"], 1),
            }
            if ratio == 0.05:
                row["PS(2) updates/s"] = round(r["ps2"], 1)
                row["PS(2)/PS(1)"] = round(r["ps2"] / r["ps1"], 3)
                row["PS(1), 2 callers"] = round(r["ps1 2 callers"], 1)
                row["PS(2), 2 callers"] = round(r["ps2 2 callers"], 1)
                row["PS(2)/PS(1), 2 callers"] = round(r["ps2 2 callers"] / r["ps1 2 callers"], 3)
                extra["cpu_ms_per_update, Top-K 5%"] = {"plain": cpu_per_update(plain), **cpu}
            if ratio == 0.01:
                row["PS(1), 4 per call"] = round(r["ps1 batched"], 1)
                row["PS/plain, 4 per call"] = round(r["ps1 batched"] / r["plain"], 3)
            rows.append(row)
            print(row, flush=True)
        dense_rate = rows[0]["PS(1) updates/s"]
        for row in rows[1:]:
            row["updates/s vs dense"] = round(row["PS(1) updates/s"] / dense_rate, 2)
        rows.append(adam_row(layout, n, count, repeats, dense_bytes))
        extra["dense_pull_ms"] = round(bench_pull(layout, repeats) * 1e3, 2)
        table_rows = 100_000 if args.quick else 1_000_000
        pushes = 100 if args.quick else 200
        small = bench_rows(table_rows, 64, 64, pushes, 0, repeats)
        batched = bench_rows(table_rows, 64, 64, pushes, 256 * 1024, repeats)
        large = bench_rows(table_rows, 64, 4096, pushes // 10, 0, repeats)
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
