"""Driver side of distributed inference: one PartitionActor per part, events routed as waves.

:class:`PartitionEngine` splits the graph (METIS with hub splitting from :mod:`partitioning`,
or a given assignment), starts one :class:`PartitionActor` per part on Ray (or keeps the parts
in this process with ``backend="local"``, which runs the identical protocol without Ray), runs
full layer-wise inference, and applies event batches: each batch gets a sequence number, each
event goes only to the part that must apply it (the edge's holder, the node's owner), and the
whole batch is one wave. Mail between parts flows actor to actor through the object store; the
driver only reads the small step summaries.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.graph import CSRGraph
from dsgraph.inference.aggregation import AggSpec
from dsgraph.inference.dynamic_graph import DynamicAdjacency
from dsgraph.inference.events import (
    AddEdge,
    AddNode,
    Event,
    RemoveEdge,
    UpdateFeatures,
)
from dsgraph.inference.incremental import (
    EngineQueries,
    LocalTransport,
    UpdateResult,
    WaveDriver,
    WaveStats,
    _as_features,
    finish_update,
)
from dsgraph.inference.layout import HubCopies, HubEdgePlacement, build_layout, edge_holders
from dsgraph.inference.part_state import PartState, RoutedEvent, StepSummary


class RayTransport:
    """Parts as Ray actors; every ``get`` has a timeout (a dead actor is a ClusterError)."""

    def __init__(self, actors: Sequence[Any], timeout: float) -> None:
        self.actors = list(actors)
        self.num_parts = len(self.actors)
        self.timeout = timeout
        self._methods: dict[tuple[int, str], Any] = {}

    def call(self, part: int, method: str, *args: Any) -> Any:
        from dsgraph.distributed.partition_actor import STEP_METHODS

        fn = self._methods.get((part, method))
        if fn is None:  # built once: .options() makes a new method wrapper on every call
            fn = getattr(self.actors[part], method)
            if method in STEP_METHODS:
                fn = fn.options(num_returns=self.num_parts + 1)
            self._methods[(part, method)] = fn
        return fn.remote(*args)

    def summaries(self, handles: Sequence[Any]) -> list[StepSummary]:
        return self.get([h[0] for h in handles])

    def mail(self, handle: Any, dest: int) -> Any:
        return handle[1 + dest]

    def get(self, handles: Sequence[Any]) -> list[Any]:
        from dsgraph.distributed.cluster import get

        return list(get(list(handles), self.timeout, "PartitionActor"))


class PartitionEngine(EngineQueries):
    """Distributed full-graph inference and exact incremental updates over ``num_parts`` parts.

    ``partition``: a :class:`partitioning.result.PartitionResult` or an owner array [N]; when
    None the graph is partitioned with METIS and hub splitting (``hub_threshold``). Hubs (nodes
    split by the partitioner) keep a master; their in-edges are held where the partitioner put
    them (``hub_edge_part``), so the HubTable copies are the mirrors that send partial sums
    (with an owner array, hubs are nodes of in-degree above ``hub_threshold`` and every part
    holding one of their in-edges is a mirror). ``log_dir`` enables per-part event logs and
    snapshots (restart recovery within this engine's life; logs of an earlier engine there are
    removed).
    ``backend`` is ``"ray"`` (one actor per part, Ray must be initialised — see
    :mod:`dsgraph.distributed.cluster`) or ``"local"``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        graph: CSRGraph,
        features: torch.Tensor | np.ndarray | None = None,
        *,
        num_parts: int = 4,
        partition: Any = None,
        hub_threshold: int | None = 1000,
        undirected: bool | None = None,
        node_type: np.ndarray | None = None,
        backend: str = "ray",
        log_dir: str | Path | None = None,
        threads_per_part: int = 1,
        timeout_s: float = 600.0,
        seed: int = 0,
    ) -> None:
        self.model = model.eval()
        self.num_layers = int(model.num_layers)
        self.undirected = graph.is_symmetric() if undirected is None else bool(undirected)
        feats = _as_features(features)
        self.feature_dim = 0 if feats is None else int(feats.shape[1])
        self.node_type = None if node_type is None else np.asarray(node_type, np.int8).copy()
        self.spec = AggSpec.from_model(model)
        self.owner, self.copies, partition = self._assignment(
            graph, num_parts, partition, hub_threshold, seed
        )
        self.num_parts = int(self.copies.copy_mask.shape[1])
        self.hub = self.copies.is_hub
        holder = edge_holders(graph, self.owner, self.copies, partition)
        inits = build_layout(
            graph, self.owner, self.num_parts, hub=self.hub, features=feats, holder=holder
        )
        self.owned_count = np.bincount(self.owner, minlength=self.num_parts)
        src, dst = graph.edges()
        self.placement = HubEdgePlacement(self.copies, src, dst, holder, self.owner)
        w = None if graph.weights is None else graph.weights
        # hubs' total in-degree (their in-edges are spread over parts): masters get it from here
        hub_ids = np.flatnonzero(self.hub)
        into_hub = self.hub[dst]
        contrib = self.spec.degree_contribution(
            np.ones(int(into_hub.sum()), np.float32) if w is None else w[into_hub]
        )
        totals = np.bincount(dst[into_hub], weights=contrib, minlength=graph.num_nodes)
        self.hub_total = dict(zip(hub_ids.tolist(), totals[hub_ids].tolist(), strict=True))
        del holder
        self.adj = DynamicAdjacency(graph.indptr, graph.indices, w)  # driver copy: validation
        self.num_nodes = graph.num_nodes
        self.seq = -1
        self.backend = backend
        self._emb: torch.Tensor | None = None
        self.last_recovery: str | None = None
        if backend == "local":
            self.parts = [PartState(init, self.model) for init in inits]
            self.transport: Any = LocalTransport(self.parts)
        elif backend == "ray":
            import ray

            from dsgraph.distributed.partition_actor import PartitionActor

            # keep the construction objects referenced: Ray re-runs the constructor with them
            # when it restarts an actor
            self._model_ref = ray.put(self.model)
            self._init_refs = [ray.put(init) for init in inits]
            log = None if log_dir is None else str(self._fresh_log_dir(Path(log_dir)))
            self.actors = [
                PartitionActor.options(num_cpus=0).remote(
                    ref, self._model_ref, log, threads_per_part
                )
                for ref in self._init_refs
            ]
            self.transport = RayTransport(self.actors, timeout_s)
            self.transport.get([a.status.remote() for a in self.actors])
        else:
            raise ValueError(f"backend must be 'ray' or 'local', got {backend!r}")
        self.driver = WaveDriver(self.transport, self.num_layers, has_hubs=bool(hub_ids.size))
        del src, dst

    @staticmethod
    def _fresh_log_dir(log_dir: Path) -> Path:
        """Remove part logs and snapshots of an earlier engine: they describe another start."""
        log_dir.mkdir(parents=True, exist_ok=True)
        for old in [*log_dir.glob("part-*.events.jsonl"), *log_dir.glob("part-*.snapshot.pkl")]:
            old.unlink()
        return log_dir

    @staticmethod
    def _assignment(
        graph: CSRGraph, num_parts: int, partition: Any, hub_threshold: int | None, seed: int
    ) -> tuple[np.ndarray, HubCopies, Any]:
        """Owner array, hub copies, and the PartitionResult (None for a plain owner array)."""
        if partition is None:
            from partitioning.api import partition as metis_partition

            partition = metis_partition(graph, num_parts, hub_threshold=hub_threshold, seed=seed)
        if hasattr(partition, "owner"):
            owner = np.asarray(partition.owner, dtype=np.int32)
            k = int(partition.num_parts)
            copies = HubCopies.from_table(partition.hubs, owner.size, k)
            # the engine's master is the hub's owner; it always holds a copy
            hub_ids = np.flatnonzero(copies.is_hub)
            copies.master = owner[hub_ids]
            copies.copy_mask[copies.hub_rank[hub_ids], owner[hub_ids]] = True
            return owner, copies, partition
        owner = np.asarray(partition, dtype=np.int32)
        in_deg = graph.in_degrees()
        hub = np.zeros(owner.size, bool) if hub_threshold is None else in_deg > int(hub_threshold)
        return owner, HubCopies.everywhere(hub, owner, int(num_parts)), None

    # ------------------------------------------------------------------ full inference
    def _hub_totals(self, part: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, total in-degrees) of the hubs ``part`` is master of."""
        ids = np.array(sorted(h for h in self.hub_total if self.owner[h] == part), dtype=np.int64)
        return ids, np.array([self.hub_total[h] for h in ids.tolist()], dtype=np.float64)

    def full_inference(self) -> torch.Tensor:
        """Layer-wise inference of every node across the parts; returns [N, d] float32."""
        start = {p: ("begin_full", self._hub_totals(p)) for p in range(self.num_parts)}
        stats = self.driver.run(start)
        self.last_full_stats = stats
        emb = torch.zeros((self.num_nodes, stats.embeddings.shape[1]), dtype=torch.float32)
        with warnings.catch_warnings():
            # arrays from the object store are read-only; they are only read here
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            emb[torch.from_numpy(stats.node_ids)] = torch.from_numpy(stats.embeddings)
        self._emb = emb
        return emb

    # ------------------------------------------------------------------ events
    def _adjacency(self) -> DynamicAdjacency:
        return self.adj

    def apply(
        self, events: Sequence[Event], *, atomic: bool = False, top_k: int | None = None
    ) -> UpdateResult:
        """Apply a batch as one wave across the parts (see :meth:`IncrementalEngine.apply`).

        A part that restarted during the wave (summary ``ready=False``) triggers
        :meth:`recover`, after which every node's embedding is reported as updated.
        """
        t0 = time.perf_counter()
        if self._emb is None:
            self.full_inference()
        batch = self.validate(events, atomic=atomic)
        routed = self._route([ev for _, ev in batch.accepted])
        self.seq += 1
        start = {p: ("apply_events", (self.seq, evs)) for p, evs in routed.items() if evs}
        stats = self.driver.run(start) if start else WaveStats()
        if not stats.all_ready:  # a part restarted: this wave could not use its messages
            self.status()  # waits for restarted actors' constructors
            self.full_inference()
            self.last_recovery = "full wave"
            stats.node_ids = np.arange(self.num_nodes, dtype=np.int64)
            stats.embeddings = self._emb[: self.num_nodes].numpy()
        return finish_update(self, stats, batch, t0, top_k)

    def _route(self, events: Sequence[Event]) -> dict[int, list[RoutedEvent]]:
        out: dict[int, list[RoutedEvent]] = {}
        hubs_changed: set[int] = set()
        for ev in events:
            if isinstance(ev, AddEdge | RemoveEdge):
                pairs = [(int(ev.src), int(ev.dst))]
                if self.undirected:
                    pairs.append((int(ev.dst), int(ev.src)))
                for u, v in pairs:
                    if isinstance(ev, AddEdge):
                        holder = self.placement.add(u, v, self.owner)
                        ou, ov = int(self.owner[u]), int(self.owner[v])
                        out.setdefault(holder, []).append(
                            ("add_edge", u, v, float(ev.weight), ou, ov, bool(self.hub[v]))
                        )
                        if ou != holder:  # the holder now needs u's messages
                            out.setdefault(ou, []).append(("subscribe", u, holder))
                        self.adj.add(u, v, float(ev.weight))
                        w, sign = float(ev.weight), 1.0
                    else:
                        holder = self.placement.remove(u, v, self.owner)
                        out.setdefault(holder, []).append(("remove_edge", u, v))
                        w, sign = self.adj.remove(u, v), -1.0
                    if self.hub[v]:
                        c = float(self.spec.degree_contribution(np.array([w], np.float32))[0])
                        self.hub_total[v] += sign * c
                        hubs_changed.add(v)
            elif isinstance(ev, UpdateFeatures):
                p = int(self.owner[ev.node])
                out.setdefault(p, []).append(
                    ("features", ev.node, np.asarray(ev.values, np.float32))
                )
            elif isinstance(ev, AddNode):
                p = int(np.argmin(self.owned_count))  # the smallest part takes the new node
                node = self.num_nodes
                feats = None if ev.features is None else np.asarray(ev.features, np.float32)
                out.setdefault(p, []).append(("add_node", node, feats, p))
                self.owner = np.append(self.owner, np.int32(p))
                self.copies.add_nodes(1)
                self.hub = self.copies.is_hub
                self.owned_count[p] += 1
                self.adj.add_nodes(1)
                if self.node_type is not None:
                    t = -1 if ev.node_type is None else ev.node_type
                    self.node_type = np.append(self.node_type, np.int8(t))
                self.num_nodes += 1
        for h in sorted(hubs_changed):  # the master's new total, after the batch's edges
            out.setdefault(int(self.owner[h]), []).append(("hub_degree", h, self.hub_total[h]))
        return out

    # ------------------------------------------------------------------ durability
    def status(self) -> list[dict[str, Any]]:
        """Each actor's part id, last sequence number, readiness and process id."""
        if self.backend != "ray":
            return [{"part": p.part, "last_seq": p.last_seq, "ready": p.ready} for p in self.parts]
        return self.transport.get([a.status.remote() for a in self.actors])

    def snapshot(self) -> list[int]:
        """Snapshot every part (structure + features) and truncate their event logs."""
        if self.backend != "ray":
            return [p.last_seq for p in self.parts]
        return self.transport.get([a.snapshot.remote() for a in self.actors])

    def recover(self) -> torch.Tensor:
        """After an actor restart (its structure rebuilt from snapshot + log), restore every
        layer's embeddings; returns the final embeddings [N, d].

        When exactly one part lost its state and no wave ran since, the others (whose state is
        current) send it every layer's halo rows and hub partials it needs and it recomputes
        its own layers alone: one round, and only that part's nodes are recomputed
        (``last_recovery = "rebuild"``). Otherwise one full-inference wave restores everything
        (``"full wave"``).
        """
        lost = [s["part"] for s in self.status() if not s["ready"]]
        if len(lost) != 1 or self._emb is None or self.num_parts == 1:
            self.last_recovery = "full wave"
            return self.full_inference()
        p = lost[0]
        mails = [self.transport.call(q, "resend", p) for q in range(self.num_parts) if q != p]
        ids, totals = self._hub_totals(p)
        end = self.transport.get([self.transport.call(p, "rebuild", ids, totals, *mails)])[0]
        self._emb.numpy()[end.node_ids] = end.embeddings
        self.last_recovery = "rebuild"
        return self.embeddings()

    def shutdown(self) -> None:
        """Kill the actors (their logs and snapshots stay on disk)."""
        if self.backend == "ray":
            import ray

            for a in self.actors:
                ray.kill(a)
            self.actors = []
