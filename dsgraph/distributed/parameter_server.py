"""Sharded asynchronous parameter server.

:class:`ParameterShard` is the plain-Python state machine of one shard (dense flat fp32 slice +
row-sharded embedding tables + server-side optimizers + staleness policy + checkpoints); it is
usable without Ray, which is how the benchmark measures the same apply in a plain process.
:class:`ParameterServer` is the Ray actor around it: one actor per shard, serial method execution
(so updates are admitted one at a time, in arrival order) with the optimizer work on a
background :class:`ApplyThread` in the same order, and reload of the last checkpoint in the
constructor (Ray re-runs it when it restarts a crashed actor).

Asynchrony follows Li et al., "Scaling Distributed Machine Learning with the Parameter Server"
(OSDI 2014) with bounded staleness (Ho et al., SSP, NIPS 2013): every update carries the version it
was computed on; one staler than ``max_staleness`` is dropped or down-weighted by
``1 / (1 + staleness − max_staleness)``, and counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsgraph.distributed._kernels import first_out_of_range, min_max, sum_duplicate_rows
from dsgraph.distributed.errors import PSCheckpointError
from dsgraph.distributed.optimizers import make_dense_optimizer, make_row_optimizer
from dsgraph.distributed.payloads import (
    DenseGrad,
    DenseSnapshot,
    ModelLayout,
    PushAck,
    RowBlock,
    RowGrads,
    RowPull,
    ServerMetrics,
    ShardUpdate,
)
from dsgraph.errors import ConfigError
from dsgraph.storage.atomic import atomic_file

STALENESS_BINS = 64
SEQ_WINDOW = 4096  # per worker: how far below its highest seq duplicates are told exactly
STALENESS_POLICIES = ("drop", "downweight")
WireAck = tuple[int, int, str, int, float]  # PushAck.to_wire(): what push verbs return


@dataclass(frozen=True)
class ServerConfig:
    """Hyper-parameters shared by every shard (picklable; passed to each actor)."""

    dense_optimizer: str = "adam"
    dense_lr: float = 0.01
    momentum: float = 0.0
    row_optimizer: str = "adagrad"
    row_lr: float = 0.05
    max_staleness: int = 8
    staleness_policy: str = "downweight"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.staleness_policy not in STALENESS_POLICIES:
            raise ConfigError(
                f"cluster.staleness_policy: {self.staleness_policy!r} is not allowed "
                f"(allowed: {', '.join(STALENESS_POLICIES)})"
            )
        if self.max_staleness < 0:
            raise ConfigError(f"cluster.max_staleness must be >= 0, got {self.max_staleness}")
        if self.checkpoint_every < 0:
            raise ConfigError(
                f"cluster.ps_checkpoint_every must be >= 0, got {self.checkpoint_every}"
            )


@dataclass(frozen=True)
class AdmittedUpdate:
    """An update a shard accepted and versioned but has not applied yet (see ``admit``).

    ``rows`` holds (table, shard-local row ids, grads) per table. The arrays may be read-only
    views of Ray's object store; holding them keeps those buffers alive until applied.
    """

    version: int
    weight: float
    dense: DenseGrad | None
    rows: tuple[tuple[str, np.ndarray, np.ndarray], ...]


def checkpoint_path(directory: str | os.PathLike[str], shard: int, num_ps: int) -> Path:
    """Where shard ``shard`` of ``num_ps`` keeps its single, atomically replaced checkpoint."""
    return Path(directory) / f"ps-{shard:03d}-of-{num_ps:03d}.npz"


class ParameterShard:
    """One shard: dense positions ``[lo, hi)`` of the flat vector and rows ``r % num_ps == shard``.

    Not thread-safe by design: the owning actor executes one method at a time.
    """

    def __init__(
        self,
        layout: ModelLayout,
        shard: int,
        num_ps: int,
        config: ServerConfig,
        initial_dense: np.ndarray | None = None,
        initial_rows: dict[str, np.ndarray] | None = None,
    ) -> None:
        if not 0 <= shard < num_ps:
            raise ConfigError(f"shard {shard} out of range for num_ps={num_ps}")
        self.layout, self.shard, self.num_ps, self.config = layout, shard, num_ps, config
        bounds = layout.shard_bounds(num_ps)
        self.lo, self.hi = int(bounds[shard]), int(bounds[shard + 1])
        size = self.hi - self.lo
        if initial_dense is None:
            self.params = np.zeros(size, np.float32)
        else:
            if initial_dense.shape != (size,):
                raise ConfigError(
                    f"shard {shard}: initial dense values have shape {initial_dense.shape}, "
                    f"expected ({size},)"
                )
            self.params = np.array(initial_dense, dtype=np.float32)
        self.dense_opt = make_dense_optimizer(
            config.dense_optimizer, size, config.dense_lr, config.momentum
        )
        self.tables: dict[str, np.ndarray] = {}
        self.row_opts = {}
        for t_idx, spec in enumerate(layout.tables):
            n_local = len(range(shard, spec.num_rows, num_ps))
            given = (initial_rows or {}).get(spec.name)
            if given is not None:
                table = np.array(given[shard::num_ps], dtype=np.float32)
            else:
                rng = np.random.default_rng([config.seed, t_idx, shard])
                table = (rng.standard_normal((n_local, spec.dim)) * spec.init_std).astype(
                    np.float32
                )
            self.tables[spec.name] = table
            self.row_opts[spec.name] = make_row_optimizer(
                config.row_optimizer, n_local, spec.dim, config.row_lr
            )
        self.version = 0
        self.restored_version = 0
        self.last_seq: dict[int, int] = {}  # per worker: the highest seq decided
        self.recent_seqs: dict[int, set[int]] = {}  # per worker: seqs decided in the window
        self.hist = np.zeros(STALENESS_BINS, np.int64)
        self.counts = {"applied": 0, "downweighted": 0, "dropped": 0, "duplicates": 0}
        self.bytes_in = 0
        self.bytes_out = 0
        self.checkpoints = 0
        self.apply_seconds = 0.0
        self.started = time.perf_counter()
        self.restored = False
        if config.checkpoint_dir:
            path = checkpoint_path(config.checkpoint_dir, shard, num_ps)
            if path.exists():
                self.load_checkpoint(path)
                self.restored = True

    def initialize(
        self, dense: np.ndarray | None, rows: dict[str, np.ndarray] | None = None
    ) -> bool:
        """Set the starting values (this shard's slice of ``dense``, its rows of every table).

        Ignored (returns False) by a shard that restored a checkpoint: its state is newer. With a
        checkpoint directory the starting values are checkpointed at once (version 0), so a
        shard restarted before its first periodic checkpoint does not start from zeros.
        """
        if self.restored or self.version > 0:
            return False
        if dense is not None:
            size = self.hi - self.lo
            if dense.shape != (size,):
                raise ConfigError(
                    f"shard {self.shard}: initial dense values have shape {dense.shape}, "
                    f"expected ({size},)"
                )
            self.params = np.array(dense, dtype=np.float32)
        for name, table in (rows or {}).items():
            local = np.array(table[self.shard :: self.num_ps], dtype=np.float32)
            if local.shape != self.tables[name].shape:
                raise ConfigError(
                    f"table {name!r}: initial rows of shape {table.shape} do not match the "
                    f"layout ({self.layout.table(name).num_rows}, {self.layout.table(name).dim})"
                )
            self.tables[name] = local
        if self.config.checkpoint_dir:
            self.save_checkpoint()
        return True

    # ---- verbs -----------------------------------------------------------------------------
    def pull_dense(self, since_version: int = -1) -> DenseSnapshot:
        """The shard's values, or none when the caller already holds the current version."""
        if since_version == self.version:
            return DenseSnapshot(self.shard, self.version, None)
        self.bytes_out += self.params.nbytes
        return DenseSnapshot(self.shard, self.version, self.params)

    def pull_rows(self, request: RowPull) -> RowBlock:
        """Rows ``request.ids`` (all owned by this shard) in request order."""
        local = self._local_rows(request.table, request.ids)
        rows = self.tables[request.table][local]
        self.bytes_out += rows.nbytes + request.ids.nbytes
        return RowBlock(request.table, request.ids, rows, self.version)

    def push(self, update: ShardUpdate) -> PushAck:
        """Apply one update, at most once per ``(worker, seq)``, under the staleness policy.

        The synchronous composition of :meth:`admit` and :meth:`apply` (plus the periodic
        checkpoint); the actor runs the same two halves on two threads.
        """
        ack, admitted = self.admit(update)
        if admitted is not None:
            self.apply(admitted)
            if self.checkpoint_due():
                self.save_checkpoint()
        return ack

    def push_batch(self, updates: list[ShardUpdate]) -> list[PushAck]:
        """Apply many small updates in one call (one round trip instead of ``len(updates)``).

        All or nothing: one invalid update refuses the whole batch before any is admitted.
        """
        for u in updates:
            self.validate(u)
        return [self.push(u) for u in updates]

    def validate(self, update: ShardUpdate) -> None:
        """Raise (IndexError / ValueError naming shard, table, position) on a malformed update."""
        if update.dense is not None:
            self._check_dense(update.dense)
        for rows in update.rows:
            self._check_rows(rows)

    def admit(self, update: ShardUpdate) -> tuple[PushAck, AdmittedUpdate | None]:
        """Decide an update's fate and book it, without touching parameters.

        Validates first (a bad update raises and changes nothing), then applies the at-most-once
        rule and the staleness policy, counts, and assigns the version the update produces.
        Returns the verdict and, unless dropped or a duplicate, the work for :meth:`apply`.
        Updates must be applied in the order they were admitted.
        """
        if self.is_duplicate(update.worker, update.seq):
            self.bytes_in += update.nbytes
            self.counts["duplicates"] += 1
            return PushAck(self.shard, self.version, "duplicate", 0, 0.0), None
        if update.dense is not None:
            self._check_dense(update.dense)
        rows = tuple(self._check_rows(r) for r in update.rows)
        self.bytes_in += update.nbytes
        staleness = max(0, self.version - update.base_version)
        self.hist[min(staleness, STALENESS_BINS - 1)] += 1
        self._record_seq(update.worker, update.seq)
        weight, status = 1.0, "applied"
        if staleness > self.config.max_staleness:
            if self.config.staleness_policy == "drop":
                self.counts["dropped"] += 1
                return PushAck(self.shard, self.version, "dropped", staleness, 0.0), None
            weight, status = 1.0 / (1 + staleness - self.config.max_staleness), "downweighted"
        self.counts[status] += 1
        self.version += 1
        ack = PushAck(self.shard, self.version, status, staleness, weight)
        return ack, AdmittedUpdate(self.version, weight, update.dense, rows)

    def is_duplicate(self, worker: int, seq: int) -> bool:
        """True if ``(worker, seq)`` was decided before (or is too old to tell).

        Exact within ``SEQ_WINDOW`` seqs below the worker's highest: a seq that arrives after a
        later one (Ray may retry calls in flight in another order after a restart) is still
        applied once. Older ones, and all below the highest after restoring a checkpoint that
        predates the window record, count as duplicates: at most once, always.
        """
        last = self.last_seq.get(worker, -1)
        if seq > last:
            return False
        recent = self.recent_seqs.get(worker)
        return recent is None or seq <= last - SEQ_WINDOW or seq in recent

    def _record_seq(self, worker: int, seq: int) -> None:
        last = max(self.last_seq.get(worker, -1), seq)
        self.last_seq[worker] = last
        recent = self.recent_seqs.setdefault(worker, set())
        recent.add(seq)
        if len(recent) > 2 * SEQ_WINDOW:  # amortised pruning
            self.recent_seqs[worker] = {q for q in recent if q > last - SEQ_WINDOW}

    def apply(self, admitted: AdmittedUpdate) -> None:
        """Run the optimizer for one admitted update (numba kernels; they release the GIL)."""
        t0 = time.perf_counter()
        if admitted.dense is not None:
            grad = admitted.dense
            self.dense_opt.apply(self.params, grad.values, grad.indices, admitted.weight)
        for table, local, grads in admitted.rows:
            uniq, summed = sum_duplicate_rows(local, grads)
            self.row_opts[table].apply(self.tables[table], uniq, summed, admitted.weight)
        self.apply_seconds += time.perf_counter() - t0

    def checkpoint_due(self) -> bool:
        """True right after admitting the update whose version is a multiple of checkpoint_every."""
        every = self.config.checkpoint_every
        return bool(self.config.checkpoint_dir and every and self.version % every == 0)

    def metrics(self) -> ServerMetrics:
        return ServerMetrics(
            shard=self.shard,
            version=self.version,
            applied=self.counts["applied"],
            downweighted=self.counts["downweighted"],
            dropped=self.counts["dropped"],
            duplicates=self.counts["duplicates"],
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            uptime_s=time.perf_counter() - self.started,
            checkpoints=self.checkpoints,
            restored_version=self.restored_version,
            staleness_hist=self.hist.copy(),
            apply_seconds=self.apply_seconds,
        )

    # ---- validation ------------------------------------------------------------------------
    def _check_dense(self, grad: DenseGrad) -> None:
        size = self.params.size
        if grad.indices is None:
            if grad.values.shape != (size,):
                raise ValueError(
                    f"shard {self.shard}: dense gradient of shape {grad.values.shape}, "
                    f"expected ({size},)"
                )
            return
        if grad.indices.shape != grad.values.shape or grad.indices.ndim != 1:
            raise ValueError(
                f"shard {self.shard}: Top-K positions of shape {grad.indices.shape} and values "
                f"of shape {grad.values.shape}, expected two equal 1-D shapes"
            )
        if grad.indices.size == 0:
            return
        lo, hi = min_max(grad.indices)
        if lo < 0 or hi >= size:
            bad = first_out_of_range(grad.indices, size)
            raise IndexError(
                f"shard {self.shard}: Top-K position {int(grad.indices[bad])} (entry {bad}) is "
                f"outside [0, {size})"
            )

    def _check_rows(self, rows: RowGrads) -> tuple[str, np.ndarray, np.ndarray]:
        local = self._local_rows(rows.table, rows.ids)
        dim = self.tables[rows.table].shape[1]
        if rows.grads.shape != (rows.ids.size, dim):
            raise ValueError(
                f"table {rows.table!r}: grads of shape {rows.grads.shape}, expected "
                f"({rows.ids.size}, {dim})"
            )
        return rows.table, local, rows.grads

    def _local_rows(self, table: str, ids: np.ndarray) -> np.ndarray:
        spec = self.layout.table(table)
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size:
            bad = (ids < 0) | (ids >= spec.num_rows) | (ids % self.num_ps != self.shard)
            if bad.any():
                raise IndexError(
                    f"table {table!r}: row id {int(ids[bad][0])} is not held by shard "
                    f"{self.shard} of {self.num_ps} (rows 0..{spec.num_rows - 1}, "
                    f"shard = id % num_ps)"
                )
        return ids // self.num_ps

    # ---- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write params, tables, optimizer state, version and applied seqs atomically."""
        if not self.config.checkpoint_dir:
            raise ConfigError("this parameter server has no checkpoint directory")
        path = checkpoint_path(self.config.checkpoint_dir, self.shard, self.num_ps)
        meta = {
            "signature": self.layout.signature,
            "shard": self.shard,
            "num_ps": self.num_ps,
            "version": self.version,
            "last_seq": {str(k): v for k, v in self.last_seq.items()},
            "recent_seqs": {
                str(k): sorted(q for q in v if q > self.last_seq[k] - SEQ_WINDOW)
                for k, v in self.recent_seqs.items()
            },
            "dense_optimizer": self.config.dense_optimizer,
            "row_optimizer": self.config.row_optimizer,
        }
        arrays = {"params": self.params, "__meta__": np.array(json.dumps(meta))}
        for k, v in self.dense_opt.state_dict().items():
            arrays[f"dense_opt/{k}"] = v
        for name, table in self.tables.items():
            arrays[f"table/{name}"] = table
            for k, v in self.row_opts[name].state_dict().items():
                arrays[f"row_opt/{name}/{k}"] = v
        with atomic_file(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        self.checkpoints += 1
        return path

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore state from ``path``; refuses one of another model, shard or optimizer."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(str(data.pop("__meta__")))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise PSCheckpointError(f"{path}: unreadable parameter-server checkpoint ({e})") from e
        expected = {
            "signature": self.layout.signature,
            "shard": self.shard,
            "num_ps": self.num_ps,
            "dense_optimizer": self.config.dense_optimizer,
            "row_optimizer": self.config.row_optimizer,
        }
        for key, want in expected.items():
            if meta.get(key) != want:
                raise PSCheckpointError(
                    f"{path}: checkpoint {key} is {meta.get(key)!r} but this run has {want!r} "
                    "(it was written for another model or cluster layout); refusing to load it — "
                    "use a fresh run directory or the matching config"
                )
        if data["params"].shape != self.params.shape:
            raise PSCheckpointError(
                f"{path}: params shape {data['params'].shape}, expected {self.params.shape}"
            )
        self.params = np.array(data["params"], np.float32)
        self.dense_opt.load_state_dict(
            {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("dense_opt/")}
        )
        for name in self.tables:
            self.tables[name] = np.array(data[f"table/{name}"], np.float32)
            prefix = f"row_opt/{name}/"
            self.row_opts[name].load_state_dict(
                {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}
            )
        self.version = self.restored_version = int(meta["version"])
        self.last_seq = {int(k): int(v) for k, v in meta["last_seq"].items()}
        # a checkpoint without the window record: every seq up to last_seq counts as decided
        self.recent_seqs = {
            int(k): {int(q) for q in v} for k, v in meta.get("recent_seqs", {}).items()
        }


class ApplyThread:
    """Applies admitted updates on one background thread, strictly in admission order.

    The actor's main thread receives a push (Ray's arg fetch and unpickling), admits it, hands
    it over here and acks at once; the numba kernels release the GIL, so receiving the next
    push overlaps applying this one. The thread takes everything queued when it wakes and
    applies it in order without further hand-offs. ``depth`` bounds the queue (and the
    object-store buffers it pins): a full queue makes ``submit`` wait, which pushes back on the
    callers.
    """

    def __init__(
        self,
        apply: Callable[[AdmittedUpdate], None],
        depth: int = 8,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._apply = apply
        self._on_failure = on_failure
        self._queue: queue.Queue[AdmittedUpdate] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ps-apply", daemon=True)
        self._thread.start()

    def submit(self, admitted: AdmittedUpdate) -> None:
        self._raise_if_failed()
        self._queue.put(admitted)

    def drain(self) -> None:
        """Return once everything submitted so far is applied (before reads and checkpoints)."""
        self._queue.join()
        self._raise_if_failed()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._queue.get_nowait())
            for admitted in batch:
                try:
                    if self._error is None:
                        self._apply(admitted)
                except BaseException as e:  # surfaced by the next verb; state is suspect
                    self._error = e
                    if self._on_failure is not None:
                        self._on_failure(e)
                finally:
                    self._queue.task_done()

    def raise_if_failed(self) -> None:
        """Raise if an apply failed: nothing may be admitted on top of a suspect state."""
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(
                f"parameter-server apply thread failed ({type(self._error).__name__}: "
                f"{self._error}); restart the shard from its checkpoint"
            ) from self._error


def _restart_from_checkpoint(error: BaseException) -> None:
    """A failed apply leaves the shard's state suspect: inside a Ray actor, end the process so
    Ray restarts the shard from its last checkpoint and retries the calls in flight (outside
    Ray, the next verb raises instead)."""
    import ray

    if ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None:
        print(
            f"parameter-server apply failed ({type(error).__name__}: {error}); restarting the "
            "shard from its last checkpoint",
            file=sys.stderr,
            flush=True,
        )
        os._exit(1)


class ParameterServer:
    """Ray actor of one shard; create with :func:`create_parameter_servers`.

    Verbs: ``pull_dense(since_version)``, ``pull_rows(RowPull)``, ``push(ShardUpdate)``,
    ``push_dense(worker, seq, base_version, DenseGrad)``, ``push_rows(worker, seq, base_version,
    RowGrads)``, ``push_batch([ShardUpdate])``, ``wait_applied()``, ``metrics()``,
    ``checkpoint()``, ``info()``. Push verbs answer ``PushAck.to_wire()`` tuples
    (``PushAck.from_wire`` restores them). ``apply_queue`` 0 applies inside each push on the
    main thread (no apply thread).

    Verbs run one at a time on the actor's main thread, in arrival order; a push is admitted
    there (at most once per ``(worker, seq)``, see ``ParameterShard.is_duplicate``) and applied
    on the :class:`ApplyThread` in that order. Reads, checkpoints and metrics first wait for the
    queued applies, so a caller always reads its own acknowledged writes.
    """

    def __init__(
        self,
        layout: ModelLayout,
        shard: int,
        num_ps: int,
        config: ServerConfig,
        initial_dense: np.ndarray | None = None,
        initial_rows: dict[str, np.ndarray] | None = None,
        threads: int = 1,
        apply_queue: int = 8,
    ) -> None:
        from dsgraph.distributed.cluster import configure_threads

        configure_threads(threads, torch=False)
        self.state = ParameterShard(layout, shard, num_ps, config, initial_dense, initial_rows)
        self.applier = (
            ApplyThread(self.state.apply, apply_queue, on_failure=_restart_from_checkpoint)
            if apply_queue > 0
            else None
        )

    def _drain(self) -> None:
        if self.applier is not None:
            self.applier.drain()

    def info(self) -> dict:
        import ray

        return {
            "shard": self.state.shard,
            "version": self.state.version,
            "restored_version": self.state.restored_version,
            "signature": self.state.layout.signature,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def initialize(
        self, dense: np.ndarray | None, rows: dict[str, np.ndarray] | None = None
    ) -> bool:
        self._drain()
        return self.state.initialize(dense, rows)

    def pull_dense(self, since_version: int = -1) -> DenseSnapshot:
        self._drain()
        return self.state.pull_dense(since_version)

    def pull_rows(self, request: RowPull) -> RowBlock:
        self._drain()
        return self.state.pull_rows(request)

    def push(self, update: ShardUpdate) -> WireAck:
        """Admit ``update`` and queue its apply; the verdict as ``PushAck.to_wire()``."""
        if self.applier is None:
            return self.state.push(update).to_wire()
        self.applier.raise_if_failed()  # before admit: a refused push takes no seq or version
        ack, admitted = self.state.admit(update)
        if admitted is not None:
            self.applier.submit(admitted)
            if self.state.checkpoint_due():
                self.applier.drain()
                self.state.save_checkpoint()
        return ack.to_wire()

    def push_dense(self, worker: int, seq: int, base_version: int, grad: DenseGrad) -> WireAck:
        return self.push(ShardUpdate(worker, seq, base_version, dense=grad))

    def push_rows(self, worker: int, seq: int, base_version: int, rows: RowGrads) -> WireAck:
        return self.push(ShardUpdate(worker, seq, base_version, rows=(rows,)))

    def push_batch(self, updates: list[ShardUpdate]) -> list[WireAck]:
        for u in updates:  # all or nothing, as ParameterShard.push_batch
            self.state.validate(u)
        return [self.push(u) for u in updates]

    def wait_applied(self) -> int:
        """The shard version once every update acknowledged so far is applied."""
        self._drain()
        return self.state.version

    def metrics(self) -> ServerMetrics:
        self._drain()
        return self.state.metrics()

    def checkpoint(self) -> str:
        self._drain()
        return str(self.state.save_checkpoint())


def create_parameter_servers(
    layout: ModelLayout,
    num_ps: int,
    config: ServerConfig,
    initial_dense: np.ndarray | None = None,
    initial_rows: dict[str, np.ndarray] | None = None,
    *,
    max_restarts: int = 0,
    resources: dict[str, float] | None = None,
    num_cpus: float = 0,
    timeout: float = 120.0,
    apply_queue: int = 8,
) -> list[Any]:
    """Start ``num_ps`` shard actors and hand each its starting values (one object-store copy).

    Waits until every shard is up: a constructor failure (e.g. a refused checkpoint) raises
    :class:`ClusterError` here. ``max_restarts`` > 0 makes Ray restart a crashed shard (its
    constructor reloads the last checkpoint) and retry the calls in flight (safe: updates apply
    at most once). PS actors reserve no CPU slot by default (``num_cpus=0``): they mostly wait.
    ``apply_queue`` bounds each shard's queue of admitted, not yet applied updates (0: apply
    inside the push call, no apply thread).
    """
    import ray

    from dsgraph.distributed.cluster import get

    if num_ps < 1:
        raise ConfigError(f"cluster.num_ps must be >= 1, got {num_ps}")
    bounds = layout.shard_bounds(num_ps)
    remote_cls = ray.remote(ParameterServer)
    actors = [
        remote_cls.options(
            num_cpus=num_cpus,
            max_restarts=max_restarts,
            max_task_retries=-1 if max_restarts else 0,
            resources=resources or {},
            max_concurrency=1,
        ).remote(layout, s, num_ps, config, apply_queue=apply_queue)
        for s in range(num_ps)
    ]
    if initial_dense is None and not initial_rows:
        return actors
    rows_ref = ray.put(initial_rows) if initial_rows else None
    refs = []
    for s, actor in enumerate(actors):
        dense = None
        if initial_dense is not None:
            dense = np.ascontiguousarray(initial_dense[bounds[s] : bounds[s + 1]])
        refs.append(actor.initialize.remote(dense, rows_ref))
    get(refs, timeout, "start parameter servers")
    return actors
