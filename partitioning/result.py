"""What a partitioning run produces: node owners, hub copies and the owner of every edge.

Ownership rules (the contract the sampler and the message passer rely on):

* every node has exactly one owner part (a hub's owner is its *master* part);
* an edge ``u → v`` of the partitioned graph is owned by exactly one part: ``owner[u]`` when
  ``u`` is an ordinary node, and the part holding that edge's share when ``u`` is a hub;
* a hub has one copy per part that owns at least one of its edges: the master's copy and its
  mirrors. The copies' edge counts sum to the hub's out-degree and their weight sums to its
  total out-edge weight, so picking a copy with probability ``weight_sum / total`` and then an
  edge within the copy's local row in proportion to its weight reproduces the hub's true
  transition probabilities exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsgraph.graph import CSRGraph
from partitioning.hubs import gather_rows


@dataclass(frozen=True, eq=False)
class HubTable:
    """Per-hub copies, one row per (hub, part) that holds a share of the hub's edges.

    ``hub_ids`` int64 ``[H]`` ascending; ``master`` int32 ``[H]``; copies of hub ``i`` are rows
    ``copy_ptr[i] .. copy_ptr[i+1]`` of ``copy_part`` (int32, ascending part ids),
    ``copy_edges`` (int64 edge count of the share) and ``copy_weight`` (float64 sum of the
    share's edge weights; equal to the count when the graph is unweighted).
    """

    hub_ids: np.ndarray
    master: np.ndarray
    copy_ptr: np.ndarray
    copy_part: np.ndarray
    copy_edges: np.ndarray
    copy_weight: np.ndarray

    @classmethod
    def empty(cls) -> HubTable:
        return cls(
            hub_ids=np.empty(0, np.int64),
            master=np.empty(0, np.int32),
            copy_ptr=np.zeros(1, np.int64),
            copy_part=np.empty(0, np.int32),
            copy_edges=np.empty(0, np.int64),
            copy_weight=np.empty(0, np.float64),
        )

    @property
    def num_hubs(self) -> int:
        return self.hub_ids.size

    def copy_hub(self) -> np.ndarray:
        """Global hub id of every copy row (int64 ``[C]``)."""
        return np.repeat(self.hub_ids, np.diff(self.copy_ptr))

    def copy_is_master(self) -> np.ndarray:
        """True for the copy row held by the hub's master part (bool ``[C]``)."""
        return self.copy_part == np.repeat(self.master, np.diff(self.copy_ptr))

    def num_mirrors(self) -> int:
        """Copies that are not masters: the extra replicas hub splitting creates."""
        return int(self.copy_part.size - self.hub_ids.size)

    def copies_of(self, hub: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(parts, edge counts, weight sums) of one hub's copies."""
        i = int(np.searchsorted(self.hub_ids, hub))
        if i >= self.hub_ids.size or self.hub_ids[i] != hub:
            raise KeyError(f"node {hub} is not a split hub")
        lo, hi = self.copy_ptr[i], self.copy_ptr[i + 1]
        return self.copy_part[lo:hi], self.copy_edges[lo:hi], self.copy_weight[lo:hi]


@dataclass(frozen=True, eq=False)
class PartitionResult:
    """A k-way partition of a graph's nodes plus the hub vertex-cut.

    ``owner`` is int32 ``[N]``. ``hub_edge_part`` is int32, one entry per out-edge of the hubs
    in the partitioned graph's CSR, rows concatenated in ``hubs.hub_ids`` order: the part that
    owns that edge.
    """

    num_parts: int
    owner: np.ndarray
    hubs: HubTable = field(default_factory=HubTable.empty)
    hub_edge_part: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    hub_threshold: int | None = None
    balance: tuple[str, ...] = ()
    ufactor: int | None = None
    seed: int = 0
    strategy: str = "metis"
    seconds: float = 0.0

    @property
    def num_nodes(self) -> int:
        return self.owner.size

    @classmethod
    def from_assignment(
        cls, owner: np.ndarray, num_parts: int, strategy: str = "given", seed: int = 0
    ) -> PartitionResult:
        """Wrap a plain node → part assignment (no hubs split)."""
        return cls(
            num_parts=num_parts,
            owner=np.asarray(owner, dtype=np.int32),
            strategy=strategy,
            seed=seed,
        )

    def edge_owner(self, graph: CSRGraph) -> np.ndarray:
        """Owning part of every edge of ``graph`` in CSR order (int32 ``[E]``)."""
        parts = np.repeat(self.owner, graph.degrees())
        if self.hubs.num_hubs:
            pos, _ = gather_rows(graph.indptr, self.hubs.hub_ids)
            parts[pos] = self.hub_edge_part
        return parts

    def owned_nodes(self, part: int) -> np.ndarray:
        """Global ids owned by ``part`` (ascending int64)."""
        return np.flatnonzero(self.owner == part).astype(np.int64)

    def mirrors(self, part: int) -> np.ndarray:
        """Hubs that ``part`` holds a non-master copy of (ascending int64)."""
        h = self.hubs
        sel = (h.copy_part == part) & ~h.copy_is_master()
        return h.copy_hub()[sel]

    def hub_copy_mask(self, part: int) -> np.ndarray:
        """bool ``[N]``: nodes that are owned by ``part`` or have a hub copy in it."""
        mask = self.owner == part
        h = self.hubs
        mask[h.copy_hub()[h.copy_part == part]] = True
        return mask
