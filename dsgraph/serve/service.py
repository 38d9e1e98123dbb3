"""The inference service behind ``dsgraph update`` and ``dsgraph serve``.

Loads a run folder (model + graph + features), re-applies the run's event log, computes every
embedding once, then applies event batches incrementally; every applied batch is appended to
the run's event log before the call returns, so a restarted service resumes where it stopped.
One lock serialises batches: events are applied in arrival order.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.errors import ServiceError
from dsgraph.inference.events import Event
from dsgraph.inference.incremental import IncrementalEngine, UpdateResult
from dsgraph.inference.recommend import ITEM, USER, top_k
from dsgraph.inference.run import (
    LoadedRun,
    append_event_log,
    load_run,
    read_event_log,
    write_run_embeddings,
)


def build_engine(loaded: LoadedRun, parts: str | None = None, num_parts: int = 4) -> Any:
    """Single-process engine, or a Ray :class:`PartitionEngine` when ``parts`` is given.

    ``parts`` is a partitioned-dataset folder (its book gives owners and hubs) or a number of
    parts to split into with METIS.
    """
    feats = loaded.features
    if parts is None:
        return IncrementalEngine(loaded.model, loaded.graph, feats, node_type=loaded.node_type)
    from dsgraph.distributed.cluster import ClusterSettings, start
    from dsgraph.distributed.partition_engine import PartitionEngine

    start(ClusterSettings())
    partition: Any = None
    if parts.isdigit():
        num_parts = int(parts)
    else:
        partition = _partition_from_book(Path(parts), loaded.graph.num_nodes)
        num_parts = partition.num_parts
    return PartitionEngine(
        loaded.model,
        loaded.graph,
        feats,
        num_parts=num_parts,
        partition=partition,
        node_type=loaded.node_type,
        backend="ray",
        log_dir=loaded.run_dir / "inference" / "parts",
    )


def _partition_from_book(parts_dir: Path, num_nodes: int) -> Any:
    from dsgraph.errors import PartitionError
    from partitioning.book import PartitionBook

    book = PartitionBook(parts_dir)
    if book.num_nodes != num_nodes:
        raise PartitionError(
            f"{parts_dir}: the partition has {book.num_nodes} nodes, the run's graph "
            f"{num_nodes}; partition the run's dataset"
        )

    class _Book:
        owner = np.asarray(book.owner_array, dtype=np.int32)
        hubs = book.hubs
        num_parts = int(book.num_parts)

    return _Book()


class InferenceService:
    """Engine + event log + recommendation queries for one run folder (thread-safe)."""

    def __init__(
        self, run_dir: str | os.PathLike[str], *, parts: str | None = None, log: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.loaded = load_run(self.run_dir)
        self.engine = build_engine(self.loaded, parts)
        self.log = log
        self.lock = threading.Lock()
        t0 = time.perf_counter()
        self.engine.full_inference()
        self.full_seconds = time.perf_counter() - t0
        self.replayed = 0
        for batch in read_event_log(self.run_dir):
            self.engine.apply(batch)
            self.replayed += len(batch)

    @property
    def is_recommender(self) -> bool:
        return self.engine.node_type is not None and bool((self.engine.node_type == ITEM).any())

    def apply(
        self, events: list[Event], *, atomic: bool = False, k: int | None = None
    ) -> UpdateResult:
        """Apply one batch; accepted events are logged in the run folder before returning."""
        with self.lock:
            k = k if self.is_recommender else None
            result = self.engine.apply(events, atomic=atomic, top_k=k)
            rejected = {r.index for r in result.rejected}
            accepted = [ev for i, ev in enumerate(events) if i not in rejected]
            if self.log and accepted:
                append_event_log(self.run_dir, result.seq, accepted)
            return result

    def recommend(self, user: int, k: int = 20) -> list[tuple[int, float]]:
        """Top-``k`` unseen items of ``user`` from the current embeddings."""
        if not self.is_recommender:
            raise ServiceError(f"{self.run_dir} is not a recommendation run (no user/item types)")
        node_type = self.engine.node_type
        if not 0 <= user < node_type.size or node_type[user] != USER:
            users = int((node_type == USER).sum())
            raise ServiceError(f"unknown user {user} (this run has {users} users)")
        if not 1 <= k <= 1000:
            raise ServiceError(f"k must be in [1, 1000], got {k}")
        with self.lock:
            return top_k(self.engine.embeddings(), [user], node_type, self.engine.neighbors, k)[
                user
            ]

    def embeddings(self) -> torch.Tensor:
        with self.lock:
            return self.engine.embeddings().clone()

    def write_embeddings(self) -> Path:
        """Write the current embeddings to the run's ``embeddings.parquet`` (atomically)."""
        return write_run_embeddings(self.run_dir, self.embeddings(), self.engine.node_type)
