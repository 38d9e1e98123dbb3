"""Caller side of the sharded parameter server: split requests by shard, merge answers.

A worker (or the driver, or a benchmark) holds one :class:`PSClient`. It keeps a private copy
of the dense vector and refreshes only the shards whose version moved; it routes Top-K positions
to the shard owning them and embedding rows to ``id % num_ps``; it queues small pushes and sends
them as one ``push_batch`` per shard (one round trip) once ``batch_bytes`` are pending or before
the next pull, so a worker always reads its own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsgraph.distributed.cluster import get
from dsgraph.distributed.payloads import (
    DenseGrad,
    ModelLayout,
    PushAck,
    RowGrads,
    RowPull,
    ShardUpdate,
)


class PSClient:
    """Talks to ``num_ps`` :class:`~dsgraph.distributed.parameter_server.ParameterServer` actors."""

    def __init__(
        self,
        actors: Sequence[Any],
        layout: ModelLayout,
        worker: int,
        timeout: float = 120.0,
        batch_bytes: int = 0,
    ) -> None:
        self.actors, self.layout, self.worker = list(actors), layout, int(worker)
        self.num_ps = len(self.actors)
        self.timeout, self.batch_bytes = float(timeout), int(batch_bytes)
        self.bounds = layout.shard_bounds(self.num_ps)
        self.dense = np.zeros(layout.dense_numel, np.float32)
        self.dense_versions = np.full(self.num_ps, -1, np.int64)
        self.row_versions = np.zeros(self.num_ps, np.int64)
        self.pending: list[list[ShardUpdate]] = [[] for _ in range(self.num_ps)]
        self.pending_bytes = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.acks: list[PushAck] = []

    # ---- pulls -----------------------------------------------------------------------------
    def pull_dense(self) -> np.ndarray:
        """The flat fp32 parameters (this client's writeable copy), refreshed where they moved."""
        self.flush()
        refs = [
            a.pull_dense.remote(int(v))
            for a, v in zip(self.actors, self.dense_versions, strict=True)
        ]
        for snap in get(refs, self.timeout, "pull_dense"):
            if snap.values is not None:
                lo, hi = self.bounds[snap.shard], self.bounds[snap.shard + 1]
                self.dense[lo:hi] = snap.values
                self.bytes_received += snap.nbytes
            self.dense_versions[snap.shard] = snap.version
        return self.dense

    def pull_rows(self, table: str, ids: np.ndarray) -> np.ndarray:
        """fp32 [len(ids), dim] rows of ``table`` in the order of ``ids`` (int64, may repeat)."""
        self.flush()
        ids = np.asarray(ids, dtype=np.int64)
        dim = self.layout.table(table).dim
        out = np.empty((ids.size, dim), np.float32)
        owner = ids % self.num_ps
        positions = [np.flatnonzero(owner == s) for s in range(self.num_ps)]
        refs, shards = [], []
        for s, pos in enumerate(positions):
            if pos.size:
                refs.append(self.actors[s].pull_rows.remote(RowPull(table, ids[pos])))
                shards.append(s)
        for s, block in zip(shards, get(refs, self.timeout, f"pull_rows({table})"), strict=True):
            out[positions[s]] = block.rows
            self.row_versions[s] = block.version
            self.bytes_received += block.rows.nbytes
        return out

    # ---- pushes ----------------------------------------------------------------------------
    def push(
        self,
        seq: int,
        dense_positions: np.ndarray | None = None,
        dense_values: np.ndarray | None = None,
        rows: Sequence[RowGrads] = (),
    ) -> None:
        """Queue one step's update; ``dense_positions`` None with values = the full gradient.

        Positions are flat int64 indices into the dense vector; ``rows`` carry global row ids.
        Sent at once unless ``batch_bytes`` > 0, then when enough is pending or before a pull.
        """
        dense_parts = self._split_dense(dense_positions, dense_values)
        row_parts = self._split_rows(rows)
        for s in range(self.num_ps):
            dense, shard_rows = dense_parts[s], row_parts[s]
            if dense is None and not shard_rows:
                continue
            base = (
                self.dense_versions[s]
                if dense is not None
                else max(self.row_versions[s], self.dense_versions[s])
            )
            update = ShardUpdate(self.worker, int(seq), int(base), dense, tuple(shard_rows))
            self.pending[s].append(update)
            self.pending_bytes += update.nbytes
        if self.pending_bytes >= self.batch_bytes:
            self.flush()

    def flush(self) -> list[PushAck]:
        """Send every queued update (one call per shard) and wait for the verdicts."""
        refs = []
        for s, queue in enumerate(self.pending):
            if len(queue) == 1:
                refs.append(self.actors[s].push.remote(queue[0]))
            elif queue:
                refs.append(self.actors[s].push_batch.remote(queue))
        self.bytes_sent += self.pending_bytes
        self.pending = [[] for _ in range(self.num_ps)]
        self.pending_bytes = 0
        acks: list[PushAck] = []
        for res in get(refs, self.timeout, "push") if refs else []:
            wires = res if isinstance(res, list) else [res]  # push_batch answers a list
            acks.extend(PushAck.from_wire(w) for w in wires)
        self.acks.extend(acks)
        return acks

    def _split_dense(
        self, positions: np.ndarray | None, values: np.ndarray | None
    ) -> list[DenseGrad | None]:
        parts: list[DenseGrad | None] = [None] * self.num_ps
        if values is None:
            return parts
        if positions is None:
            for s in range(self.num_ps):
                parts[s] = DenseGrad(values[self.bounds[s] : self.bounds[s + 1]])
            return parts
        if self.num_ps == 1:
            return [DenseGrad(values, positions.astype(np.int32, copy=False))]
        order = np.argsort(positions, kind="stable")
        positions, values = positions[order], values[order]
        cuts = np.searchsorted(positions, self.bounds)
        for s in range(self.num_ps):
            a, b = cuts[s], cuts[s + 1]
            if b > a:
                local = (positions[a:b] - self.bounds[s]).astype(np.int32)
                parts[s] = DenseGrad(values[a:b], local)
        return parts

    def _split_rows(self, rows: Sequence[RowGrads]) -> list[list[RowGrads]]:
        parts: list[list[RowGrads]] = [[] for _ in range(self.num_ps)]
        for r in rows:
            if self.num_ps == 1:
                parts[0].append(r)
                continue
            owner = r.ids % self.num_ps
            for s in range(self.num_ps):
                mask = owner == s
                if mask.any():
                    parts[s].append(RowGrads(r.table, r.ids[mask], r.grads[mask]))
        return parts
