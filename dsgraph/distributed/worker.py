"""TrainWorker: one Ray actor per partition (or several sharing one), running the local step.

A worker loads only its part of the partitioned training graph (``partitioning.load_partition``:
owned nodes, mirrors, L-hop halo; see :mod:`dsgraph.distributed.driver` for where the parts
live) and builds the same task, model and :class:`~dsgraph.train.step.TrainStep` as the local
loop over that LOCAL graph, so its memory scales with its part. Model rows are local; the
parameter servers hold rows by GLOBAL id, so every pull and push of embedding rows goes through
:attr:`LocalTask.row_to_global`. Dense parameters do not depend on the graph and travel as they
are. Per step the worker pulls the dense parameters (every ``cluster.pull_every`` steps) and the
embedding rows its batch reads, computes the step unchanged (precision policy, anomaly guard,
Top-K + error feedback on dense tensors), and pushes Top-K dense payloads and row-sparse
embedding gradients. The driver hands it the parameter-server shards with
:meth:`TrainWorker.connect` (its constructor arguments are small: config, ids, paths). Every
``train.checkpoint_every`` steps it saves its own state (step, error-feedback residuals, guard,
precision, RNG); a restarted worker reloads its part from the same directory and that state,
and rejoins, re-sending the same sequence numbers, which the servers apply at most once.

Training examples (:func:`build_local_task`):

* recommendation: the (user, item) interactions whose user→item edge this part owns — for a user
  that is not a split hub, all interactions of the users it owns; every interaction is a
  training example of exactly one part. Negatives are drawn from the part's *near* items (owned,
  mirrored, or one hop from them), with popularity weights from the items' global degrees. The
  driver writes recommendation parts with ``num_layers + 1`` halo hops, so the final embeddings
  of the user, the positive and every candidate negative equal a full-graph forward.
* node classification: the labelled train nodes this part owns.

Exactness: the local graph is symmetrised when the whole graph is symmetric (in-rows of halo
nodes are then recovered from the part's own rows) and ``sym``-normalised models (GCN,
LightGCN) normalise by the nodes' global degrees (stored in the part), so owned nodes' L-layer
outputs equal the full-graph ones (tested for GCN, LightGCN, GraphSAGE and GAT), except next to
split hubs, whose rows each part holds only its share of (a hub's aggregate there is partial),
and on directed graphs, whose in-neighbours an out-hop halo does not cover.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.distributed.cluster import configure_threads
from dsgraph.distributed.errors import WorkerNotConnectedError
from dsgraph.distributed.payloads import ModelLayout, RowGrads, TableSpec, TensorSpec
from dsgraph.distributed.ps_client import PSClient


def model_layout(model: torch.nn.Module) -> ModelLayout:
    """Dense tensors (in ``named_parameters`` order) and the row-sparse embedding tables."""
    sparse = set(getattr(model, "embedding_parameter_names", list)())
    tensors, tables = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in sparse:
            tables.append(TableSpec(name, int(p.shape[0]), int(p.shape[1])))
        else:
            tensors.append(TensorSpec(name, tuple(int(s) for s in p.shape)))
    return ModelLayout(tuple(tensors), tuple(tables))


def flat_dense(model: torch.nn.Module, layout: ModelLayout) -> np.ndarray:
    """The dense parameters of ``model`` as one fp32 vector in ``layout`` order."""
    params = dict(model.named_parameters())
    parts = [params[t.name].detach().float().reshape(-1).numpy() for t in layout.tensors]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def load_dense(model: torch.nn.Module, layout: ModelLayout, flat: np.ndarray) -> None:
    """Copy a flat fp32 vector (``layout`` order) into the model's dense parameters."""
    params = dict(model.named_parameters())
    offsets = layout.offsets()
    with torch.no_grad():
        for t in layout.tensors:
            lo, hi = offsets[t.name]
            params[t.name].copy_(torch.from_numpy(flat[lo:hi]).reshape(t.shape))


def deal(examples: np.ndarray, share: int, sharers: int) -> np.ndarray:
    """The ``share``-th of ``sharers`` round-robin hands of ``examples`` (sharing a part)."""
    return np.asarray(examples)[share::sharers]


def restrict_task(task: Any, examples: np.ndarray) -> None:
    """Make ``task.batch`` draw only from ``examples`` (message passing still sees all edges)."""
    if hasattr(task, "train_users"):
        task.train_users = task.train_users[examples]
        task.train_items = task.train_items[examples]
    else:
        task.train_nodes = task.train_nodes[examples]


