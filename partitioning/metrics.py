"""Partition quality: edge cut, imbalance, replication factor and communication volume.

Definitions (``E`` edges of the partitioned graph, ``N`` nodes, ``k`` parts):

* an owned edge ``u → v`` is *cut* when its owning part holds no copy of ``v`` (neither owns it
  nor holds a hub copy of it): ``v`` must then be fetched as a halo node;
* ``vertex_imbalance`` / ``edge_imbalance`` / ``train_imbalance``: max over parts / mean − 1 of
  owned nodes / owned edges / owned train nodes;
* ``halo_nodes``: distinct 1-hop halo nodes per part (targets of its cut edges);
* ``replication_factor`` = (N + Σ halo nodes + Σ mirrors) / N — copies of a node across parts;
* ``comm_volume`` = cut edges + mirror copies: messages per layer of full-graph message passing
  when each cut edge carries one message and each mirror sends one partial aggregate;
* ``halo_volume`` = Σ halo nodes + mirror copies: node values exchanged per layer when messages
  to the same halo node are combined first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dsgraph.graph import CSRGraph
from partitioning.result import PartitionResult


@dataclass(frozen=True)
class PartitionMetrics:
    """Quality figures of one partition; per-part lists have ``num_parts`` entries."""

    num_parts: int
    num_nodes: int
    num_edges: int
    owned_nodes: list[int]
    owned_edges: list[int]
    halo_nodes: list[int]
    mirror_nodes: list[int]
    train_nodes: list[int] | None
    edge_cut: int
    edge_cut_fraction: float
    vertex_imbalance: float
    edge_imbalance: float
    train_imbalance: float | None
    replication_factor: float
    comm_volume: int
    halo_volume: int
    num_hubs: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def imbalance(counts: np.ndarray) -> float:
    """max / mean − 1 (0 when everything is empty)."""
    counts = np.asarray(counts, dtype=np.float64)
    mean = counts.mean() if counts.size else 0.0
    return float(counts.max() / mean - 1.0) if mean > 0 else 0.0


def local_edge_mask(graph: CSRGraph, result: PartitionResult, edge_part: np.ndarray) -> np.ndarray:
    """bool ``[E]``: the owning part of each edge also holds its target (owned or hub copy)."""
    dst = graph.indices
    local = result.owner[dst] == edge_part
    hubs = result.hubs
    if hubs.num_hubs:
        k = result.num_parts
        is_hub = np.zeros(graph.num_nodes, dtype=bool)
        is_hub[hubs.hub_ids] = True
        check = np.flatnonzero(~local & is_hub[dst])
        copy_key = hubs.copy_hub() * k + hubs.copy_part
        local[check] = np.isin(dst[check].astype(np.int64) * k + edge_part[check], copy_key)
    return local


def evaluate(
    graph: CSRGraph, result: PartitionResult, train_mask: np.ndarray | None = None
) -> PartitionMetrics:
    """All metrics of ``result`` on ``graph`` (the graph that was partitioned)."""
    k = result.num_parts
    edge_part = result.edge_owner(graph)
    local = local_edge_mask(graph, result, edge_part)
    cut_part = edge_part[~local]
    cut_dst = graph.indices[~local]
    halo = []
    seen = np.zeros(graph.num_nodes, dtype=bool)
    for part in range(k):
        targets = cut_dst[cut_part == part]
        seen[targets] = True
        halo.append(int(np.count_nonzero(seen)))
        seen[targets] = False
    owned_nodes = np.bincount(result.owner, minlength=k)
    owned_edges = np.bincount(edge_part, minlength=k)
    hubs = result.hubs
    mirrors = np.bincount(hubs.copy_part[~hubs.copy_is_master()], minlength=k)
    train = None
    if train_mask is not None:
        train = np.bincount(result.owner[np.asarray(train_mask, dtype=bool)], minlength=k)
    edge_cut = int(cut_part.size)
    num_mirrors = int(mirrors.sum())
    n = max(graph.num_nodes, 1)
    return PartitionMetrics(
        num_parts=k,
        num_nodes=graph.num_nodes,
        num_edges=graph.num_edges,
        owned_nodes=owned_nodes.tolist(),
        owned_edges=owned_edges.tolist(),
        halo_nodes=halo,
        mirror_nodes=mirrors.tolist(),
        train_nodes=None if train is None else train.tolist(),
        edge_cut=edge_cut,
        edge_cut_fraction=edge_cut / max(graph.num_edges, 1),
        vertex_imbalance=imbalance(owned_nodes),
        edge_imbalance=imbalance(owned_edges),
        train_imbalance=None if train is None else imbalance(train),
        replication_factor=(graph.num_nodes + sum(halo) + num_mirrors) / n,
        comm_volume=edge_cut + num_mirrors,
        halo_volume=sum(halo) + num_mirrors,
        num_hubs=hubs.num_hubs,
        seconds=result.seconds,
    )
