"""Numba kernels behind CSRGraph construction: counting sort, row sorting, de-duplication.

Kernels take and return plain numpy arrays; they never see torch, files or configs.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def count_degrees(src: np.ndarray, counts: np.ndarray) -> None:
    """Add the number of occurrences of each id in ``src`` to ``counts`` (in place)."""
    for i in range(src.shape[0]):
        counts[src[i]] += 1


@nb.njit(cache=True, nogil=True)
def scatter_edges(
    src: np.ndarray,
    dst: np.ndarray,
    cursor: np.ndarray,
    indices: np.ndarray,
) -> None:
    """Stable counting-sort fill: put ``dst[i]`` at the next free slot of row ``src[i]``."""
    for i in range(src.shape[0]):
        pos = cursor[src[i]]
        indices[pos] = dst[i]
        cursor[src[i]] = pos + 1


@nb.njit(cache=True, nogil=True)
def scatter_edges_weighted(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    cursor: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Like :func:`scatter_edges`, carrying one weight per edge."""
    for i in range(src.shape[0]):
        pos = cursor[src[i]]
        indices[pos] = dst[i]
        weights[pos] = weight[i]
        cursor[src[i]] = pos + 1


@nb.njit(cache=True, nogil=True, parallel=True)
def sort_rows(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, has_w: bool) -> None:
    """Sort every row's neighbours ascending (stable, weights follow), in place."""
    n = indptr.shape[0] - 1
    for v in nb.prange(n):
        lo = indptr[v]
        hi = indptr[v + 1]
        sorted_already = True
        for j in range(lo + 1, hi):
            if indices[j] < indices[j - 1]:
                sorted_already = False
                break
        if sorted_already:
            continue
        if hi - lo <= 32:
            # Insertion sort: stable and cheap for the short rows that dominate power-law graphs.
            for j in range(lo + 1, hi):
                key = indices[j]
                kw = weights[j] if has_w else 0.0
                k = j - 1
                while k >= lo and indices[k] > key:
                    indices[k + 1] = indices[k]
                    if has_w:
                        weights[k + 1] = weights[k]
                    k -= 1
                indices[k + 1] = key
                if has_w:
                    weights[k + 1] = kw
        elif not has_w:
            # Equal ids are interchangeable without weights, so an unstable in-place sort is
            # enough (and about twice as fast as argsort + gather on hub rows).
            indices[lo:hi].sort()
        else:
            order = np.argsort(indices[lo:hi], kind="mergesort")
            row = indices[lo:hi].copy()
            for j in range(hi - lo):
                indices[lo + j] = row[order[j]]
            if has_w:
                roww = weights[lo:hi].copy()
                for j in range(hi - lo):
                    weights[lo + j] = roww[order[j]]


COMBINE_FIRST, COMBINE_SUM, COMBINE_MAX = 0, 1, 2


@nb.njit(cache=True, nogil=True)
def compact_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    has_w: bool,
    drop_self_loops: bool,
    dedupe: bool,
    combine: int,
) -> np.ndarray:
    """Drop self-loops and/or repeated neighbours of sorted rows in place; return the new indptr.

    A repeated edge keeps the first occurrence's weight (``COMBINE_FIRST``), their sum
    (``COMBINE_SUM``) or their maximum (``COMBINE_MAX``).
    """
    n = indptr.shape[0] - 1
    new_indptr = np.empty(n + 1, dtype=np.int64)
    new_indptr[0] = 0
    out = 0
    for v in range(n):
        lo = indptr[v]
        hi = indptr[v + 1]
        row_start = out
        for j in range(lo, hi):
            u = indices[j]
            if drop_self_loops and u == v:
                continue
            if dedupe and out > row_start and indices[out - 1] == u:
                if has_w:
                    if combine == COMBINE_SUM:
                        weights[out - 1] += weights[j]
                    elif combine == COMBINE_MAX and weights[j] > weights[out - 1]:
                        weights[out - 1] = weights[j]
                continue
            indices[out] = u
            if has_w:
                weights[out] = weights[j]
            out += 1
        new_indptr[v + 1] = out
    return new_indptr


@nb.njit(cache=True, nogil=True)
def expand_rows(indptr: np.ndarray) -> np.ndarray:
    """Row id of every CSR slot (the ``src`` column of the edge list)."""
    n = indptr.shape[0] - 1
    out = np.empty(indptr[n], dtype=np.int64)
    for v in range(n):
        for j in range(indptr[v], indptr[v + 1]):
            out[j] = v
    return out


@nb.njit(cache=True, nogil=True)
def is_sorted_rows(indptr: np.ndarray, indices: np.ndarray) -> bool:
    """True when every row's neighbours are in ascending order."""
    n = indptr.shape[0] - 1
    for v in range(n):
        for j in range(indptr[v] + 1, indptr[v + 1]):
            if indices[j] < indices[j - 1]:
                return False
    return True


@nb.njit(cache=True, nogil=True)
def induced_subgraph(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    has_w: bool,
    nodes: np.ndarray,
    new_id: np.ndarray,
) -> tuple:
    """Edges among ``nodes`` relabelled by ``new_id`` (−1 marks nodes outside the set)."""
    k = nodes.shape[0]
    sub_indptr = np.zeros(k + 1, dtype=np.int64)
    for i in range(k):
        v = nodes[i]
        c = 0
        for j in range(indptr[v], indptr[v + 1]):
            if new_id[indices[j]] >= 0:
                c += 1
        sub_indptr[i + 1] = sub_indptr[i] + c
    sub_indices = np.empty(sub_indptr[k], dtype=np.int64)
    sub_weights = np.empty(sub_indptr[k] if has_w else 0, dtype=np.float32)
    for i in range(k):
        v = nodes[i]
        pos = sub_indptr[i]
        for j in range(indptr[v], indptr[v + 1]):
            u = new_id[indices[j]]
            if u >= 0:
                sub_indices[pos] = u
                if has_w:
                    sub_weights[pos] = weights[j]
                pos += 1
    return sub_indptr, sub_indices, sub_weights