def global_layout(layout: ModelLayout, num_nodes: int) -> ModelLayout:
    """``layout`` of a local model with its embedding tables sized for all ``num_nodes`` nodes."""
    tables = tuple(dataclasses.replace(t, num_rows=int(num_nodes)) for t in layout.tables)
    return ModelLayout(layout.tensors, tables)


@dataclass
class LocalTask:
    """A task over one part's local graph, and what ties its node rows to the whole graph.

    ``task``: a recommendation / node-classification task whose nodes are the part's local nodes
    (its ``batch`` draws only this worker's examples); ``row_to_global``: int64 ``[n]`` global id
    (= parameter-server embedding row) of each task node; ``kind``: int8 ``[n]`` 0 owned,
    1 mirror, 2 halo; ``num_global``: nodes in the whole graph; ``num_examples``: this worker's
    training examples.
    """

    task: Any
    row_to_global: np.ndarray
    kind: np.ndarray
    num_global: int
    num_examples: int

    @property
    def num_local(self) -> int:
        return int(self.row_to_global.size)

    @property
    def num_owned(self) -> int:
        return int(np.count_nonzero(self.kind == 0))


def build_local_task(
    config: Any, local: Any, meta: dict[str, Any], share: int = 0, sharers: int = 1
) -> LocalTask:
    """The task of ``config`` over ``local`` (a ``LocalPartition``), restricted to its examples.

    ``meta`` is the partitioned dataset's ``meta.json`` (``task``, ``symmetric`` and, for
    recommendation, ``num_users`` / ``num_items`` as the driver writes them). With ``sharers`` > 1
    the part's examples are dealt round-robin (:func:`deal`). Deterministic: the same part and
    settings give the same task, so a restarted worker resumes the same batch sequence.
    """
    from dsgraph.errors import DatasetError
    from dsgraph.graph import CSRGraph

    if local.degrees is None:
        raise DatasetError(
            f"part {local.part_id} has no 'degree' column; rewrite the parts with this dsgraph"
        )
    kind_name = meta.get("task")
    if kind_name is None:
        raise DatasetError(
            f"partitioned dataset {meta.get('source', '')!r} was not written for training (its "
            "meta.json has no 'task'); train_distributed writes the parts it trains on"
        )
    if kind_name != config.task.kind:
        raise DatasetError(
            f"the partitioned dataset was written for task {kind_name!r}, not {config.task.kind!r}"
        )
    if kind_name == "recommendation":
        task, order, examples = _local_recommendation(config, local, meta)
    else:
        graph = local.graph
        if meta.get("symmetric"):
            # halo rows are partial or empty; the whole graph's symmetry gives back in-edges
            src, dst = graph.edges()
            graph = CSRGraph.from_edges(src, dst, local.num_local, graph.weights, symmetrize=True)
        task, order, examples = _local_node_classification(config, local, graph, meta)
    # negatives must know every positive the part holds, not only this worker's share of them
    positives = (task.train_users, task.train_items) if kind_name == "recommendation" else None
    examples = deal(examples, share, sharers)
    restrict_task(task, examples)
    if positives is not None:
        _local_negatives(task, config, local, order, positives)
    task.inputs.use_global_degrees(local.degrees[order])
    return LocalTask(
        task,
        np.ascontiguousarray(local.local_to_global[order]),
        np.ascontiguousarray(local.kind[order]),
        int(meta["num_nodes"]),
        int(examples.size),
    )


def _local_features(local: Any, order: np.ndarray) -> torch.Tensor | None:
    return None if local.features is None else torch.from_numpy(local.features[order])


def _local_recommendation(config: Any, local: Any, meta: dict[str, Any]) -> tuple:
    """Users first, then near items (hop ≤ 1), then far items: the task's id contract."""
    from dsgraph.errors import DatasetError
    from dsgraph.tasks.recommendation import RecommendationTask

    num_users = int(meta["num_users"])
    n = local.num_local
    is_item = local.local_to_global >= num_users
    far = is_item & (local.hop > 1)
    order = np.lexsort((np.arange(n), far, is_item))
    new_id = np.empty(n, np.int64)
    new_id[order] = np.arange(n)
    local_users = int(np.count_nonzero(~is_item))
    src, dst = local.graph.edges()
    src_user = ~is_item[src]
    if np.any(src_user == ~is_item[dst]):
        raise DatasetError(
            f"part {local.part_id}: recommendation parts must hold user–item edges only"
        )
    user = new_id[np.where(src_user, src, dst)]
    item = new_id[np.where(src_user, dst, src)] - local_users
    _, first, inverse = np.unique(
        user * (n - local_users) + item, return_index=True, return_inverse=True
    )
    # an example is an interaction whose user→item edge this part owns (a non-halo user row)
    owned_edge = src_user & (local.kind[src] != 2)
    examples = np.unique(inverse[owned_edge])
    empty = np.empty(0, np.int64)
    task = RecommendationTask(
        local_users,
        n - local_users,
        (user[first], item[first]),
        (empty, empty),
        config,
        features=_local_features(local, order),
    )
    return task, order, examples


