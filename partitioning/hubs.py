"""High-degree node splitting (a vertex-cut of hubs) around METIS.

Before METIS, a hub ``h`` of degree ``d > threshold`` is replaced by ``ceil(d / threshold)``
*proxies*; the j-th entry of ``h``'s sorted adjacency row goes to proxy ``j mod p`` (round robin,
so proxies differ in size by at most one edge). Both directions of an edge ``{u, h}`` land on the
same proxy, so the proxy graph stays symmetric. METIS then places proxies freely; afterwards each
part that received proxies of ``h`` holds a copy of ``h`` with that part's share of its edges
(see :mod:`partitioning.api` for masters and mirrors).

Isolated nodes never reach METIS (they would only distort its balance); the caller spreads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsgraph.graph import CSRGraph


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry positions of the CSR rows ``rows`` (in that order) and the row pointer over them."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lens, out=ptr[1:])
    pos = np.arange(ptr[-1], dtype=np.int64) + np.repeat(starts - ptr[:-1], lens)
    return pos, ptr


@dataclass(frozen=True, eq=False)
class ProxyGraph:
    """The graph METIS partitions: ordinary non-isolated nodes first, then the hubs' proxies.

    ``indptr``/``indices`` are int64 and symmetric without self-loops. Vertex ``i < A`` is the
    global node ``node_ids[i]``; vertex ``A + q`` is proxy ``q``, and the proxies of hub
    ``hub_ids[i]`` are ``proxy_ptr[i] .. proxy_ptr[i+1]``. ``entry_proxy`` gives the proxy of
    every entry of the hubs' rows of the symmetric graph, rows concatenated in ``hub_ids`` order
    (``hub_row_ptr`` delimits them); ``entry_key`` is the sorted lookup key of those entries.
    """

    indptr: np.ndarray
    indices: np.ndarray
    node_ids: np.ndarray
    hub_ids: np.ndarray
    proxy_ptr: np.ndarray
    hub_row_ptr: np.ndarray
    entry_proxy: np.ndarray
    entry_key: np.ndarray
    num_nodes: int

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

    def lookup_proxy(self, hubs: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
        """Proxy of the edge ``{hub, nbr}`` for global hub ids ``hubs`` and neighbours ``nbrs``.

        Every pair must be an edge of the symmetric graph (-1 is returned where it is not).
        """
        rank = np.searchsorted(self.hub_ids, hubs)
        key = rank.astype(np.int64) * self.num_nodes + nbrs
        pos = np.searchsorted(self.entry_key, key)
        pos_c = np.minimum(pos, max(self.entry_key.size - 1, 0))
        found = (pos < self.entry_key.size) & (self.entry_key[pos_c] == key)
        return np.where(found, self.entry_proxy[pos_c], -1)


def split_hubs(sym: CSRGraph, threshold: int | None) -> ProxyGraph:
    """Build the proxy graph of the symmetric, self-loop-free, duplicate-free graph ``sym``.

    ``threshold=None`` splits nothing (METIS then sees the graph minus its isolated nodes).
    """
    n = sym.num_nodes
    deg = sym.degrees()
    is_hub = np.zeros(n, dtype=bool) if threshold is None else deg > threshold
    hub_ids = np.flatnonzero(is_hub).astype(np.int64)
    active = (deg > 0) & ~is_hub
    node_ids = np.flatnonzero(active).astype(np.int64)
    num_active = node_ids.size
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[node_ids] = np.arange(num_active)

    # Hubs' rows and the proxy of each entry (round robin over the sorted row).
    hub_deg = deg[hub_ids]
    num_proxy = -(-hub_deg // threshold) if threshold else hub_deg * 0
    proxy_ptr = np.zeros(hub_ids.size + 1, dtype=np.int64)
    np.cumsum(num_proxy, out=proxy_ptr[1:])
    hub_pos, hub_row_ptr = gather_rows(sym.indptr, hub_ids)
    within = np.arange(hub_pos.size, dtype=np.int64) - np.repeat(hub_row_ptr[:-1], hub_deg)
    entry_proxy = np.repeat(proxy_ptr[:-1], hub_deg) + within % np.repeat(
        np.maximum(num_proxy, 1), hub_deg
    )
    hub_nbrs = sym.indices[hub_pos].astype(np.int64)
    hub_of_entry = np.repeat(np.arange(hub_ids.size, dtype=np.int64), hub_deg)
    entry_key = hub_of_entry * n + hub_nbrs  # ascending: hubs ascending, rows sorted

    graph = ProxyGraph(
        indptr=np.empty(0, np.int64),
        indices=np.empty(0, np.int64),
        node_ids=node_ids,
        hub_ids=hub_ids,
        proxy_ptr=proxy_ptr,
        hub_row_ptr=hub_row_ptr,
        entry_proxy=entry_proxy,
        entry_key=entry_key,
        num_nodes=n,
    )

    # Rows of ordinary nodes come first, proxies' rows after: one int64 array filled in place
    # (no concatenation copy — this array is as large as the graph).
    proxy_deg = np.bincount(entry_proxy, minlength=int(proxy_ptr[-1]))
    indptr = np.zeros(num_active + proxy_deg.size + 1, dtype=np.int64)
    np.cumsum(np.concatenate([deg[node_ids], proxy_deg]), out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    split_at = int(indptr[num_active])

    # Ordinary rows: map neighbours, resolving hub neighbours to the proxy of that edge.
    row_mask = np.repeat(~is_hub, deg)
    nbrs = sym.indices[row_mask]
    mapped = indices[:split_at]
    np.take(new_id, nbrs, out=mapped)
    to_hub = np.flatnonzero(is_hub[nbrs])
    if to_hub.size:
        entry_pos = np.flatnonzero(row_mask)[to_hub]
        rows = np.searchsorted(sym.indptr, entry_pos, side="right") - 1
        mapped[to_hub] = num_active + graph.lookup_proxy(nbrs[to_hub], rows)
    del row_mask, nbrs

    # Rows of proxies: a hub's entries regrouped by proxy, neighbours mapped the same way.
    order = np.argsort(entry_proxy, kind="stable")
    p_nbrs = hub_nbrs[order]
    p_mapped = indices[split_at:]
    np.take(new_id, p_nbrs, out=p_mapped)
    hub_hub = np.flatnonzero(is_hub[p_nbrs])
    if hub_hub.size:
        p_mapped[hub_hub] = num_active + graph.lookup_proxy(
            p_nbrs[hub_hub], hub_ids[hub_of_entry[order][hub_hub]]
        )
    return ProxyGraph(
        indptr=indptr,
        indices=indices,
        node_ids=node_ids,
        hub_ids=hub_ids,
        proxy_ptr=proxy_ptr,
        hub_row_ptr=hub_row_ptr,
        entry_proxy=entry_proxy,
        entry_key=entry_key,
        num_nodes=n,
    )
