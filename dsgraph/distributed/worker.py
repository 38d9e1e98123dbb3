"""TrainWorker: one Ray actor per partition (or several sharing one), running the local step.

The worker builds the same task, model and :class:`~dsgraph.train.step.TrainStep` as the local
loop, then per step: pulls the dense parameters (every ``cluster.pull_every`` steps) and the
embedding rows its batch reads, computes the step unchanged (precision policy, anomaly guard,
Top-K + error feedback on dense tensors), and pushes Top-K dense payloads and row-sparse
embedding gradients to the parameter servers. Its training examples are the interactions/nodes
whose seed node its partition owns. Every ``train.checkpoint_every`` steps it saves its own state
(step, error-feedback residuals, guard, precision, RNG); a restarted worker reloads it and
rejoins, re-sending the same sequence numbers, which the servers apply at most once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.distributed.cluster import configure_threads
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


def owned_examples(task: Any, owner: np.ndarray, part: int, share: int, sharers: int) -> np.ndarray:
    """Indices of the task's training examples whose seed node ``part`` owns.

    A recommendation example is a (user, item) interaction seeded at the user; a node-
    classification example is a train node. With ``sharers`` > 1 workers on one part, the part's
    examples are dealt round-robin and this worker keeps every ``sharers``-th from ``share``.
    """
    seeds = task.train_users if hasattr(task, "train_users") else task.train_nodes
    mine = np.flatnonzero(owner[np.asarray(seeds)] == part)
    return mine[share::sharers]


def restrict_task(task: Any, examples: np.ndarray) -> None:
    """Make ``task.batch`` draw only from ``examples`` (message passing still sees all edges)."""
    if hasattr(task, "train_users"):
        task.train_users = task.train_users[examples]
        task.train_items = task.train_items[examples]
    else:
        task.train_nodes = task.train_nodes[examples]


class TrainWorker:
    """Ray actor body; created by :func:`dsgraph.distributed.driver.train_distributed`."""

    def __init__(
        self,
        config: dict,
        worker: int,
        part: int,
        share: int,
        sharers: int,
        owner: np.ndarray,
        ps_actors: list[Any],
        run_dir: str,
        threads: int = 1,
    ) -> None:
        from dsgraph.config import config_from_dict
        from dsgraph.tasks.registry import build_task
        from dsgraph.train.checkpoint import CheckpointManager
        from dsgraph.train.run import load_dataset, training_hash
        from dsgraph.train.step import TrainStep
        from dsgraph.train.trainer import build_components

        configure_threads(threads)
        self.config = config_from_dict(config)
        self.worker, self.part = worker, part
        tc = self.config.train
        self.task = build_task(load_dataset(self.config), self.config)
        examples = owned_examples(self.task, np.asarray(owner), part, share, sharers)
        self.num_examples = int(examples.size)
        restrict_task(self.task, examples)
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
        self.layout = model_layout(self.model)
        self.offsets = self.layout.offsets()
        self.client = PSClient(
            ps_actors, self.layout, worker, timeout=self.config.cluster.remote_timeout_s
        )
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
        import ray

        return {
            "worker": self.worker,
            "part": self.part,
            "examples": self.num_examples,
            "step": self.step,
            "restored_step": self.restored_step,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    # ---- training --------------------------------------------------------------------------
    def train(self, until_step: int) -> dict[str, Any]:
        """Run steps until the worker's own step counter reaches ``until_step``; stats back."""
        from dsgraph.train.trainer import step_seed

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
            for name in table_names:
                rows_needed = (
                    np.arange(self.layout.table(name).num_rows)
                    if ids is None
                    else ids.numpy().astype(np.int64)
                )
                rows = self.client.pull_rows(name, rows_needed)
                with torch.no_grad():
                    params[name][torch.from_numpy(rows_needed)] = torch.from_numpy(rows)
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
            RowGrads(name, ids.numpy().astype(np.int64), grads.numpy())
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
