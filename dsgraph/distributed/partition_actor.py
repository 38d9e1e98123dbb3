"""PartitionActor: one part's layer-wise inference state in a Ray actor, with an event log.

The actor wraps :class:`dsgraph.inference.part_state.PartState` (structure, features and
per-layer embeddings of owned nodes plus halo copies) and exposes its wave steps as remote
methods; each step returns ``1 + num_parts`` objects (summary, one mail per destination part),
so mail travels between actors through the object store without passing through the driver.

Durability: every batch is appended to the part's event log (JSON lines, fsynced) *before* it
is applied. ``snapshot()`` writes the current structure atomically and truncates the log. When
Ray restarts a dead actor it re-runs the constructor, which loads the latest snapshot (or the
construction data), replays the log after it, and reports ``ready=False`` until the driver has
rebuilt its embeddings (:meth:`PartitionEngine.recover`) — so nothing applied before the crash
is lost.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray

from dsgraph.inference.part_state import Mail, PartInit, PartState, RoutedEvent
from dsgraph.storage.atomic import atomic_file

STEP_METHODS = ("begin_full", "apply_events", "layer_step", "finish_layer")


def _encode(ev: RoutedEvent) -> list:
    return [x.tolist() if isinstance(x, np.ndarray) else x for x in ev]


def _decode(ev: list) -> RoutedEvent:
    if ev[0] in ("features", "add_node") and ev[2] is not None:
        ev = [ev[0], ev[1], np.asarray(ev[2], dtype=np.float32), *ev[3:]]
    return tuple(ev)


class PartEventLog:
    """Append-only log of the batches one part applied, plus its latest snapshot."""

    def __init__(self, directory: str | os.PathLike[str], part: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"part-{part:05d}.events.jsonl"
        self.snap_path = self.dir / f"part-{part:05d}.snapshot.pkl"

    def append(self, seq: int, events: Sequence[RoutedEvent]) -> None:
        line = json.dumps({"seq": int(seq), "events": [_encode(e) for e in events]})
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def records(self, after_seq: int) -> Iterator[tuple[int, list[RoutedEvent]]]:
        """Logged batches with a sequence number above ``after_seq``, in order.

        A torn last line (a crash mid-append) is ignored: that batch was never acknowledged.
        """
        if not self.log_path.exists():
            return
        with open(self.log_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break
                if rec["seq"] > after_seq:
                    yield int(rec["seq"]), [_decode(e) for e in rec["events"]]

    def write_snapshot(self, init: PartInit, seq: int) -> None:
        with atomic_file(self.snap_path) as tmp:
            tmp.write_bytes(pickle.dumps({"seq": int(seq), "init": init}, protocol=5))
        # the snapshot covers every logged batch up to ``seq``: keep only later ones
        later = list(self.records(seq))
        with atomic_file(self.log_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for s, evs in later:
                fh.write(json.dumps({"seq": s, "events": [_encode(e) for e in evs]}) + "\n")

    def load_snapshot(self) -> tuple[PartInit, int] | None:
        if not self.snap_path.exists():
            return None
        data = pickle.loads(self.snap_path.read_bytes())
        return data["init"], int(data["seq"])


@ray.remote(max_restarts=-1, max_task_retries=-1)
class PartitionActor:
    """One part; see the module docstring. Methods mirror :class:`PartState`'s wave steps."""

    def __init__(
        self,
        init: PartInit,
        model: Any,
        log_dir: str | None = None,
        threads: int = 1,
    ) -> None:
        from dsgraph.distributed.cluster import configure_threads

        configure_threads(threads)
        self.log = None if log_dir is None else PartEventLog(log_dir, init.part_id)
        start, seq = init, -1
        if self.log is not None:
            snap = self.log.load_snapshot()
            if snap is not None:
                start, seq = snap
        self.state = PartState(start, model)
        self.state.last_seq = seq
        self.replayed = 0
        if self.log is not None:
            for s, events in self.log.records(seq):
                self.state.replay(s, events)
                self.replayed += 1
        self.incarnation = os.getpid()

    # ------------------------------------------------------------------ wave steps
    def begin_full(self, hub_ids: np.ndarray, hub_totals: np.ndarray) -> tuple:
        return self.state.begin_full(hub_ids, hub_totals)

    def apply_events(self, seq: int, events: Sequence[RoutedEvent]) -> tuple:
        if self.log is not None and int(seq) > self.state.last_seq:
            self.log.append(seq, events)  # write-ahead: a crash after this replays the batch
        return self.state.apply_events(seq, events)

    def layer_step(self, layer: int, final: bool, *inbox: Mail | None) -> tuple:
        return self.state.layer_step(layer, final, *inbox)

    def finish_layer(self, layer: int, final: bool, *inbox: Mail | None) -> tuple:
        return self.state.finish_layer(layer, final, *inbox)

    def resend(self, part: int) -> Mail:
        return self.state.resend(part)

    def rebuild(self, hub_ids: np.ndarray, hub_totals: np.ndarray, *inbox: Mail | None) -> Any:
        return self.state.rebuild(hub_ids, hub_totals, *inbox)

    # ------------------------------------------------------------------ queries / durability
    def owned_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(global ids, final embeddings) of every owned node."""
        return self.state.owned_embeddings()

    def snapshot(self) -> int:
        """Write the structure atomically, truncate the log; returns the covered sequence."""
        if self.log is None:
            return self.state.last_seq
        self.log.write_snapshot(self.state.to_init(), self.state.last_seq)
        return self.state.last_seq

    def status(self) -> dict[str, Any]:
        """Part id, last applied sequence number, readiness, process id (changes on restart)."""
        return {
            "part": self.state.part,
            "last_seq": self.state.last_seq,
            "ready": self.state.ready,
            "pid": self.incarnation,
            "replayed": self.replayed,
            "local_nodes": self.state.n,
        }
