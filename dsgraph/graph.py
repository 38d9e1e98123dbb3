"""CSRGraph: the one graph structure that storage, partitioning and samplers share.

A directed graph in compressed sparse row form. ``indptr`` is int64 of length N + 1; ``indices``
is int32 when N < 2**31 (int64 otherwise) and every row is sorted ascending, so membership tests
(node2vec's "is x a neighbour of the previous node") are a binary search. Optional ``weights`` are
float32, one per edge, in the same order as ``indices``. Undirected graphs are stored symmetrised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dsgraph import _csr_kernels as K
from dsgraph.errors import GraphFormatError

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import Data

INT32_LIMIT = 2**31 - 1


def index_dtype(num_nodes: int) -> np.dtype:
    """Smallest safe dtype for neighbour ids of a graph with ``num_nodes`` nodes."""
    return np.dtype(np.int32) if num_nodes <= INT32_LIMIT else np.dtype(np.int64)


def check_node_ids(ids: np.ndarray, num_nodes: int | None, column: str) -> None:
    """Raise :class:`GraphFormatError` naming ``column`` and the first bad row of ``ids``.

    Ids must be integers in [0, num_nodes); ``num_nodes=None`` checks only dtype and sign.
    """
    if ids.ndim != 1:
        raise GraphFormatError(f"column '{column}' must be one-dimensional, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise GraphFormatError(
            f"column '{column}' must hold integer node ids, got dtype {ids.dtype}"
        )
    if ids.size == 0:
        return
    # Fast path: min/max need no temporary arrays; the row is located only on failure.
    if ids.min() >= 0 and (num_nodes is None or ids.max() < num_nodes):
        return
    bad = ids < 0
    if num_nodes is not None:
        bad |= ids >= num_nodes
    if bad.any():
        row = int(np.argmax(bad))
        limit = f"[0, {num_nodes})" if num_nodes is not None else "≥ 0"
        raise GraphFormatError(
            f"column '{column}' row {row}: node id {int(ids[row])} is out of range {limit}"
        )


def _check_weights(weight: np.ndarray, num_edges: int) -> np.ndarray:
    weight = np.asarray(weight)
    if weight.shape != (num_edges,):
        raise GraphFormatError(
            f"column 'weight' must have one value per edge ({num_edges}), got shape {weight.shape}"
        )
    if not np.issubdtype(weight.dtype, np.number):
        raise GraphFormatError(f"column 'weight' must be numeric, got dtype {weight.dtype}")
    weight = weight.astype(np.float32, copy=False)
    bad = ~np.isfinite(weight) | (weight < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise GraphFormatError(
            f"column 'weight' row {row}: weight {float(weight[row])} must be finite and ≥ 0"
        )
    return weight


@dataclass(frozen=True, eq=False)
class CSRGraph:
    """A directed graph in CSR form with sorted rows; see the module docstring for dtypes."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or self.indptr.size == 0:
            raise GraphFormatError("indptr must be a non-empty 1-D array of length N + 1")
        if self.indptr[0] != 0 or self.indptr[-1] != self.indices.size:
            raise GraphFormatError(
                f"indptr must start at 0 and end at the number of edges ({self.indices.size})"
            )
        if self.weights is not None and self.weights.shape != self.indices.shape:
            raise GraphFormatError("weights must have one value per edge")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edges(
        cls,
        src: Any,
        dst: Any,
        num_nodes: int | None = None,
        weight: Any = None,
        *,
        symmetrize: bool = False,
        drop_self_loops: bool = False,
        dedupe: bool = False,
        sum_duplicates: bool = False,
    ) -> CSRGraph:
        """Build from edge arrays in O(E) (counting sort), validating every id.

        ``dedupe`` keeps one copy of repeated edges, with the first one's weight (the sum with
        ``sum_duplicates``). ``symmetrize`` adds the reverse of every edge and de-duplicates;
        repeated undirected edges then keep their largest weight (or the sum), so that
        w(u, v) == w(v, u) whatever the input order. ``num_nodes`` defaults to max id + 1.
        """
        src = np.asarray(src)
        dst = np.asarray(dst)
        check_node_ids(src, num_nodes, "src")
        check_node_ids(dst, num_nodes, "dst")
        if src.shape != dst.shape:
            raise GraphFormatError(
                f"columns 'src' and 'dst' differ in length ({src.size} vs {dst.size})"
            )
        if num_nodes is None:
            num_nodes = int(max(src.max(initial=-1), dst.max(initial=-1))) + 1
        w = None if weight is None else _check_weights(weight, src.size)
        # Symmetrising fills each edge a second time reversed, instead of concatenating the
        # reversed arrays: no copy of the edge list is ever made.
        builder = CSRBuilder(num_nodes, weighted=w is not None)
        builder.count(src)
        if symmetrize:
            builder.count(dst)
        builder.fill(src, dst, w)
        if symmetrize:
            builder.fill(dst, src, w)
        if sum_duplicates:
            combine = "sum"
        else:
            combine = "max" if symmetrize else "first"
        return builder.finish(
            drop_self_loops=drop_self_loops, dedupe=dedupe or symmetrize, combine=combine
        )

    @classmethod
    def from_pyg(cls, data: Data, *, symmetrize: bool = False) -> CSRGraph:
        """Build from a PyG ``Data``'s ``edge_index`` (and ``edge_weight`` when present)."""
        ei = data.edge_index.detach().cpu().numpy()
        w = getattr(data, "edge_weight", None)
        w = None if w is None else w.detach().cpu().numpy()
        return cls.from_edges(ei[0], ei[1], int(data.num_nodes), w, symmetrize=symmetrize)

    # ------------------------------------------------------------------ basic properties
    @property
    def num_nodes(self) -> int:
        return self.indptr.size - 1

    @property
    def num_edges(self) -> int:
        return self.indices.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the CSR arrays."""
        w = 0 if self.weights is None else self.weights.nbytes
        return self.indptr.nbytes + self.indices.nbytes + w

    def degrees(self) -> np.ndarray:
        """Out-degree of every node (int64)."""
        return np.diff(self.indptr)

    def in_degrees(self) -> np.ndarray:
        """In-degree of every node (int64)."""
        return np.bincount(self.indices, minlength=self.num_nodes).astype(np.int64)

    def neighbors(self, v: int) -> np.ndarray:
        """Out-neighbours of ``v``, ascending (a view)."""
        return self.indices[self.indptr[v] : self.indptr[v + 1]]

    def edge_weights(self, v: int) -> np.ndarray:
        """Weights of ``v``'s out-edges (ones when the graph is unweighted)."""
        lo, hi = self.indptr[v], self.indptr[v + 1]
        if self.weights is None:
            return np.ones(hi - lo, dtype=np.float32)
        return self.weights[lo:hi]

    def has_edge(self, u: int, v: int) -> bool:
        row = self.neighbors(u)
        i = np.searchsorted(row, v)
        return bool(i < row.size and row[i] == v)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """The edge list (src, dst) in CSR order."""
        return K.expand_rows(self.indptr), self.indices.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ derived graphs
    def reverse(self) -> CSRGraph:
        """The transposed graph (every edge u→v becomes v→u), weights carried along."""
        src, dst = self.edges()
        return CSRGraph.from_edges(dst, src, self.num_nodes, self.weights)

    def is_symmetric(self) -> bool:
        """True when for every edge u→v the edge v→u exists too (weights not compared)."""
        rev = self.reverse()
        return bool(
            np.array_equal(rev.indptr, self.indptr) and np.array_equal(rev.indices, self.indices)
        )

    def symmetrized(self) -> CSRGraph:
        """This graph plus the reverse of every edge, de-duplicated (largest weight kept)."""
        if self.is_symmetric():
            return self
        src, dst = self.edges()
        return CSRGraph.from_edges(src, dst, self.num_nodes, self.weights, symmetrize=True)

    def subgraph(self, nodes: Iterable[int] | np.ndarray) -> CSRGraph:
        """Induced subgraph on ``nodes``; node i of the result is ``nodes[i]``."""
        nodes = np.asarray(nodes)
        check_node_ids(nodes, self.num_nodes, "nodes")
        nodes = nodes.astype(np.int64, copy=False)
        new_id = np.full(self.num_nodes, -1, dtype=np.int64)
        new_id[nodes] = np.arange(nodes.size)
        if np.unique(nodes).size != nodes.size:
            raise GraphFormatError("subgraph nodes must be unique")
        has_w = self.weights is not None
        w_in = self.weights if has_w else np.empty(0, dtype=np.float32)
        indptr, indices, weights = K.induced_subgraph(
            self.indptr, self.indices, w_in, has_w, nodes, new_id
        )
        indices = indices.astype(index_dtype(nodes.size))
        K.sort_rows(indptr, indices, weights if has_w else np.empty(0, np.float32), has_w)
        return CSRGraph(indptr, indices, weights if has_w else None)

    # ------------------------------------------------------------------ torch / PyG
    def edge_index(self) -> torch.Tensor:
        """A [2, E] int64 tensor in CSR order."""
        import torch

        src, dst = self.edges()
        return torch.from_numpy(np.stack([src, dst]))

    def adj_t(self) -> torch.Tensor:
        """Transposed adjacency as ``torch.sparse_csr`` for PyG layers (row = target node).

        Message passing aggregates over in-neighbours, so row v of ``adj_t`` lists the sources
        of edges into v: that is the CSR of the reversed graph.
        """
        import torch

        rev = self.reverse()
        values = (
            torch.ones(rev.num_edges)
            if rev.weights is None
            else torch.from_numpy(rev.weights.copy())
        )
        return torch.sparse_csr_tensor(
            torch.from_numpy(rev.indptr),
            torch.from_numpy(rev.indices.astype(np.int64)),
            values,
            size=(self.num_nodes, self.num_nodes),
        )

    def to_pyg(self) -> Data:
        """A PyG ``Data`` with ``edge_index`` (and ``edge_weight``) and ``num_nodes``."""
        import torch
        from torch_geometric.data import Data

        data = Data(edge_index=self.edge_index(), num_nodes=self.num_nodes)
        if self.weights is not None:
            data.edge_weight = torch.from_numpy(self.weights.copy())
        return data

    def __repr__(self) -> str:
        w = ", weighted" if self.weights is not None else ""
        return f"CSRGraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}{w})"


