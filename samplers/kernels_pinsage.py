"""Numba kernel for PinSAGE importance neighbourhoods: visit counts of walks with restart."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from samplers._rng import below, next_word, stream_start, unit


@njit(cache=True, nogil=True)
def _count_visits(indptr, indices, root, first_stream, num_walks, walk_length, restart_prob, key):
    """Sorted visits (seed excluded) of one seed's walks; int64 [≤ num_walks · walk_length]."""
    visited = np.empty(num_walks * walk_length, dtype=np.int64)
    n_vis = 0
    if indptr[root + 1] == indptr[root]:
        return visited[:0]
    for r in range(num_walks):
        s = stream_start(key, first_stream + r)
        v = root
        for _ in range(walk_length):
            if restart_prob > 0.0:
                s, word = next_word(s)
                if unit(word) < restart_prob:
                    v = root
                    continue
            lo = indptr[v]
            deg = indptr[v + 1] - lo
            if deg == 0:
                v = root
                continue
            s, word = next_word(s)
            v = np.int64(indices[lo + below(word, deg)])
            if v != root:
                visited[n_vis] = v
                n_vis += 1
    return np.sort(visited[:n_vis])


@njit(cache=True, nogil=True)
def _top_visited(vis, top_t, nodes_row, weights_row):
    """Write the ``top_t`` most frequent values of sorted ``vis`` and their normalised counts."""
    nodes_row[:] = -1
    weights_row[:] = 0.0
    n_vis = vis.size
    if n_vis == 0:
        return
    uniq = np.empty(n_vis, dtype=np.int64)
    cnt = np.empty(n_vis, dtype=np.int64)
    n_u = 0
    for j in range(n_vis):
        if n_u > 0 and uniq[n_u - 1] == vis[j]:
            cnt[n_u - 1] += 1
        else:
            uniq[n_u] = vis[j]
            cnt[n_u] = 1
            n_u += 1
    # A stable sort by descending count keeps ascending ids among ties.
    order = np.argsort(-cnt[:n_u], kind="mergesort")
    k = min(top_t, n_u)
    total = 0.0
    for j in range(k):
        total += cnt[order[j]]
    for j in range(k):
        nodes_row[j] = uniq[order[j]]
        weights_row[j] = cnt[order[j]] / total


@njit(cache=True, nogil=True, parallel=True)
def importance_neighbors(
    indptr,
    indices,
    seeds,
    num_walks,
    walk_length,
    restart_prob,
    top_t,
    key,
    first_id,
    out_nodes,
    out_w,
):
    """For each seed, ``num_walks`` uniform walks of ``walk_length`` steps with restart.

    Before each step the walk returns to the seed with probability ``restart_prob``; a dead end
    also returns it to the seed. Visits to nodes other than the seed are counted; the ``top_t``
    most visited (ties: smaller id first) go to ``out_nodes[i]`` (−1 padded) with their counts,
    L1-normalised, in ``out_w[i]`` (0 padded). Walk r of seed i uses stream
    (first_id + i)·num_walks + r, so the result does not depend on the thread count or chunking.
    """
    for i in prange(seeds.size):
        vis = _count_visits(
            indptr,
            indices,
            seeds[i],
            (first_id + i) * num_walks,
            num_walks,
            walk_length,
            restart_prob,
            key,
        )
        _top_visited(vis, top_t, out_nodes[i], out_w[i])
