"""Typed request/response records of every parameter-server verb.

Each record is a frozen dataclass of numpy arrays and scalars. Ray serialises numpy arrays with
pickle protocol 5 *out of band*: the array bytes go to the shared-memory object store once and the
receiver maps them read-only, so nesting arrays in these records costs no copy or pickling of the
data. Receivers must therefore treat arrays as read-only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One dense parameter: its name and shape inside the flat fp32 vector."""

    name: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass(frozen=True)
class TableSpec:
    """One sparse embedding table, sharded by row (row ``r`` lives on shard ``r % num_ps``)."""

    name: str
    num_rows: int
    dim: int
    init_std: float = 0.1


@dataclass(frozen=True)
class ModelLayout:
    """Where every dense tensor sits in the flat parameter vector, plus the embedding tables.

    Dense shards are contiguous, nearly equal ranges of the flat vector; ``signature`` hashes the
    whole layout so a checkpoint written for another model is recognised and refused.
    """

    tensors: tuple[TensorSpec, ...]
    tables: tuple[TableSpec, ...] = ()

    @property
    def dense_numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    def offsets(self) -> dict[str, tuple[int, int]]:
        """name → [start, stop) in the flat vector."""
        out, start = {}, 0
        for t in self.tensors:
            out[t.name] = (start, start + t.numel)
            start += t.numel
        return out

    def shard_bounds(self, num_ps: int) -> np.ndarray:
        """int64 [num_ps + 1]: shard ``s`` holds flat positions ``bounds[s]:bounds[s+1]``."""
        return np.linspace(0, self.dense_numel, num_ps + 1).astype(np.int64)

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tables) or "none"
        raise KeyError(f"no embedding table {name!r} (tables: {known})")

    @property
    def signature(self) -> str:
        desc = {
            "tensors": [[t.name, list(t.shape)] for t in self.tensors],
            "tables": [[t.name, t.num_rows, t.dim] for t in self.tables],
        }
        return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DenseSnapshot:
    """Response of ``pull_dense(since_version)``: the shard's fp32 values at ``version``.

    ``values`` is None when the caller already holds ``version`` (nothing to send).
    """

    shard: int
    version: int
    values: np.ndarray | None

    @property
    def nbytes(self) -> int:
        return 0 if self.values is None else int(self.values.nbytes)


@dataclass(frozen=True)
class DenseGrad:
    """A dense-gradient update for one shard: Top-K (shard-local int32 indices + values) or full.

    ``indices`` None means ``values`` is the whole shard's gradient. Values may be fp16 or fp32.
    """

    values: np.ndarray
    indices: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes) + (0 if self.indices is None else int(self.indices.nbytes))


@dataclass(frozen=True)
class RowGrads:
    """Gradients of some rows of one embedding table: global row ids int64 [n], grads fp32 [n, d].

    Ids may repeat; the server sums duplicates before its optimizer step.
    """

    table: str
    ids: np.ndarray
    grads: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes) + int(self.grads.nbytes)


@dataclass(frozen=True)
class ShardUpdate:
    """One worker step's update for one shard, applied atomically as one version bump.

    ``(worker, seq)`` identifies it: the shard applies each pair at most once, so a retried call
    after a restart never applies an update twice. ``base_version`` is the shard version the
    gradients were computed on (staleness = current version − base_version).
    """

    worker: int
    seq: int
    base_version: int
    dense: DenseGrad | None = None
    rows: tuple[RowGrads, ...] = ()

    @property
    def nbytes(self) -> int:
        return (0 if self.dense is None else self.dense.nbytes) + sum(r.nbytes for r in self.rows)


@dataclass(frozen=True)
class RowPull:
    """Request of ``pull_rows``: global row ids (int64) of one table, all owned by the shard."""

    table: str
    ids: np.ndarray


@dataclass(frozen=True)
class RowBlock:
    """Response of ``pull_rows``: fp32 [len(ids), dim] rows in request order, at ``version``."""

    table: str
    ids: np.ndarray
    rows: np.ndarray
    version: int


@dataclass(frozen=True)
class PushAck:
    """Verdict on one update: ``status`` is applied | downweighted | dropped | duplicate.

    Actors return it as a plain tuple (``to_wire``): Ray packs a tuple of scalars with msgpack
    alone, while a class instance also goes through cloudpickle on every answer.
    """

    shard: int
    version: int
    status: str
    staleness: int
    weight: float

    def to_wire(self) -> tuple[int, int, str, int, float]:
        return (self.shard, self.version, self.status, self.staleness, self.weight)

    @classmethod
    def from_wire(cls, wire: Sequence) -> PushAck:
        shard, version, status, staleness, weight = wire
        return cls(int(shard), int(version), str(status), int(staleness), float(weight))


@dataclass(frozen=True)
class ServerMetrics:
    """A shard's counters since it started (or since its checkpoint was restored)."""

    shard: int
    version: int
    applied: int
    downweighted: int
    dropped: int
    duplicates: int
    bytes_in: int
    bytes_out: int
    uptime_s: float
    checkpoints: int
    restored_version: int
    staleness_hist: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    apply_seconds: float = 0.0

    @property
    def pushes_per_s(self) -> float:
        return (self.applied + self.downweighted) / self.uptime_s if self.uptime_s > 0 else 0.0

    @property
    def mean_staleness(self) -> float:
        h = self.staleness_hist
        total = int(h.sum())
        return float((np.arange(h.size) * h).sum() / total) if total else 0.0