class CSRBuilder:
    """Two-pass CSR construction from chunks of edges, for files larger than memory allows twice.

    Pass 1 calls :meth:`count` on every chunk's ``src``; pass 2 calls :meth:`fill` on the same
    chunks in the same order. Peak memory is the final CSR plus one chunk.
    """

    def __init__(self, num_nodes: int, weighted: bool = False) -> None:
        if num_nodes < 0:
            raise GraphFormatError(f"num_nodes must be ≥ 0, got {num_nodes}")
        self.num_nodes = num_nodes
        self.weighted = weighted
        self._counts = np.zeros(num_nodes, dtype=np.int64)
        self._cursor: np.ndarray | None = None
        self._indptr: np.ndarray | None = None
        self._indices: np.ndarray | None = None
        self._weights: np.ndarray | None = None

    def count(self, src: np.ndarray) -> None:
        """Pass 1: count out-degrees of one chunk (ids already validated)."""
        if self._cursor is not None:
            raise RuntimeError("count() called after fill() started")
        K.count_degrees(np.ascontiguousarray(src), self._counts)

    def _allocate(self) -> None:
        self._indptr = np.zeros(self.num_nodes + 1, dtype=np.int64)
        np.cumsum(self._counts, out=self._indptr[1:])
        num_edges = int(self._indptr[-1])
        self._indices = np.empty(num_edges, dtype=index_dtype(self.num_nodes))
        self._weights = np.empty(num_edges, dtype=np.float32) if self.weighted else None
        self._cursor = self._indptr[:-1].copy()
        self._counts = np.empty(0, dtype=np.int64)

    def fill(self, src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Pass 2: place one chunk's edges (chunks in the same order as in pass 1)."""
        if self._cursor is None:
            self._allocate()
        src = np.ascontiguousarray(src)
        dst = np.ascontiguousarray(dst)
        if self.weighted:
            if weight is None:
                raise GraphFormatError("a weighted builder needs a weight for every edge")
            K.scatter_edges_weighted(
                src,
                dst,
                np.ascontiguousarray(weight, dtype=np.float32),
                self._cursor,
                self._indices,
                self._weights,
            )
        else:
            K.scatter_edges(src, dst, self._cursor, self._indices)

    def finish(
        self,
        *,
        drop_self_loops: bool = False,
        dedupe: bool = False,
        sum_duplicates: bool = False,
        combine: str = "first",
    ) -> CSRGraph:
        """Sort rows, optionally drop self-loops and duplicates, and return the graph.

        Repeated edges' weights combine by ``combine``: "first" (in fill order), "sum" or
        "max"; ``sum_duplicates=True`` is the same as ``combine="sum"``.
        """
        modes = {"first": K.COMBINE_FIRST, "sum": K.COMBINE_SUM, "max": K.COMBINE_MAX}
        if combine not in modes:
            raise GraphFormatError(f"combine must be one of {sorted(modes)}, got {combine!r}")
        mode = K.COMBINE_SUM if sum_duplicates else modes[combine]
        if self._cursor is None:
            self._allocate()
        if not np.array_equal(self._cursor, self._indptr[1:]):
            raise GraphFormatError("fill() saw fewer edges than count() — chunks differ")
        indptr, indices, weights = self._indptr, self._indices, self._weights
        has_w = weights is not None
        w_arg = weights if has_w else np.empty(0, dtype=np.float32)
        K.sort_rows(indptr, indices, w_arg, has_w)
        if drop_self_loops or dedupe:
            indptr = K.compact_rows(indptr, indices, w_arg, has_w, drop_self_loops, dedupe, mode)
            e = int(indptr[-1])
            if e < indices.size:
                self._indices = self._weights = None  # drop the builder's references
                indices = _shrink(indices, e)
                weights = _shrink(weights, e) if has_w else None
        self._cursor = self._indptr = self._indices = self._weights = None
        return CSRGraph(indptr, indices, weights)


def _shrink(arr: np.ndarray, size: int) -> np.ndarray:
    """First ``size`` entries of ``arr``, shrunk in place (realloc) when ``arr`` owns its data.

    De-duplication of a symmetrised graph can drop up to half the slots; shrinking in place
    avoids holding the old and the new array at once.
    """
    try:
        arr.resize(size, refcheck=False)
        return arr
    except ValueError:  # a view or a shared buffer: fall back to a copy
        return arr[:size].copy()
