"""High-degree node splitting (a vertex-cut of hubs) around METIS.

Before METIS, a hub ``h`` of degree ``d > threshold`` is replaced by ``p = ceil(d / threshold)``
*proxies*. The edge ``{h, u}`` goes to proxy ``mix(h, u) mod p`` — a hash of both endpoints, so
each endpoint can compute it alone (no lookup into the other's row) and both directions of the
edge land on the same proxy: the proxy graph stays symmetric. Proxies hold ``d / p`` edges on
average. METIS then places proxies freely; afterwards each part that received proxies of ``h``
holds a copy of ``h`` with that part's share of its edges (see :mod:`partitioning.api`).

Isolated nodes never reach METIS (they would only distort its balance); the caller spreads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsgraph.graph import CSRGraph
from partitioning import _kernels as K


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry positions of the CSR rows ``rows`` (in that order) and the row pointer over them."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lens, out=ptr[1:])
    pos = np.arange(ptr[-1], dtype=np.int64) + np.repeat(starts - ptr[:-1], lens)
    return pos, ptr


def edge_hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A well-mixed uint64 hash of the ordered pair (a, b) (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ b.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True, eq=False)
class ProxyGraph:
    """The graph METIS partitions: ordinary non-isolated nodes first, then the hubs' proxies.

    ``indptr``/``indices`` are int64 and symmetric without self-loops. Vertex ``i < A`` is the
    global node ``node_ids[i]``; vertex ``A + q`` is proxy ``q``, and the proxies of hub
    ``hub_ids[i]`` are ``proxy_ptr[i] .. proxy_ptr[i+1]``. ``hub_rank`` maps a global id to its
    index in ``hub_ids`` (−1 for ordinary nodes).
    """

    indptr: np.ndarray
    indices: np.ndarray
    node_ids: np.ndarray
    hub_ids: np.ndarray
    proxy_ptr: np.ndarray
    hub_rank: np.ndarray
    weights: np.ndarray | None = None

    @property
    def num_active(self) -> int:
        return self.node_ids.size

    @property
    def num_proxies(self) -> int:
        return int(self.proxy_ptr[-1])

    @property
    def num_vertices(self) -> int:
        return self.indptr.size - 1

    def proxy_degrees(self) -> np.ndarray:
        """Number of edges of every proxy (int64 ``[P]``)."""
        return np.diff(self.indptr[self.num_active :])

    def proxy_hub(self) -> np.ndarray:
        """Index into ``hub_ids`` of every proxy (int64 ``[P]``)."""
        return np.repeat(np.arange(self.hub_ids.size), np.diff(self.proxy_ptr))

    def proxy_of(self, hubs: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
        """Proxy (0-based, among all proxies) that carries edge ``{hub, nbr}`` of each pair."""
        rank = self.hub_rank[hubs]
        base = self.proxy_ptr[rank]
        count = (self.proxy_ptr[rank + 1] - base).astype(np.uint64)
        # Multiply-shift range reduction of the hash's top 32 bits: like ``% count`` without
        # the (slow) 64-bit division.
        return base + ((edge_hash(hubs, nbrs) >> np.uint64(32)) * count >> np.uint64(32)).astype(
            np.int64
        )


def split_hubs(
    sym: CSRGraph, threshold: int | None, edge_weights: np.ndarray | None = None
) -> ProxyGraph:
    """Build the proxy graph of the symmetric, self-loop-free, duplicate-free graph ``sym``.

    ``threshold=None`` splits nothing (METIS then sees the graph minus its isolated nodes).
    ``edge_weights`` (int64, one per entry of ``sym``) are carried to the proxy graph's
    ``weights``.
    """
    n = sym.num_nodes
    deg = sym.degrees()
    is_hub = np.zeros(n, dtype=bool) if threshold is None else deg > threshold
    hub_ids = np.flatnonzero(is_hub).astype(np.int64)
    node_ids = np.flatnonzero((deg > 0) & ~is_hub).astype(np.int64)
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[node_ids] = np.arange(node_ids.size)
    hub_rank = np.full(n, -1, dtype=np.int64)
    hub_rank[hub_ids] = np.arange(hub_ids.size)
    hub_deg = deg[hub_ids]
    proxy_ptr = np.zeros(hub_ids.size + 1, dtype=np.int64)
    if threshold is not None:
        np.cumsum(-(-hub_deg // threshold), out=proxy_ptr[1:])
    proxy_deg = K.proxy_degrees(sym.indptr, sym.indices, hub_ids, hub_rank, proxy_ptr)
    indptr = np.zeros(node_ids.size + proxy_deg.size + 1, dtype=np.int64)
    np.cumsum(deg[node_ids], out=indptr[1 : node_ids.size + 1])
    np.cumsum(proxy_deg, out=indptr[node_ids.size + 1 :])
    indptr[node_ids.size + 1 :] += indptr[node_ids.size]
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    has_w = edge_weights is not None
    weights = np.empty(indices.size if has_w else 0, dtype=np.int64)
    K.fill_proxy_graph(
        sym.indptr,
        sym.indices,
        node_ids,
        new_id,
        hub_ids,
        hub_rank,
        proxy_ptr,
        indptr,
        indices,
        edge_weights if has_w else np.empty(0, np.int64),
        weights,
        has_w,
    )
    return ProxyGraph(
        indptr, indices, node_ids, hub_ids, proxy_ptr, hub_rank, weights if has_w else None
    )
