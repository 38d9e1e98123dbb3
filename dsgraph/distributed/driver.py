"""``train_distributed(config, run_dir)``: the Ray version of ``dsgraph.train.trainer.train``.

The driver validates and loads like the local loop, partitions the graph (METIS via
:func:`partitioning.partition`, one part per worker unless ``partition.num_parts`` says
otherwise), starts ``cluster.num_ps`` parameter-server shards seeded with the model's initial
values and one :class:`~dsgraph.distributed.worker.TrainWorker` per part, then drives them in
chunks of steps, showing global step, pushes/s, mean staleness and bytes on the wire. A worker
or shard that dies is restarted by Ray (``cluster.max_restarts``); the driver reports it and
re-issues the chunk; a worker that cannot come back is reported and training completes with the
others. Evaluation pulls the servers' current parameters into a local model, so the metrics are
those of the real, server-held model. The run folder has the local loop's layout.

Placement: with several workers per part (``num_workers`` > ``partition.num_parts`` > 1) the
part's training examples are dealt round-robin among its workers (documented sharing).

Where the parts live: ``<run dir>/parts/``, written once by the driver before any worker starts
(:func:`write_training_parts`), read by each worker with ``partitioning.load_partition``. The
run folder, not a cache next to the data, because what is partitioned is the task's *training*
graph (for recommendation the held-out interactions are removed), so the parts depend on the
data, the task, the model depth and the partition settings together; because the run folder is
already the one place every actor must reach (worker and server checkpoints live there, so on a
cluster it is a shared path) and the parts add no deployment step; and because data folders are
often read-only or shared by concurrent runs, where a cache would need locking and eviction.
The price is one METIS run per training run (≈ 0.1 s for the default example). On ``--resume``
the parts are reused when their manifest (``meta.json`` → ``training``) matches the run's
settings and graph, and rewritten atomically otherwise. Halo depth: the model's message-passing
layers (at least 1), plus one for recommendation so that positives and candidate negatives
(items within a hop of the part) get exact embeddings.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.config import RunConfig
from dsgraph.distributed.cluster import ClusterSettings, actor_error_reason, cluster, get
from dsgraph.distributed.errors import ClusterError, PSCheckpointError, WorkerNotConnectedError
from dsgraph.distributed.parameter_server import (
    ServerConfig,
    create_parameter_servers,
)
from dsgraph.distributed.ps_client import PSClient
from dsgraph.distributed.worker import TrainWorker, flat_dense, load_dense, model_layout
from dsgraph.errors import ConfigError, DsgraphError

_SERVER_DENSE = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}
_SERVER_ROWS = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}


@dataclass
class DistributedResult:
    """What a finished distributed run reports (also in ``summary.json``)."""

    run_dir: Path
    steps: int
    final: dict[str, float]
    baseline: dict[str, float]
    headline: str
    train_seconds: float
    ps_metrics: list[dict[str, Any]] = field(default_factory=list)
    placement: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    acks: dict[str, int] = field(default_factory=dict)
    bytes_on_wire: int = 0


def assign_parts(num_workers: int, num_parts: int) -> list[tuple[int, int, int]]:
    """(part, share, sharers) per worker: workers are dealt to parts round-robin."""
    if num_workers < 1:
        raise ConfigError(f"cluster.num_workers must be >= 1 here, got {num_workers}")
    out = []
    for w in range(num_workers):
        part = w % num_parts
        sharers = len(range(part, num_workers, num_parts))
        out.append((part, w // num_parts, sharers))
    return out


def halo_hops(config: RunConfig) -> int:
    """Halo depth of a training part: ``partition.halo_hops``, else see the module docstring."""
    if config.partition.halo_hops is not None:
        return config.partition.halo_hops
    # one hop per message-passing layer (neighbour fan-outs match the layers, as config checks)
    return max(1, config.model.num_layers) + (config.task.kind == "recommendation")


def _digest(*arrays: Any) -> str:
    """Content digest of arrays (numpy or torch; None counts as absent, in its position)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        if array is None:
            digest.update(b"-")
            continue
        data = np.ascontiguousarray(array.numpy() if isinstance(array, torch.Tensor) else array)
        digest.update(str((data.dtype, data.shape)).encode())
        digest.update(data.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def write_training_parts(
    config: RunConfig,
    task: Any,
    dataset: Any,
    parts_dir: str | Path,
    num_parts: int,
    *,
    progress: bool = False,
) -> Path:
    """Partition ``task.graph`` into ``num_parts`` and write the parts to ``parts_dir``.

    METIS with hub splitting (``partition.hub_threshold``, ``partition.seed``; train nodes are a
    balance constraint for node classification), :func:`halo_hops` deep halos, the dataset's
    features (and labels / split for node classification) per local node, and a ``training``
    manifest in ``meta.json``. An existing directory whose manifest matches is reused as is;
    anything else is replaced atomically. Returns ``parts_dir``.
    """
    from partitioning import partition, write_partitioned
    from partitioning.book import part_dir_name, read_meta

    parts_dir = Path(parts_dir)
    graph = task.graph
    manifest = {
        "task": config.task.kind,
        "source": str(Path(config.data.path).resolve()),
        "graph": _digest(graph.indptr, graph.indices, graph.weights),
        # what the parts carry besides structure: a changed feature or label rewrites them
        "inputs": _digest(
            dataset.features,
            getattr(dataset, "labels", None),
            getattr(dataset, "split", None),
            getattr(task, "train_nodes", None),
        ),
        "num_parts": num_parts,
        "halo_hops": halo_hops(config),
        "hub_threshold": config.partition.hub_threshold,
        "seed": config.partition.seed,
    }
    if (parts_dir / "meta.json").is_file():
        try:
            complete = all(
                (parts_dir / part_dir_name(p) / name).is_file()
                for p in range(num_parts)
                for name in ("nodes.parquet", "edges.parquet")
            )
            if complete and read_meta(parts_dir).get("training") == manifest:
                return parts_dir
        except DsgraphError:
            pass  # unreadable: rewritten below
    node_classification = config.task.kind == "node_classification"
    train_mask = None
    if node_classification:
        train_mask = np.zeros(graph.num_nodes, bool)
        train_mask[task.train_nodes] = True
    extra: dict[str, Any] = {
        "training": manifest,
        "task": config.task.kind,
        "symmetric": bool(graph.is_symmetric()),
        "source": manifest["source"],
    }
    if node_classification:
        extra["num_classes"] = int(task.out_dim)
    else:
        extra["num_users"], extra["num_items"] = int(task.num_users), int(task.num_items)
    features = None if dataset.features is None else np.asarray(dataset.features.numpy())
    with _parts_bar(progress, num_parts) as advance:
        result = partition(
            graph,
            num_parts,
            hub_threshold=config.partition.hub_threshold,
            train_mask=train_mask,
            seed=config.partition.seed,
        )
        advance(-1)
        write_partitioned(
            parts_dir,
            graph,
            result,
            halo_hops=manifest["halo_hops"],
            features=features,
            labels=dataset.labels if node_classification else None,
            split=dataset.split if node_classification else None,
            extra_meta=extra,
            on_part=advance,
        )
    return parts_dir


def _server_config(config: RunConfig, run_dir: Path) -> ServerConfig:
    tc, cc = config.train, config.cluster
    return ServerConfig(
        dense_optimizer=_SERVER_DENSE[tc.optimizer],
        dense_lr=tc.lr,
        momentum=0.9 if tc.optimizer == "sgd" else 0.0,
        row_optimizer=_SERVER_ROWS[tc.optimizer],
        row_lr=tc.lr,
        max_staleness=cc.max_staleness,
        staleness_policy=cc.staleness_policy,
        checkpoint_dir=str(run_dir / "ps"),
        checkpoint_every=cc.ps_checkpoint_every,
        seed=tc.seed,
    )


def pull_model(client: PSClient, model: torch.nn.Module) -> None:
    """Load the servers' current parameters (dense + every embedding row) into ``model``."""
    layout = client.layout
    if layout.dense_numel:
        load_dense(model, layout, client.pull_dense())
    params = dict(model.named_parameters())
    with torch.no_grad():
        for t in layout.tables:
            rows = client.pull_rows(t.name, np.arange(t.num_rows, dtype=np.int64))
            params[t.name].copy_(torch.from_numpy(rows))


def await_restart(actor: Any, timeout: float) -> dict[str, Any] | None:
    """``actor.info()`` once Ray has restarted it; None when it is dead for good or too slow."""
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return ray.get(actor.info.remote(), timeout=max(1.0, deadline - time.monotonic()))
        except ActorDiedError:
            return None
        except (ActorUnavailableError, GetTimeoutError):
            time.sleep(0.5)
    return None


def train_distributed(
    config: RunConfig,
    run_dir: str | Path,
    resume: bool = False,
    *,
    progress: bool = True,
    worker_resources: list[dict[str, float]] | None = None,
    ps_resources: dict[str, float] | None = None,
    kill_hook: Any = None,
) -> DistributedResult:
    """Train ``config`` on Ray with ``cluster.num_workers`` workers and ``cluster.num_ps`` shards.

    ``worker_resources``/``ps_resources`` pin actors to nodes by Ray custom resources (one dict
    per worker). ``kill_hook(chunk_index, workers, servers)`` is called after each chunk (fault
    injection in tests). Returns the final metrics of the server-held model.
    """
    from dsgraph.tasks.registry import build_task
    from dsgraph.train.metrics_log import MetricsLog
    from dsgraph.train.run import (
        RunLayout,
        load_dataset,
        prepare_run_dir,
        write_resolved_config,
        write_summary,
    )
    from dsgraph.train.trainer import build_components

    cc, tc = config.cluster, config.train
    if cc.num_workers < 1:
        raise ConfigError("train_distributed needs cluster.num_workers >= 1 (0 = local loop)")
    layout_dir = RunLayout(Path(run_dir))
    if resume:
        # servers and workers resume from their own checkpoints in ps/ and workers/
        if not (layout_dir.root / "ps").is_dir():
            raise ConfigError(
                f"--resume: {layout_dir.root} has no ps/ checkpoints of a distributed run; "
                "run without --resume"
            )
    else:
        prepare_run_dir(layout_dir, resume=False, overwrite=config.output.overwrite)
    layout_dir.root.mkdir(parents=True, exist_ok=True)
    write_resolved_config(layout_dir, config)
    torch.set_num_threads(max(1, tc.threads or 1))
    dataset = load_dataset(config)
    task = build_task(dataset, config)
    model = build_components(config, task, torch.device("cpu"))["model"]
    layout = model_layout(model)
    params = dict(model.named_parameters())
    num_parts = config.partition.num_parts
    if num_parts == 1:
        num_parts = cc.num_workers
    elif cc.num_workers < num_parts:
        raise ConfigError(
            f"cluster.num_workers={cc.num_workers} < partition.num_parts={num_parts}: every part "
            "needs a worker (more workers than parts is allowed: they share a part)"
        )
    parts_dir = write_training_parts(
        config, task, dataset, layout_dir.root / "parts", num_parts, progress=progress
    )
    assignment = assign_parts(cc.num_workers, num_parts)
    total = tc.epochs * task.num_batches()
    if tc.max_steps:
        total = min(total, tc.max_steps)
    per_worker = math.ceil(total / cc.num_workers)
    chunk = max(1, min(25, per_worker // 10 or 1))
    settings = ClusterSettings(
        address=cc.address,
        object_store_mb=cc.object_store_mb or 512,
        dashboard=cc.dashboard,
        remote_timeout_s=cc.remote_timeout_s,
    )
    events: list[str] = []
    with cluster(settings):
        import ray

        # a cluster that advertises custom resources "ps" / "trainer" (examples/ray-cluster.yaml)
        # gets servers and workers placed on those nodes
        advertised = ray.cluster_resources()
        if ps_resources is None and "ps" in advertised:
            ps_resources = {"ps": 0.01}
        if worker_resources is None and "trainer" in advertised:
            worker_resources = [{"trainer": 0.01}] * cc.num_workers
        try:
            servers = create_parameter_servers(
                layout,
                cc.num_ps,
                _server_config(config, layout_dir.root),
                flat_dense(model, layout),
                {t.name: params[t.name].detach().numpy() for t in layout.tables},
                max_restarts=cc.max_restarts,
                resources=ps_resources,
                timeout=cc.remote_timeout_s,
            )
            ps_info = get([s.info.remote() for s in servers], cc.remote_timeout_s, "start PS")
        except ClusterError as e:
            cause = e.__cause__
            if cause is not None and "PSCheckpointError" in str(cause):
                raise PSCheckpointError(actor_error_reason(cause)) from None
            raise
        remote_worker = ray.remote(TrainWorker)
        # a local instance has os.cpu_count() slots: more workers than cores share them
        worker_cpus = 1.0 if cc.address else min(1.0, (os.cpu_count() or 1) / cc.num_workers)
        resolved = config.model_dump(mode="json")
        workers = [
            remote_worker.options(
                num_cpus=worker_cpus,
                max_restarts=cc.max_restarts,
                max_task_retries=0,
                resources=(worker_resources or [{}] * cc.num_workers)[w],
            ).remote(resolved, w, part, share, sharers, str(layout_dir.root), str(parts_dir))
            for w, (part, share, sharers) in enumerate(assignment)
        ]
        placement = get(
            [w.connect.remote(servers) for w in workers], cc.remote_timeout_s * 5, "start workers"
        )
        for info in ps_info:
            placement.append({"ps_shard": info["shard"], "node_id": info["node_id"]})
        steps = {w: info["step"] for w, info in enumerate(placement[: cc.num_workers])}
        alive = set(range(cc.num_workers))
        totals = {"applied": 0, "downweighted": 0, "dropped": 0, "duplicate": 0}
        staleness_sum, bytes_sent = 0, {}
        client = PSClient(servers, layout, worker=-1, timeout=cc.remote_timeout_s)
        t0 = time.perf_counter()
        with MetricsLog(layout_dir.metrics) as log, _bar(progress, total) as (bar, task_id):
            log.write("baseline", 0, **task.baseline())
            eval_every = tc.eval_every or task.num_batches()
            next_eval = eval_every
            pending = {workers[w].train.remote(min(per_worker, steps[w] + chunk)): w for w in alive}
            chunk_index = 0
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=cc.remote_timeout_s * 5)
                if not done:
                    raise ClusterError(
                        f"no worker finished a chunk of {chunk} steps within "
                        f"{cc.remote_timeout_s * 5:.0f}s"
                    )
                ref = done[0]
                w = pending.pop(ref)
                try:
                    stats = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:
                    if isinstance(e, ray.exceptions.RayActorError):
                        events.append(f"worker {w} died ({actor_error_reason(e)})")
                        info = await_restart(workers[w], cc.remote_timeout_s * 5)
                    elif isinstance(e.cause, WorkerNotConnectedError):
                        # Ray restarted it between two chunks; its next chunk found no servers
                        events.append(f"worker {w} was restarted by Ray between chunks")
                        info = get(workers[w].info.remote(), cc.remote_timeout_s, "worker info")
                    else:
                        raise
                    if info is not None:  # Ray restarted it: it reloaded its part and checkpoint
                        workers[w].connect.remote(servers)  # runs before the next chunk
                        steps[w] = info["step"]
                        events.append(
                            f"worker {w} restarted at step {steps[w]} "
                            f"(reloaded part {info['part']}: {info['num_local']} local nodes)"
                        )
                        pending[workers[w].train.remote(min(per_worker, steps[w] + chunk))] = w
                    else:
                        alive.discard(w)
                        events.append(f"worker {w} lost for good; continuing without it")
                    log.write("event", sum(steps.values()), event=events[-1])
                    continue
                steps[w] = stats["step"]
                for k in totals:
                    totals[k] += stats["acks"][k]
                staleness_sum += stats["staleness_sum"]
                bytes_sent[w] = stats["bytes_sent"] + stats["bytes_received"]
                global_step = sum(steps.values())
                elapsed = time.perf_counter() - t0
                pushes = totals["applied"] + totals["downweighted"]
                n_acks = max(1, sum(totals.values()))
                info = (
                    f"pushes/s {pushes / elapsed:.1f}  staleness {staleness_sum / n_acks:.2f}  "
                    f"wire {sum(bytes_sent.values()) / 1e6:.1f} MB"
                )
                bar.update(task_id, completed=min(global_step, total), info=info)
                log.write(
                    "step",
                    global_step,
                    worker=w,
                    loss=stats["loss_sum"] / max(1, stats["steps"]),
                    pushes_per_s=pushes / elapsed,
                    mean_staleness=staleness_sum / n_acks,
                    bytes_on_wire=sum(bytes_sent.values()),
                )
                if steps[w] < per_worker:
                    pending[workers[w].train.remote(min(per_worker, steps[w] + chunk))] = w
                if global_step >= next_eval and pending:
                    # mid-run score of the server-held model; workers keep training meanwhile
                    pull_model(client, model)
                    log.write(
                        "eval",
                        global_step,
                        train_seconds=time.perf_counter() - t0,
                        **task.evaluate(model),
                    )
                    next_eval = (global_step // eval_every + 1) * eval_every
                chunk_index += 1
                if kill_hook is not None:
                    kill_hook(chunk_index, workers, servers)
            train_seconds = time.perf_counter() - t0
            pull_model(client, model)
            final = task.evaluate(model)
            log.write("eval", sum(steps.values()), train_seconds=train_seconds, **final)
        metrics = get([s.metrics.remote() for s in servers], cc.remote_timeout_s, "metrics")
        ps_metrics = [
            {
                "shard": m.shard,
                "version": m.version,
                "applied": m.applied,
                "downweighted": m.downweighted,
                "dropped": m.dropped,
                "duplicates": m.duplicates,
                "restored_version": m.restored_version,
                "checkpoints": m.checkpoints,
                "bytes_in": m.bytes_in,
                "bytes_out": m.bytes_out,
                "pushes_per_s": m.pushes_per_s,
                "mean_staleness": m.mean_staleness,
                # counts of updates by staleness 0, 1, 2, … (last bin: that or more)
                "staleness_hist": np.trim_zeros(m.staleness_hist, "b").tolist(),
            }
            for m in metrics
        ]
        for a in workers + servers:
            ray.kill(a)
    if config.output.embeddings:
        from dsgraph.train.run import node_types_of, write_embeddings

        emb = task.embeddings(model) if hasattr(task, "embeddings") else task.predict(model)
        write_embeddings(layout_dir.embeddings, emb, node_types_of(task, dataset))
    result = DistributedResult(
        run_dir=layout_dir.root,
        steps=sum(steps.values()),
        final=final,
        baseline=_baseline(layout_dir.metrics),
        headline=task.headline,
        train_seconds=train_seconds,
        ps_metrics=ps_metrics,
        placement=placement,
        events=events,
        acks=totals,
        bytes_on_wire=sum(bytes_sent.values()),
    )
    write_summary(layout_dir, {k: v for k, v in result.__dict__.items()})
    return result


def _baseline(metrics_path: Path) -> dict[str, float]:
    from dsgraph.train.metrics_log import read_metrics

    rec = next((r for r in read_metrics(metrics_path) if r["kind"] == "baseline"), {})
    return {k: v for k, v in rec.items() if k not in ("kind", "step")}


@contextlib.contextmanager
def _parts_bar(enabled: bool, num_parts: int) -> Iterator[Callable[[int], None]]:
    """Rich progress over METIS (step −1) and each written part; a no-op when disabled."""
    if not enabled:
        yield lambda step: None
        return
    from dsgraph.train.trainer import _progress

    with _progress(True) as bar:
        task_id = bar.add_task("partitioning (METIS)", total=num_parts + 1, info="")

        def advance(step: int) -> None:
            bar.update(task_id, advance=1, description="writing parts (halo)")

        yield advance


class _bar:
    """Rich progress bar (global step + PS stats), or nothing when ``enabled`` is False."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> tuple[Any, int]:
        from dsgraph.train.trainer import _progress

        self.ctx = _progress(self.enabled)
        bar = self.ctx.__enter__()
        return bar, bar.add_task("training (ray)", total=self.total, info="")

    def __exit__(self, *exc: object) -> None:
        self.ctx.__exit__(*exc)
