"""A mutable adjacency: a frozen CSR base plus per-row overrides for rows that events touched.

Edge insertions and deletions copy only the touched row (sorted, so membership is a binary
search); every other row stays a slice of the base arrays. ``gather`` reads many rows at once
with vectorised numpy, which is what incremental recomputation needs.
"""

from __future__ import annotations

import numpy as np


class DynamicAdjacency:
    """Rows ``v → neighbours`` (int64, ascending) with float32 weights; rows may be appended."""

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray | None,
        num_nodes: int | None = None,
    ) -> None:
        self._indptr = np.asarray(indptr, dtype=np.int64)
        self._indices = np.asarray(indices)
        self._weights = (
            np.ones(self._indices.size, dtype=np.float32)
            if weights is None
            else np.asarray(weights, dtype=np.float32)
        )
        self._base_n = self._indptr.size - 1
        self.num_nodes = self._base_n if num_nodes is None else int(num_nodes)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._overridden = np.zeros(self.num_nodes, dtype=bool)
        self._num_edges = int(self._indices.size)

    @classmethod
    def from_edges(
        cls, src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None, num_nodes: int
    ) -> DynamicAdjacency:
        """Rows keyed by ``src`` (sorted neighbour lists); duplicate edges are kept as given."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        order = np.lexsort((dst, src))
        indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=num_nodes), out=indptr[1:])
        w = None if weights is None else np.asarray(weights, dtype=np.float32)[order]
        return cls(indptr, dst[order], w, num_nodes)

    @property
    def num_edges(self) -> int:
        return self._num_edges

    def add_nodes(self, count: int) -> None:
        """Append ``count`` empty rows."""
        self.num_nodes += int(count)
        if self._overridden.size < self.num_nodes:
            grown = np.zeros(max(self.num_nodes, 2 * self._overridden.size), dtype=bool)
            grown[: self._overridden.size] = self._overridden
            self._overridden = grown

    def row(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours (ascending) and weights of row ``v``."""
        got = self._rows.get(v)
        if got is not None:
            return got
        if v >= self._base_n:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        lo, hi = self._indptr[v], self._indptr[v + 1]
        return self._indices[lo:hi].astype(np.int64, copy=False), self._weights[lo:hi]

    def degree(self, v: int) -> int:
        return int(self.row(v)[0].size)

    def has(self, u: int, v: int) -> bool:
        if not 0 <= u < self.num_nodes:
            return False
        nbrs = self.row(u)[0]
        i = int(np.searchsorted(nbrs, v))
        return i < nbrs.size and nbrs[i] == v

    def add(self, u: int, v: int, w: float = 1.0) -> None:
        """Insert ``u → v`` (the caller has checked that it is absent)."""
        nbrs, ws = self.row(u)
        i = int(np.searchsorted(nbrs, v))
        self._rows[u] = (np.insert(nbrs, i, v), np.insert(ws, i, np.float32(w)))
        self._overridden[u] = True
        self._num_edges += 1

    def remove(self, u: int, v: int) -> float:
        """Delete ``u → v`` and return its weight (the caller has checked that it exists)."""
        nbrs, ws = self.row(u)
        i = int(np.searchsorted(nbrs, v))
        w = float(ws[i])
        self._rows[u] = (np.delete(nbrs, i), np.delete(ws, i))
        self._overridden[u] = True
        self._num_edges -= 1
        return w

    def gather(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of ``nodes`` as flat arrays ``(segment, neighbour, weight)``.

        ``segment[j]`` is the position in ``nodes`` whose row holds entry ``j``.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        over = self._overridden[nodes] if self._rows else np.zeros(nodes.size, bool)
        base_mask = ~over & (nodes < self._base_n)
        pos = np.flatnonzero(base_mask)
        starts = self._indptr[nodes[pos]]
        counts = self._indptr[nodes[pos] + 1] - starts
        total = int(counts.sum())
        seg = np.repeat(pos, counts)
        offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        idx = np.repeat(starts, counts) + offs
        segs, nbrs, wts = [seg], [self._indices[idx].astype(np.int64)], [self._weights[idx]]
        for p in np.flatnonzero(over):
            r, w = self._rows[int(nodes[p])]
            segs.append(np.full(r.size, p, dtype=np.int64))
            nbrs.append(r)
            wts.append(w)
        if len(segs) == 1:
            return segs[0], nbrs[0], wts[0]
        return np.concatenate(segs), np.concatenate(nbrs), np.concatenate(wts)

    def to_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Materialise ``(indptr, indices int64, weights float32)`` of the current rows."""
        if not self._rows and self.num_nodes == self._base_n:
            return self._indptr, self._indices.astype(np.int64, copy=False), self._weights
        seg, nbrs, w = self.gather(np.arange(self.num_nodes))
        order = np.argsort(seg, kind="stable")
        indptr = np.zeros(self.num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(seg, minlength=self.num_nodes), out=indptr[1:])
        return indptr, nbrs[order], w[order]

    def row_lengths(self, nodes: np.ndarray) -> np.ndarray:
        """Number of entries in each row of ``nodes`` (int64)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        out = np.zeros(nodes.size, dtype=np.int64)
        base = nodes < self._base_n
        out[base] = self._indptr[nodes[base] + 1] - self._indptr[nodes[base]]
        for i in np.flatnonzero(self._overridden[nodes]).tolist():
            out[i] = self._rows[int(nodes[i])][0].size
        return out

    def base_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The frozen base ``(indptr, indices, weights, rows)``; see :meth:`replaced_rows`."""
        return self._indptr, self._indices, self._weights, self._base_n

    def replaced_rows(self) -> np.ndarray:
        """Rows whose base version is stale: overridden rows and rows added after the base."""
        over = np.flatnonzero(self._overridden[: min(self._base_n, self.num_nodes)])
        return np.concatenate([over, np.arange(self._base_n, self.num_nodes, dtype=np.int64)])

    def compact(self) -> None:
        """Fold the overrides into a new base (keeps gathers vectorised after many events)."""
        self._indptr, self._indices, self._weights = self.to_csr()
        self._base_n = self.num_nodes
        self._rows = {}
        self._overridden[:] = False

    @property
    def num_overrides(self) -> int:
        return len(self._rows)
