"""Numba kernels over plain CSR arrays: structure checks and the proxy graph of hub splitting.

They exist for memory as much as for speed: the numpy versions needed several temporary arrays
as large as the edge list, which at 2^20 nodes cost more peak memory than METIS itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M0 = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def edge_hash(a: np.int64, b: np.int64) -> np.uint64:
    """Same mix as :func:`partitioning.hubs.edge_hash` (splitmix64 finaliser of a·φ ⊕ b)."""
    x = np.uint64(a) * _M0 ^ np.uint64(b)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True)
def proxy_of(hub_rank: np.ndarray, proxy_ptr: np.ndarray, hub: int, nbr: int) -> int:
    """Proxy (among all proxies) carrying edge {hub, nbr}; see ``ProxyGraph.proxy_of``."""
    r = hub_rank[hub]
    base = proxy_ptr[r]
    count = np.uint64(proxy_ptr[r + 1] - base)
    return base + np.int64(((edge_hash(hub, nbr) >> np.uint64(32)) * count) >> np.uint64(32))


@njit(cache=True, nogil=True)
def check_structure(indptr: np.ndarray, indices: np.ndarray) -> tuple[bool, bool, bool]:
    """(symmetric, has self-loops, has duplicates) of a CSR graph with sorted rows. Exact.

    Rows are visited in ascending order, so the reverse entries ``v → u`` (u < v) of the forward
    edges ``u → v`` are met in ascending order within row ``v``: one cursor per row matches
    them in O(E), and at the end each cursor must have consumed exactly its row's entries
    below the diagonal. Duplicates are matched as a multiset.
    """
    n = indptr.size - 1
    cursor = indptr[:-1].copy()
    symmetric = True
    loops = False
    dups = False
    for u in range(n):
        lo, hi = indptr[u], indptr[u + 1]
        for j in range(lo, hi):
            v = indices[j]
            if v == u:
                loops = True
            if j > lo and indices[j - 1] == v:
                dups = True
            if v > u and symmetric:
                c = cursor[v]
                if c < indptr[v + 1] and indices[c] == u:
                    cursor[v] = c + 1
                else:
                    symmetric = False
    if symmetric:
        for v in range(n):
            c = cursor[v]
            if c < indptr[v + 1] and indices[c] < v:
                symmetric = False
                break
    return symmetric, loops, dups


@njit(cache=True, nogil=True)
def proxy_degrees(
    indptr: np.ndarray,
    indices: np.ndarray,
    hub_ids: np.ndarray,
    hub_rank: np.ndarray,
    proxy_ptr: np.ndarray,
) -> np.ndarray:
    """Number of edges of every proxy."""
    out = np.zeros(proxy_ptr[-1], dtype=np.int64)
    for h in hub_ids:
        for j in range(indptr[h], indptr[h + 1]):
            out[proxy_of(hub_rank, proxy_ptr, h, np.int64(indices[j]))] += 1
    return out


@njit(cache=True, nogil=True)
def fill_proxy_graph(
    indptr: np.ndarray,
    indices: np.ndarray,
    node_ids: np.ndarray,
    new_id: np.ndarray,
    hub_ids: np.ndarray,
    hub_rank: np.ndarray,
    proxy_ptr: np.ndarray,
    out_indptr: np.ndarray,
    out_indices: np.ndarray,
    weights: np.ndarray,
    out_weights: np.ndarray,
    has_w: bool,
) -> None:
    """Write the proxy graph (ordinary rows, then proxy rows) into ``out_indices``.

    With ``has_w`` each entry's weight is copied from ``weights`` to ``out_weights``.
    """
    num_active = node_ids.size
    pos = 0
    for i in range(num_active):
        u = node_ids[i]
        for j in range(indptr[u], indptr[u + 1]):
            v = np.int64(indices[j])
            if hub_rank[v] >= 0:
                out_indices[pos] = num_active + proxy_of(hub_rank, proxy_ptr, v, u)
            else:
                out_indices[pos] = new_id[v]
            if has_w:
                out_weights[pos] = weights[j]
            pos += 1
    cursor = out_indptr[num_active:-1].copy()
    for h in hub_ids:
        for j in range(indptr[h], indptr[h + 1]):
            u = np.int64(indices[j])
            q = proxy_of(hub_rank, proxy_ptr, h, u)
            if hub_rank[u] >= 0:
                out_indices[cursor[q]] = num_active + proxy_of(hub_rank, proxy_ptr, u, h)
            else:
                out_indices[cursor[q]] = new_id[u]
            if has_w:
                out_weights[cursor[q]] = weights[j]
            cursor[q] += 1


@njit(cache=True, nogil=True)
def hub_edge_parts(
    indptr: np.ndarray,
    indices: np.ndarray,
    hub_ids: np.ndarray,
    hub_rank: np.ndarray,
    proxy_ptr: np.ndarray,
    proxy_part: np.ndarray,
    owner: np.ndarray,
    num_parts: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Owning part of every hub out-edge (rows concatenated in ``hub_ids`` order) and counts.

    An edge first goes to the part of its proxy; it then moves to ``owner[u]`` when the hub
    holds a share there already. Self-loops get −1 (the caller gives them to the master).
    Returns (parts int32 ``[Σ deg]``, counts int64 ``[H, k]`` after the moves, loops excluded).
    """
    num_hubs = hub_ids.size
    total = 0
    for h in hub_ids:
        total += indptr[h + 1] - indptr[h]
    parts = np.empty(total, dtype=np.int32)
    first = np.zeros((num_hubs, num_parts), dtype=np.int64)
    pos = 0
    for r in range(num_hubs):
        h = hub_ids[r]
        for j in range(indptr[h], indptr[h + 1]):
            u = np.int64(indices[j])
            if u == h:
                parts[pos] = -1
            else:
                p = proxy_part[proxy_of(hub_rank, proxy_ptr, h, u)]
                parts[pos] = p
                first[r, p] += 1
            pos += 1
    counts = np.zeros((num_hubs, num_parts), dtype=np.int64)
    pos = 0
    for r in range(num_hubs):
        h = hub_ids[r]
        for j in range(indptr[h], indptr[h + 1]):
            p = parts[pos]
            if p >= 0:
                t = owner[indices[j]]
                if t >= 0 and first[r, t] > 0:
                    p = t
                    parts[pos] = t
                counts[r, p] += 1
            pos += 1
    return parts, counts


@njit(cache=True, nogil=True)
def share_weights(
    indptr: np.ndarray,
    hub_ids: np.ndarray,
    parts: np.ndarray,
    weights: np.ndarray,
    num_parts: int,
) -> np.ndarray:
    """Sum of edge weights per (hub, part) share (float64 ``[H, k]``)."""
    out = np.zeros((hub_ids.size, num_parts), dtype=np.float64)
    pos = 0
    for r in range(hub_ids.size):
        h = hub_ids[r]
        for j in range(indptr[h], indptr[h + 1]):
            out[r, parts[pos]] += weights[j]
            pos += 1
    return out
