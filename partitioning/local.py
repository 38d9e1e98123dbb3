"""One part's view of the graph: local ids, local CSR, owned / mirror / halo nodes.

Local ids are ordered owned nodes (ascending global id), then mirrors (hubs whose master is
elsewhere but which hold a share of their edges here, ascending), then halo nodes (by hop, then
global id). Owned and mirror rows hold exactly the edges this part owns; halo nodes closer than
``halo_hops`` carry their full rows (not owned, present so L-hop sampling stays local); the
outermost halo nodes have empty rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsgraph.errors import PartitionError
from dsgraph.graph import CSRGraph
from partitioning.hubs import gather_rows
from partitioning.result import HubTable, PartitionResult

OWNED, MIRROR, HALO = 0, 1, 2


@dataclass(frozen=True, eq=False)
class LocalPartition:
    """A worker's part: structure over local ids plus the maps back to global ids.

    ``graph`` is a CSRGraph over ``num_local`` local ids; ``local_to_global`` int64; ``kind``
    int8 (0 owned, 1 mirror, 2 halo); ``hop`` int8 (0 for owned/mirror, 1..L for halo).
    ``hubs`` is the global hub table (every hub's master, copies, edge and weight shares).
    ``features`` float32 ``[num_local, D]``, ``labels`` int64, ``split`` int8 when the source
    dataset has them. ``degrees`` float64: each local node's weighted in-degree in the whole
    graph (parts written before it was stored have None).
    """

    part_id: int
    num_parts: int
    graph: CSRGraph
    local_to_global: np.ndarray
    kind: np.ndarray
    hop: np.ndarray
    hubs: HubTable
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    split: np.ndarray | None = None
    degrees: np.ndarray | None = None

    @property
    def num_local(self) -> int:
        return self.local_to_global.size

    @property
    def num_owned(self) -> int:
        return int(np.count_nonzero(self.kind == OWNED))

    @property
    def owned_mask(self) -> np.ndarray:
        return self.kind == OWNED

    @property
    def mirror_mask(self) -> np.ndarray:
        return self.kind == MIRROR

    @property
    def halo_mask(self) -> np.ndarray:
        return self.kind == HALO

    def owned_edge_mask(self) -> np.ndarray:
        """bool ``[E_local]``: edges this part owns (rows of owned nodes and mirrors)."""
        rows_owned = self.kind != HALO
        return np.repeat(rows_owned, self.graph.degrees())

    def global_to_local(self, global_ids: np.ndarray) -> np.ndarray:
        """Local id of each global id (int64, −1 where the node is not in this part)."""
        global_ids = np.asarray(global_ids, dtype=np.int64)
        order = np.argsort(self.local_to_global, kind="stable")
        sorted_ids = self.local_to_global[order]
        pos = np.searchsorted(sorted_ids, global_ids)
        pos_c = np.minimum(pos, max(sorted_ids.size - 1, 0))
        found = (pos < sorted_ids.size) & (sorted_ids[pos_c] == global_ids)
        return np.where(found, order[pos_c], -1)

    def hub_copies(self) -> tuple[np.ndarray, np.ndarray]:
        """(local ids, hub-table rows) of this part's hub copies (its masters and mirrors)."""
        rows = np.flatnonzero(self.hubs.copy_part == self.part_id)
        return self.global_to_local(self.hubs.copy_hub()[rows]), rows


def _expand(graph: CSRGraph, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, source node per position) of the full rows of ``nodes``."""
    pos, ptr = gather_rows(graph.indptr, nodes)
    return pos, np.repeat(nodes, np.diff(ptr))


def build_local(
    graph: CSRGraph,
    result: PartitionResult,
    part: int,
    halo_hops: int = 1,
    edge_part: np.ndarray | None = None,
) -> LocalPartition:
    """Cut part ``part`` out of ``graph`` (``edge_part`` caches ``result.edge_owner(graph)``)."""
    if not 0 <= part < result.num_parts:
        raise PartitionError(f"part {part} is out of range [0, {result.num_parts})")
    if halo_hops < 1:
        raise PartitionError(
            f"halo hops must be ≥ 1 (owned edges need their targets locally), got {halo_hops}"
        )
    if edge_part is None:
        edge_part = result.edge_owner(graph)
    n = graph.num_nodes
    owned = result.owned_nodes(part)
    mirrors = result.mirrors(part)
    pos = np.flatnonzero(edge_part == part)
    src = np.searchsorted(graph.indptr, pos, side="right") - 1
    present = np.zeros(n, dtype=bool)
    present[owned] = True
    present[mirrors] = True

    halo_levels: list[np.ndarray] = []
    frontier_dst = graph.indices[pos]
    halo_pos: list[np.ndarray] = []
    halo_src: list[np.ndarray] = []
    for hop in range(1, halo_hops + 1):
        new = np.unique(frontier_dst[~present[frontier_dst]]).astype(np.int64)
        present[new] = True
        halo_levels.append(new)
        if hop == halo_hops or new.size == 0:
            break
        p, s = _expand(graph, new)
        halo_pos.append(p)
        halo_src.append(s)
        frontier_dst = graph.indices[p]

    halo = np.concatenate(halo_levels) if halo_levels else np.empty(0, np.int64)
    local_to_global = np.concatenate([owned, mirrors, halo]).astype(np.int64)
    kind = np.concatenate(
        [
            np.full(owned.size, OWNED, np.int8),
            np.full(mirrors.size, MIRROR, np.int8),
            np.full(halo.size, HALO, np.int8),
        ]
    )
    hop_arr = np.concatenate(
        [np.zeros(owned.size + mirrors.size, np.int8)]
        + [np.full(level.size, h + 1, np.int8) for h, level in enumerate(halo_levels)]
    )
    to_local = np.full(n, -1, dtype=np.int64)
    to_local[local_to_global] = np.arange(local_to_global.size)
    all_pos = np.concatenate([pos, *halo_pos])
    all_src = np.concatenate([src, *halo_src])
    weight = None if graph.weights is None else graph.weights[all_pos]
    local_graph = CSRGraph.from_edges(
        to_local[all_src], to_local[graph.indices[all_pos]], local_to_global.size, weight
    )
    return LocalPartition(
        part_id=part,
        num_parts=result.num_parts,
        graph=local_graph,
        local_to_global=local_to_global,
        kind=kind,
        hop=hop_arr,
        hubs=result.hubs,
    )
