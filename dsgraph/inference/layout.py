"""Split a graph into parts for layer-wise inference: masters, held edges, halo, hub mirrors.

Every node has one owner part (its master). An edge ``u → v`` is held by the part that sums it
into ``v``'s aggregate: ``owner[v]``, except when ``v`` is a hub (in-degree above the
threshold), whose in-edges are held by ``owner[u]`` — a vertex cut that turns every part
touching the hub into a mirror with its share of the edges, combined at the master as partial
sums. A part subscribes to the messages of each non-owned source of an edge it holds (halo).
"""

from __future__ import annotations

import numpy as np

from dsgraph.errors import PartitionError
from dsgraph.graph import CSRGraph
from dsgraph.inference.part_state import PartInit


def edge_holder(src: np.ndarray, dst: np.ndarray, owner: np.ndarray, hub: np.ndarray) -> np.ndarray:
    """Part holding each edge ``src → dst`` (int32), by the rule in the module docstring."""
    return np.where(hub[dst], owner[src], owner[dst]).astype(np.int32)


def hub_flags(graph: CSRGraph, threshold: int | None) -> np.ndarray:
    """Nodes whose in-degree exceeds ``threshold`` (none when ``threshold`` is None)."""
    if threshold is None:
        return np.zeros(graph.num_nodes, dtype=bool)
    return graph.in_degrees() > int(threshold)


def build_layout(
    graph: CSRGraph,
    owner: np.ndarray,
    num_parts: int,
    *,
    hub: np.ndarray | None = None,
    features: np.ndarray | None = None,
) -> list[PartInit]:
    """One :class:`PartInit` per part from a node → owner assignment and hub flags."""
    owner = np.asarray(owner, dtype=np.int32)
    n = graph.num_nodes
    if owner.shape != (n,):
        raise PartitionError(f"owner must have one part per node ({n}), got shape {owner.shape}")
    if n and (owner.min() < 0 or owner.max() >= num_parts):
        raise PartitionError(f"owner parts must lie in [0, {num_parts}), got {owner.min()}..")
    hub = np.zeros(n, dtype=bool) if hub is None else np.asarray(hub, dtype=bool)
    src, dst = graph.edges()
    holder = edge_holder(src, dst, owner, hub)
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
