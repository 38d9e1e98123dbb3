"""Split a graph into parts for layer-wise inference: masters, held edges, halo, hub mirrors.

Every node has one owner part (its master). An edge ``u → v`` is held by the part that sums it
into ``v``'s aggregate: ``owner[v]`` for an ordinary ``v``. For a hub ``v`` (split by the
partitioner) the edge is held where the partitioner put it: the part of the hub's copy that
owns the edge ``v → u`` (``PartitionResult.hub_edge_part``; in a symmetric graph both
directions of an edge share one copy), so a hub's partial aggregates live exactly at its
HubTable copies — the mirrors, combined at the master as partial sums. An edge into a hub that
the partitioner did not place (a directed edge without its reverse, or an edge added later)
goes to ``owner[u]`` when the hub has a copy there (no halo needed) and to the master
otherwise, so the copies stay the only parts that hold a hub's in-edges. A part subscribes to
the messages of each non-owned source of an edge it holds (halo).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsgraph.errors import PartitionError
from dsgraph.graph import CSRGraph
from dsgraph.inference.part_state import PartInit


class HubCopies:
    """Which parts hold a copy of each hub (bool ``[H, k]``), and the rule for new hub edges.

    ``hub_rank`` int64 ``[N]`` is the hub's row (−1 for ordinary nodes). Built from a
    partitioner's HubTable, or — for a plain owner array — with every part a copy (then every
    in-edge of a hub is held by ``owner[u]``).
    """

    def __init__(self, hub_rank: np.ndarray, copy_mask: np.ndarray, master: np.ndarray) -> None:
        self.hub_rank = np.asarray(hub_rank, dtype=np.int64)
        self.copy_mask = np.asarray(copy_mask, dtype=bool)
        self.master = np.asarray(master, dtype=np.int32)

    @classmethod
    def from_table(cls, table: Any, num_nodes: int, num_parts: int) -> HubCopies:
        """From a :class:`partitioning.result.HubTable` (``hub_ids``, ``copy_ptr``, …)."""
        rank = np.full(num_nodes, -1, dtype=np.int64)
        rank[np.asarray(table.hub_ids, dtype=np.int64)] = np.arange(table.hub_ids.size)
        mask = np.zeros((table.hub_ids.size, num_parts), dtype=bool)
        rows = np.repeat(np.arange(table.hub_ids.size), np.diff(table.copy_ptr))
        mask[rows, np.asarray(table.copy_part, dtype=np.int64)] = True
        return cls(rank, mask, table.master)

    @classmethod
    def everywhere(cls, hub: np.ndarray, owner: np.ndarray, num_parts: int) -> HubCopies:
        """Every part is a copy of every hub in ``hub`` (bool ``[N]``); masters = ``owner``."""
        ids = np.flatnonzero(hub)
        rank = np.full(hub.size, -1, dtype=np.int64)
        rank[ids] = np.arange(ids.size)
        return cls(rank, np.ones((ids.size, num_parts), dtype=bool), np.asarray(owner)[ids])

    @property
    def is_hub(self) -> np.ndarray:
        return self.hub_rank >= 0

    def add_nodes(self, count: int) -> None:
        """New nodes are never hubs."""
        self.hub_rank = np.append(self.hub_rank, np.full(int(count), -1, dtype=np.int64))

    def holder(self, src: np.ndarray, dst: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Part holding each edge ``src → dst`` by the fallback rule (module docstring)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        out = np.asarray(owner, dtype=np.int32)[dst].copy()
        hubs = np.flatnonzero(self.hub_rank[dst] >= 0)
        if hubs.size:
            rank = self.hub_rank[dst[hubs]]
            own_src = np.asarray(owner, dtype=np.int32)[src[hubs]]
            at_src = self.copy_mask[rank, own_src]
            out[hubs] = np.where(at_src, own_src, self.master[rank])
        return out


def edge_holders(
    graph: CSRGraph, owner: np.ndarray, copies: HubCopies, partition: Any = None
) -> np.ndarray:
    """Holder part of every edge of ``graph`` in ``graph.edges()`` order (int32 ``[E]``).

    With a partitioner's ``partition`` (``hubs`` and ``hub_edge_part``) an edge ``u → h`` into
    a hub takes the part of the hub's edge ``h → u``; otherwise (and when that edge does not
    exist) :meth:`HubCopies.holder` decides.
    """
    src, dst = graph.edges()
    holder = copies.holder(src, dst, owner)
    table = getattr(partition, "hubs", None)
    if table is None or table.num_hubs == 0:
        return holder
    hub_ids = np.asarray(table.hub_ids, dtype=np.int64)
    starts = graph.indptr[hub_ids]
    lens = graph.indptr[hub_ids + 1] - starts
    # keys of the hubs' out-edges h → u, in hub_edge_part's order (ascending: rows are sorted)
    pos = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(
        starts - np.cumsum(lens) + lens, lens
    )
    n = np.int64(graph.num_nodes)
    keys = np.repeat(hub_ids, lens) * n + graph.indices[pos].astype(np.int64)
    into = np.flatnonzero(copies.hub_rank[dst] >= 0)
    want = dst[into].astype(np.int64) * n + src[into].astype(np.int64)
    at = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
    found = keys.size > 0
    hit = (keys[at] == want) if found else np.zeros(into.size, bool)
    part_of = np.asarray(partition.hub_edge_part, dtype=np.int32)
    holder[into[hit]] = part_of[at[hit]]
    return holder


class HubEdgePlacement:
    """The holder of every edge into a hub, for routing events: the partitioner's placement
    where it differs from the :class:`HubCopies` rule (sorted ``u·n + h`` keys), edges added
    by events (placed by the rule), otherwise the rule."""

    def __init__(
        self, copies: HubCopies, src: np.ndarray, dst: np.ndarray, holder: np.ndarray, owner
    ) -> None:
        self.copies = copies
        self.n = np.int64(copies.hub_rank.size)
        differs = np.flatnonzero(holder != copies.holder(src, dst, owner))
        keys = src[differs].astype(np.int64) * self.n + dst[differs].astype(np.int64)
        order = np.argsort(keys)
        self._keys, self._parts = keys[order], np.asarray(holder, np.int32)[differs][order]
        self._added: dict[tuple[int, int], int] = {}

    def holder(self, u: int, v: int, owner: np.ndarray) -> int:
        """Part holding the existing edge ``u → v``."""
        got = self._added.get((u, v))
        if got is not None:
            return got
        if u < self.n and v < self.n and self._keys.size:
            key = np.int64(u) * self.n + np.int64(v)
            i = int(np.searchsorted(self._keys, key))
            if i < self._keys.size and self._keys[i] == key:
                return int(self._parts[i])
        return int(self.copies.holder(np.array([u]), np.array([v]), owner)[0])

    def add(self, u: int, v: int, owner: np.ndarray) -> int:
        """Place a new edge ``u → v`` by the rule; returns its holder."""
        part = int(self.copies.holder(np.array([u]), np.array([v]), owner)[0])
        if self.copies.hub_rank[v] >= 0:
            self._added[(u, v)] = part
        return part

    def remove(self, u: int, v: int, owner: np.ndarray) -> int:
        """Forget the edge ``u → v``; returns the part that held it."""
        part = self.holder(u, v, owner)
        self._added.pop((u, v), None)
        return part


def build_layout(
    graph: CSRGraph,
    owner: np.ndarray,
    num_parts: int,
    *,
    hub: np.ndarray | None = None,
    features: np.ndarray | None = None,
    holder: np.ndarray | None = None,
) -> list[PartInit]:
    """One :class:`PartInit` per part from a node → owner assignment and hub flags.

    ``holder`` (int32 ``[E]``, ``graph.edges()`` order) places every edge; by default
    ``owner[dst]``, or ``owner[src]`` for edges into a hub (every part may be a mirror).
    """
    owner = np.asarray(owner, dtype=np.int32)
    n = graph.num_nodes
    if owner.shape != (n,):
        raise PartitionError(f"owner must have one part per node ({n}), got shape {owner.shape}")
    if n and (owner.min() < 0 or owner.max() >= num_parts):
        raise PartitionError(f"owner parts must lie in [0, {num_parts}), got {owner.min()}..")
    hub = np.zeros(n, dtype=bool) if hub is None else np.asarray(hub, dtype=bool)
    src, dst = graph.edges()
    if holder is None:
        holder = HubCopies.everywhere(hub, owner, num_parts).holder(src, dst, owner)
    holder = np.asarray(holder, dtype=np.int32)
    # subscriptions: (source, holder) pairs where the holder does not own the source
    remote = owner[src] != holder
    pair_key = np.unique(src[remote] * num_parts + holder[remote])
    sub_nodes, sub_parts = pair_key // num_parts, (pair_key % num_parts).astype(np.int32)
    inits = []
    order = np.argsort(holder, kind="stable")
    bounds = np.searchsorted(holder[order], np.arange(num_parts + 1))
    sub_owner = owner[sub_nodes]
    for p in range(num_parts):
        held = order[bounds[p] : bounds[p + 1]]
        owned = np.flatnonzero(owner == p)
        nodes = np.unique(np.concatenate([owned, src[held], dst[held]]))
        mine = sub_owner == p
        inits.append(
            PartInit(
                part_id=p,
                num_parts=num_parts,
                owned=owned,
                edge_src=src[held],
                edge_dst=dst[held],
                edge_weight=None if graph.weights is None else graph.weights[held],
                node_ids=nodes,
                node_owner=owner[nodes],
                node_hub=hub[nodes],
                sub_nodes=sub_nodes[mine],
                sub_parts=sub_parts[mine],
                features=None if features is None else np.asarray(features)[owned],
                num_global_nodes=n,
            )
        )
    return inits
