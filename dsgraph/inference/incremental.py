"""Exact incremental embedding updates: recompute only the nodes whose receptive field changed.

After an event, the nodes whose layer-l embedding can change are found by expanding the
event's endpoints along out-edges one hop per layer (plus, for degree-normalised models, the
out-neighbours of every node whose degree changed, because their messages were scaled by it).
Only those are recomputed, from the stored layer-(l−1) embeddings of their in-neighbours, so
the result equals a full recompute on the modified graph up to fp32 rounding.

:class:`WaveDriver` runs the wave protocol of :mod:`dsgraph.inference.part_state` over any set
of parts (in-process here, Ray actors in :mod:`dsgraph.distributed.partition_engine`);
:class:`IncrementalEngine` is the single-process engine (one part that owns every node).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from dsgraph.graph import CSRGraph
from dsgraph.inference.events import (
    AddEdge,
    AddNode,
    Event,
    RejectedEvent,
    RemoveEdge,
    UpdateFeatures,
    ValidatedBatch,
    validate_events,
)
from dsgraph.inference.layout import build_layout
from dsgraph.inference.part_state import PartState, RoutedEvent, StepSummary


@dataclass
class UpdateResult:
    """Outcome of one batch of events (one wave).

    ``node_ids`` int64 [n] and ``embeddings`` float32 [n, d]: the final embeddings of every node
    whose embedding was recomputed (changed nodes). ``latency_ms``: wall time of the whole batch
    (validation + wave); every event of the batch completes with the wave, so it is also each
    event's latency. ``nodes_recomputed``: node-layer recomputations summed over layers;
    ``messages_sent``: rows sent between parts (0 in a single process). ``recommendations``
    (with ``apply(top_k=k)`` on a recommender): refreshed top-k of the affected users, ranked
    after the latency was measured.
    """

    node_ids: np.ndarray
    embeddings: torch.Tensor
    latency_ms: float
    nodes_recomputed: int
    messages_sent: int
    applied: int
    rejected: list[RejectedEvent] = field(default_factory=list)
    seq: int = -1
    recommendations: dict[int, list[tuple[int, float]]] | None = None

    @property
    def event_latency_ms(self) -> np.ndarray:
        """Latency of each applied event (they all finish with the wave), float64 [applied]."""
        return np.full(self.applied, self.latency_ms)


@dataclass
class WaveStats:
    """What a wave did: recomputations, messages, part calls, and final rows of touched nodes."""

    recomputed: int = 0
    messages: int = 0
    calls: int = 0
    all_ready: bool = True  # False when a part answered without its embeddings (restarted)
    node_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    embeddings: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))


class Transport(Protocol):
    """How the driver reaches parts: call a step, read its summary, forward its mail."""

    num_parts: int

    def call(self, part: int, method: str, *args: Any) -> Any: ...
    def summaries(self, handles: Sequence[Any]) -> list[StepSummary]: ...
    def mail(self, handle: Any, dest: int) -> Any: ...
    def get(self, handles: Sequence[Any]) -> list[Any]: ...


class LocalTransport:
    """Parts as plain objects in this process (the single-process engine and protocol tests)."""

    def __init__(self, parts: Sequence[PartState]) -> None:
        self.parts = list(parts)
        self.num_parts = len(self.parts)

    def call(self, part: int, method: str, *args: Any) -> Any:
        return getattr(self.parts[part], method)(*args)

    def summaries(self, handles: Sequence[Any]) -> list[StepSummary]:
        return [h[0] for h in handles]

    def mail(self, handle: Any, dest: int) -> Any:
        return handle[1 + dest]

    def get(self, handles: Sequence[Any]) -> list[Any]:
        return list(handles)


class WaveDriver:
    """Schedules one wave over the parts: only parts with mail or local work are called.

    A wave is ``L + 1`` rounds (plus one per layer when hub partials are in flight): the start
    step, then ``layer_step(l)`` per layer. The last round is called with ``final=True`` on
    every part the wave reached, and its summaries carry the result, so the driver waits on
    exactly one round of small summaries per step and never on a closing round.
    """

    def __init__(self, transport: Transport, num_layers: int, has_hubs: bool = True) -> None:
        self.t = transport
        self.num_layers = num_layers
        self.has_hubs = has_hubs

    def run(self, start: dict[int, tuple[str, tuple]]) -> WaveStats:
        """Run a wave begun by ``start[part] = (method, args)``; return its statistics."""
        stats = WaveStats()
        pending: dict[int, list[Any]] = {}
        called: set[int] = set()
        ends = []

        def collect(handles: dict[int, Any]) -> list[StepSummary]:
            called.update(handles)
            stats.calls += len(handles)
            sums = self.t.summaries([handles[p] for p in sorted(handles)])
            for s in sums:
                stats.messages += s.rows_sent
                stats.all_ready &= s.ready
                if s.end is not None:
                    ends.append(s.end)
                for d in s.dests:
                    pending.setdefault(d, []).append(self.t.mail(handles[s.part], d))
            return sums

        def step(parts: set[int], method: str, *args: Any) -> list[StepSummary]:
            handles = {p: self.t.call(p, method, *args, *pending.pop(p, [])) for p in sorted(parts)}
            return collect(handles)

        sums = collect({p: self.t.call(p, m, *a) for p, (m, a) in sorted(start.items())})
        active = {s.part for s in sums if s.active}
        last = self.num_layers - 1
        for layer in range(self.num_layers):
            final = layer == last and not self.has_hubs
            parts = active | set(pending) | (called if final else set())
            sums = step(parts, "layer_step", layer, final)
            active = {s.part for s in sums if s.active}
            finish = {s.part for s in sums if s.deferred}
            finish |= {d for s in sums for d in s.partial_dests}
            if self.has_hubs and (finish or layer == last):
                final = layer == last
                sums2 = step(finish | (called if final else set()), "finish_layer", layer, final)
                active = (active - finish) | {s.part for s in sums2 if s.active}
        stats.recomputed = int(sum(e.recomputed for e in ends))
        ids = [e.node_ids for e in ends if e.node_ids.size]
        vals = [e.embeddings for e in ends if e.node_ids.size and e.embeddings.size]
        if ids:
            stats.node_ids = np.concatenate(ids)
        if vals:
            stats.embeddings = np.concatenate(vals)
        return stats


def _as_features(features: torch.Tensor | np.ndarray | None) -> np.ndarray | None:
    if features is None:
        return None
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    return np.ascontiguousarray(features, dtype=np.float32)


def finish_update(
    engine: Any, stats: WaveStats, batch: ValidatedBatch, t0: float, top_k: int | None
) -> UpdateResult:
    """Shared tail of ``apply``: store the wave's embeddings, measure latency, refresh top-k.

    ``engine`` is an :class:`IncrementalEngine` or a ``PartitionEngine`` (anything with
    ``_store(stats)`` and ``seq``); ``t0`` is the ``time.perf_counter()`` at the batch's start.
    The latency is taken before the optional top-k refresh.
    """
    emb = engine._store(stats)
    latency_ms = (time.perf_counter() - t0) * 1e3
    recs = None
    if top_k is not None:
        from dsgraph.inference.recommend import refresh_for_update

        accepted = [ev for _, ev in batch.accepted]
        recs = refresh_for_update(engine, stats.node_ids, accepted, top_k)
    return UpdateResult(
        node_ids=stats.node_ids,
        embeddings=emb,
        latency_ms=latency_ms,
        nodes_recomputed=stats.recomputed,
        messages_sent=stats.messages,
        applied=len(batch.accepted),
        rejected=batch.rejected,
        seq=engine.seq,
        recommendations=recs,
    )


class EngineQueries:
    """Queries both engines answer the same way over their current adjacency and embeddings.

    Subclasses set ``num_nodes``, ``feature_dim``, ``undirected`` and ``_emb`` and implement
    :meth:`_adjacency` (the adjacency events are validated against) and :meth:`full_inference`.
    """

    num_nodes: int
    feature_dim: int
    undirected: bool
    _emb: torch.Tensor | None

    def _adjacency(self) -> Any:
        raise NotImplementedError

    def full_inference(self) -> torch.Tensor:
        raise NotImplementedError

    def _store(self, stats: WaveStats) -> torch.Tensor:
        """Write a wave's recomputed rows into the embedding table (grown for new nodes).

        The rows are copied: embeddings that come back from Ray actors are read-only buffers.
        """
        emb = torch.from_numpy(np.array(stats.embeddings, dtype=np.float32))
        if stats.node_ids.size == 0:
            return emb.reshape(0, self._emb.shape[1])
        if self._emb.shape[0] < self.num_nodes:
            grown = torch.zeros((max(self.num_nodes, 2 * self._emb.shape[0]), self._emb.shape[1]))
            grown[: self._emb.shape[0]] = self._emb
            self._emb = grown
        # numpy's row scatter: torch's index_put spins up its thread pool for a few rows
        self._emb.numpy()[stats.node_ids] = emb.numpy()
        return emb

    def embeddings(self) -> torch.Tensor:
        """Current final embeddings of all nodes, [N, d] float32."""
        if self._emb is None:
            return self.full_inference()
        return self._emb[: self.num_nodes]

    def neighbors(self, u: int) -> np.ndarray:
        """Current out-neighbours of ``u`` (int64, ascending)."""
        return self._adjacency().row(int(u))[0]

    def has_edge(self, u: int, v: int) -> bool:
        return self._adjacency().has(int(u), int(v))

    def validate(self, events: Sequence[Event], *, atomic: bool = False) -> ValidatedBatch:
        """Check ``events`` against the current graph (see :func:`validate_events`)."""
        return validate_events(
            events,
            num_nodes=self.num_nodes,
            feature_dim=self.feature_dim,
            has_edge=self.has_edge,
            undirected=self.undirected,
            can_embed_new_node=self.feature_dim > 0,
            atomic=atomic,
        )


class IncrementalEngine(EngineQueries):
    """Single-process engine: full layer-wise inference, then exact updates per event batch.

    ``graph`` is the directed CSR the model aggregates over (in-neighbours); when ``undirected``
    (default: the graph is symmetric) every edge event applies to both directions. ``features``:
    [N, D] float32 or None (ID-embedding models). ``node_type``: optional int8 [N] (bipartite
    recommenders: 0 user, 1 item), extended by :class:`AddNode` events.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        graph: CSRGraph,
        features: torch.Tensor | np.ndarray | None = None,
        *,
        undirected: bool | None = None,
        node_type: np.ndarray | None = None,
    ) -> None:
        self.model = model.eval()
        self.num_layers = int(model.num_layers)
        self.undirected = graph.is_symmetric() if undirected is None else bool(undirected)
        feats = _as_features(features)
        self.feature_dim = 0 if feats is None else int(feats.shape[1])
        self.node_type = None if node_type is None else np.asarray(node_type, np.int8).copy()
        owner = np.zeros(graph.num_nodes, dtype=np.int32)
        init = build_layout(graph, owner, 1, features=feats)[0]
        self.part = PartState(init, self.model)
        self.driver = WaveDriver(LocalTransport([self.part]), self.num_layers, has_hubs=False)
        self.num_nodes = graph.num_nodes
        self.seq = -1
        self._emb: torch.Tensor | None = None

    # ------------------------------------------------------------------ full inference
    def full_inference(self) -> torch.Tensor:
        """Compute every node's embedding layer by layer; returns [N, d] float32."""
        stats = self.driver.run({0: ("begin_full", ())})
        emb = torch.zeros((self.num_nodes, stats.embeddings.shape[1]), dtype=torch.float32)
        emb[torch.from_numpy(stats.node_ids)] = torch.from_numpy(stats.embeddings)
        self._emb = emb
        return emb

    # ------------------------------------------------------------------ events
    def _adjacency(self) -> Any:
        return self.part.out_adj

    def apply(
        self, events: Sequence[Event], *, atomic: bool = False, top_k: int | None = None
    ) -> UpdateResult:
        """Apply a batch as one wave; invalid events are skipped (or refuse all if ``atomic``)."""
        t0 = time.perf_counter()
        if self._emb is None:
            self.full_inference()
        batch = self.validate(events, atomic=atomic)
        routed = self._route([ev for _, ev in batch.accepted])
        self.seq += 1
        if routed:
            stats = self.driver.run({0: ("apply_events", (self.seq, routed))})
        else:
            stats = WaveStats()
        return finish_update(self, stats, batch, t0, top_k)

    def _route(self, events: Sequence[Event]) -> list[RoutedEvent]:
        out: list[RoutedEvent] = []
        for ev in events:
            if isinstance(ev, AddEdge | RemoveEdge):
                pairs = [(ev.src, ev.dst)]
                if self.undirected:
                    pairs.append((ev.dst, ev.src))
                for u, v in pairs:
                    if isinstance(ev, AddEdge):
                        out.append(("add_edge", u, v, float(ev.weight), 0, 0, False))
                    else:
                        out.append(("remove_edge", u, v))
            elif isinstance(ev, UpdateFeatures):
                out.append(("features", ev.node, np.asarray(ev.values, np.float32)))
            elif isinstance(ev, AddNode):
                feats = None if ev.features is None else np.asarray(ev.features, np.float32)
                out.append(("add_node", self.num_nodes, feats, 0))
                self._grow_types(ev.node_type)
                self.num_nodes += 1
        return out

    def _grow_types(self, node_type: int | None) -> None:
        if self.node_type is not None:
            t = -1 if node_type is None else node_type
            self.node_type = np.append(self.node_type, np.int8(t))