def _local_negatives(
    task: Any,
    config: Any,
    local: Any,
    order: np.ndarray,
    positives: tuple[np.ndarray, np.ndarray],
) -> None:
    """Negatives from the part's near items, weighted (popularity) by global degree, never one
    of ``positives`` (every (user, item) interaction the part holds)."""
    from dsgraph.tasks.negatives import NegativeSampler

    num_users = task.num_users
    near = int(np.count_nonzero(local.hop[order][num_users:] <= 1))  # sorted first by the task
    drawable = positives[1] < near  # far items are never drawn: no need to exclude them
    task.negatives = NegativeSampler(
        near,
        positives[0][drawable],
        positives[1][drawable],
        config.task.negatives,
        config.task.popularity_alpha,
        item_counts=local.degrees[order][num_users : num_users + near],
    )


def _local_node_classification(config: Any, local: Any, graph: Any, meta: dict[str, Any]) -> tuple:
    from dsgraph.errors import DatasetError
    from dsgraph.tasks.node_classification import NodeClassificationTask

    if local.labels is None or local.split is None:
        raise DatasetError(f"part {local.part_id} has no labels/split (node classification)")
    order = np.arange(local.num_local)
    task = NodeClassificationTask(
        graph,
        _local_features(local, order),
        np.array(local.labels),  # writable copies of the memory-mapped columns
        np.array(local.split),
        config,
        num_classes=int(meta["num_classes"]),
    )
    examples = np.flatnonzero(local.kind[task.train_nodes] == 0)
    return task, order, examples


