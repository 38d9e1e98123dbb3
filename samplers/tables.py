"""Build the sampling tables the walk and fan-out kernels read (alias, CDF, live flags)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from dsgraph.graph import CSRGraph
from samplers import kernels_tables as KT
from samplers.kernels_walks import ALIAS, CDF, UNIFORM

_EMPTY_F32 = np.empty(0, dtype=np.float32)
_EMPTY_F64 = np.empty(0, dtype=np.float64)
_EMPTY_I32 = np.empty(0, dtype=np.int32)


@dataclass(frozen=True)
class SamplingTables:
    """What a kernel needs to draw one out-edge of a node.

    ``kind`` is UNIFORM, ALIAS or CDF; ``prob`` float32 [E] / ``alias`` int32 [E] are set for
    ALIAS, ``cdf`` float32 [E] for CDF (empty arrays otherwise); ``live`` uint8 [N] marks
    nodes with at least one edge of positive weight.
    """

    kind: int
    live: np.ndarray
    prob: np.ndarray = field(default_factory=lambda: _EMPTY_F32)
    alias: np.ndarray = field(default_factory=lambda: _EMPTY_I32)
    cdf: np.ndarray = field(default_factory=lambda: _EMPTY_F32)

    @property
    def nbytes(self) -> int:
        return self.live.nbytes + self.prob.nbytes + self.alias.nbytes + self.cdf.nbytes


def chunk_bounds(indptr: np.ndarray, num_chunks: int) -> np.ndarray:
    """Node-range boundaries that split the rows into chunks of about equal edge counts."""
    num_nodes = indptr.size - 1
    targets = np.linspace(0, indptr[-1], num_chunks + 1)
    bounds = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, num_nodes
    return np.unique(np.clip(bounds, 0, num_nodes))


def _bounds(graph: CSRGraph) -> np.ndarray:
    chunks = max(1, min(graph.num_nodes, 8 * numba.get_num_threads()))
    return chunk_bounds(graph.indptr, chunks)


def degree_weights(graph: CSRGraph, alpha: float) -> np.ndarray:
    """Per-node weight max(deg, 1)^alpha, float64 [N] (a sink counts as degree 1)."""
    deg = np.maximum(graph.degrees(), 1).astype(np.float64)
    return deg**alpha


def build_tables(
    graph: CSRGraph,
    *,
    edge_weights: np.ndarray | None = None,
    node_weights: np.ndarray | None = None,
    table: str = "alias",
) -> SamplingTables:
    """Tables for uniform steps (no weights), edge weights [E], or target-node weights [N].

    Building is O(E), parallel over rows; the result is deterministic.
    """
    bounds = _bounds(graph)
    live = np.empty(graph.num_nodes, dtype=np.uint8)
    if edge_weights is None and node_weights is None:
        KT.build_live(graph.indptr, bounds, live)
        return SamplingTables(UNIFORM, live)
    by_node = node_weights is not None
    edge_w = _EMPTY_F32 if by_node else np.ascontiguousarray(edge_weights)
    node_w = np.ascontiguousarray(node_weights, dtype=np.float64) if by_node else _EMPTY_F64
    if table == "alias":
        prob = np.empty(graph.num_edges, dtype=np.float32)
        alias = np.empty(graph.num_edges, dtype=np.int32)
        max_deg = int(graph.degrees().max(initial=0))
        KT.build_alias(
            graph.indptr, graph.indices, edge_w, node_w, by_node, bounds, max_deg, prob, alias, live
        )
        return SamplingTables(ALIAS, live, prob=prob, alias=alias)
    cdf = np.empty(graph.num_edges, dtype=np.float32)
    KT.build_cdf(graph.indptr, graph.indices, edge_w, node_w, by_node, bounds, cdf, live)
    return SamplingTables(CDF, live, cdf=cdf)
