"""Per-node sampling tables over CSR rows: alias tables (O(1) draws) and CDFs (binary search).

Both are built from one non-negative weight per edge, given either per edge (edge weights) or per
target node (``node_w[indices[e]]``, for degree-weighted walks). Tables are flat arrays aligned
with ``indices``; ``live[u]`` is 0 when row u has no edge of positive weight (a dead end).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _edge_weight(e, indices, edge_w, node_w, by_node):
    if by_node:
        return np.float64(node_w[indices[e]])
    return np.float64(edge_w[e])


@njit(cache=True, nogil=True, parallel=True)
def build_alias(indptr, indices, edge_w, node_w, by_node, bounds, max_deg, prob, alias, live):
    """Fill Vose alias tables: ``prob`` float32 [E], ``alias`` int32 [E] (offset within the row).

    Drawing slot i uniformly, then keeping i with probability ``prob[lo + i]`` or else taking
    ``alias[lo + i]``, picks offset j with probability w_j / sum(w). ``bounds`` splits the nodes
    into chunks of similar edge counts (one scratch buffer per chunk).
    """
    for c in prange(bounds.size - 1):
        scaled = np.empty(max_deg, dtype=np.float64)
        stack = np.empty(max_deg, dtype=np.int64)
        for u in range(bounds[c], bounds[c + 1]):
            lo = indptr[u]
            n = indptr[u + 1] - lo
            total = 0.0
            for i in range(n):
                total += _edge_weight(lo + i, indices, edge_w, node_w, by_node)
            if n == 0 or not total > 0.0:
                live[u] = 0
                for i in range(n):
                    prob[lo + i] = 0.0
                    alias[lo + i] = 0
                continue
            live[u] = 1
            # Small slots grow from the front of `stack`, large ones from the back.
            n_small = 0
            n_large = 0
            for i in range(n):
                s = _edge_weight(lo + i, indices, edge_w, node_w, by_node) * n / total
                scaled[i] = s
                if s < 1.0:
                    stack[n_small] = i
                    n_small += 1
                else:
                    stack[n - 1 - n_large] = i
                    n_large += 1
            while n_small > 0 and n_large > 0:
                n_small -= 1
                s = stack[n_small]
                lg = stack[n - n_large]
                n_large -= 1
                prob[lo + s] = scaled[s]
                alias[lo + s] = lg
                scaled[lg] = scaled[lg] + scaled[s] - 1.0
                if scaled[lg] < 1.0:
                    stack[n_small] = lg
                    n_small += 1
                else:
                    n_large += 1
                    stack[n - n_large] = lg
            # Leftovers are exactly 1 up to rounding.
            for j in range(n_small):
                i = stack[j]
                prob[lo + i] = 1.0
                alias[lo + i] = i
            for j in range(n_large):
                i = stack[n - 1 - j]
                prob[lo + i] = 1.0
                alias[lo + i] = i


@njit(cache=True, nogil=True, parallel=True)
def build_cdf(indptr, indices, edge_w, node_w, by_node, bounds, cdf, live):
    """Fill per-row cumulative weights ``cdf`` float32 [E] (summed in float64, then rounded)."""
    for c in prange(bounds.size - 1):
        for u in range(bounds[c], bounds[c + 1]):
            lo = indptr[u]
            hi = indptr[u + 1]
            total = 0.0
            for e in range(lo, hi):
                total += _edge_weight(e, indices, edge_w, node_w, by_node)
                cdf[e] = total
            live[u] = 1 if total > 0.0 else 0


@njit(cache=True, nogil=True, parallel=True)
def build_live(indptr, bounds, live):
    """``live[u] = 1`` when row u has at least one edge (the uniform walks' dead-end test)."""
    for c in prange(bounds.size - 1):
        for u in range(bounds[c], bounds[c + 1]):
            live[u] = 1 if indptr[u + 1] > indptr[u] else 0