class TrainWorker:
    """Ray actor body; created by :func:`dsgraph.distributed.driver.train_distributed`."""

    def __init__(
        self,
        config: dict,
        worker: int,
        part: int,
        share: int,
        sharers: int,
        run_dir: str,
        parts_dir: str,
        threads: int = 1,
    ) -> None:
        from dsgraph.config import config_from_dict
        from dsgraph.train.checkpoint import CheckpointManager
        from dsgraph.train.run import training_hash
        from dsgraph.train.step import TrainStep
        from dsgraph.train.trainer import build_components
        from partitioning.book import read_meta
        from partitioning.io import load_partition

        configure_threads(threads)
        self.config = config_from_dict(config)
        self.worker, self.part, self.parts_dir = worker, part, parts_dir
        tc = self.config.train
        meta = read_meta(Path(parts_dir))
        self.local = build_local_task(
            self.config, load_partition(parts_dir, part), meta, share, sharers
        )
        self.task = self.local.task
        self.num_examples = self.local.num_examples
        parts = build_components(self.config, self.task, torch.device("cpu"))
        self.model, self.precision = parts["model"], parts["precision"]
        self.guard, self.compression = parts["guard"], parts["compression"]
        self.stepper = TrainStep(
            self.model,
            self.task,
            self.precision,
            self.guard,
            self.compression,
            compress_embeddings=False,
            collect_payloads=True,
        )
        # the servers hold every node's embedding row: tables sized for the whole graph
        self.layout = global_layout(model_layout(self.model), self.local.num_global)
        self.offsets = self.layout.offsets()
        self.row_to_global = self.local.row_to_global
        self.client: PSClient | None = None  # set by connect()
        self.checkpoints = CheckpointManager(
            Path(run_dir) / "workers" / f"worker-{worker:03d}",
            keep_last=2,
            config_hash=training_hash(self.config),
        )
        self.step = 0
        self.restored_step = 0
        if self.checkpoints.latest() is not None:
            self._restore(self.checkpoints.load(fallback=True))
        self.checkpoint_every = tc.checkpoint_every

    # ---- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        from dsgraph.train.rng import capture_rng_state

        return {
            "step": self.step,
            "precision": self.precision.state_dict(),
            "compression": None if self.compression is None else self.compression.state_dict(),
            "guard": None if self.guard is None else self.guard.state_dict(),
            "rng": capture_rng_state(include_cuda=False),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        from dsgraph.train.rng import restore_rng_state

        self.step = self.restored_step = int(state["step"])
        self.precision.load_state_dict(state["precision"])
        if self.compression is not None and state["compression"] is not None:
            self.compression.load_state_dict(state["compression"])
        if self.guard is not None and state["guard"] is not None:
            self.guard.load_state_dict(state["guard"])
        restore_rng_state(state["rng"])

    def info(self) -> dict[str, Any]:
        """Placement and size: ids, part, local / owned / global node counts, step, pid, node,
        resident memory (MB, of this actor's process)."""
        import psutil
        import ray

        return {
            "worker": self.worker,
            "part": self.part,
            "examples": self.num_examples,
            "num_local": self.local.num_local,
            "num_owned": self.local.num_owned,
            "num_global": self.local.num_global,
            "parts_dir": self.parts_dir,
            "step": self.step,
            "restored_step": self.restored_step,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        }

    def connect(self, ps_actors: list[Any]) -> dict[str, Any]:
        """Use ``ps_actors`` (the parameter-server shards) from now on; returns :meth:`info`.

        Not a constructor argument: Ray cannot restart an actor whose constructor received
        actor handles or object refs reliably (ray-project/ray#53727), so the driver connects
        each worker after it starts and again after Ray restarts it.
        """
        self.client = PSClient(
            ps_actors, self.layout, self.worker, timeout=self.config.cluster.remote_timeout_s
        )
        return self.info()

    # ---- training --------------------------------------------------------------------------
    def train(self, until_step: int) -> dict[str, Any]:
        """Run steps until the worker's own step counter reaches ``until_step``; stats back."""
        from dsgraph.train.trainer import step_seed

        if self.client is None:
            raise WorkerNotConnectedError(
                f"worker {self.worker}: train() before connect(ps_actors)"
            )
        nb = self.task.num_batches()
        cc = self.config.cluster
        stats = {"steps": 0, "loss_sum": 0.0, "skipped": 0, "seconds": 0.0}
        table_names = [t.name for t in self.layout.tables]
        params = dict(self.model.named_parameters())
        t_start = time.perf_counter()
        while self.step < until_step:
            if self.num_examples == 0:
                self.step = until_step
                break
            if self.step % cc.pull_every == 0 and self.layout.dense_numel:
                load_dense(self.model, self.layout, self.client.pull_dense())
            epoch, index = divmod(self.step, nb)
            batch = self.task.batch(epoch, index)
            ids = batch.graph.node_ids
            # model rows are local ids; the servers are asked for the same nodes' global rows
            local_rows = (
                np.arange(self.local.num_local) if ids is None else ids.numpy().astype(np.int64)
            )
            for name in table_names:
                rows = self.client.pull_rows(name, self.row_to_global[local_rows])
                with torch.no_grad():
                    params[name][torch.from_numpy(local_rows)] = torch.from_numpy(rows)
            torch.manual_seed(step_seed(self.config.train.seed * 7919 + self.worker, self.step))
            out = self.stepper.compute(batch, self.step)
            if out.update:
                self._push(out)
            else:
                stats["skipped"] += 1
            self.precision.update()
            stats["steps"] += 1
            stats["loss_sum"] += out.loss if np.isfinite(out.loss) else 0.0
            self.step += 1
            if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                self.client.flush()
                self.checkpoints.save(self.step, self._state())
        self.client.flush()
        stats["seconds"] = time.perf_counter() - t_start
        stats["step"] = self.step
        stats["bytes_sent"] = self.client.bytes_sent
        stats["bytes_received"] = self.client.bytes_received
        acks = self.client.acks
        self.client.acks = []
        stats["acks"] = {s: sum(a.status == s for a in acks) for s in _STATUSES}
        stats["staleness_sum"] = int(sum(a.staleness for a in acks))
        return stats

    def _push(self, out: Any) -> None:
        positions, values = [], []
        for p in out.payloads:
            lo = self.offsets[p.name][0]
            positions.append(lo + p.flat_indices().astype(np.int64))
            values.append(np.asarray(p.values, dtype=np.float32))
        rows = [
            RowGrads(name, self.row_to_global[ids.numpy()], grads.numpy())
            for name, (ids, grads) in out.sparse_rows.items()
            if ids.numel()
        ]
        self.client.push(
            self.step,
            np.concatenate(positions) if positions else None,
            np.concatenate(values) if values else None,
            rows,
        )


_STATUSES = ("applied", "downweighted", "dropped", "duplicate")
