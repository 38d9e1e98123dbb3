"""Numba random-walk kernels: first-order (uniform, alias, CDF), node2vec, restarts, dead ends.

Design (why it is fast and reproducible):

* Walk w draws only from its own stream, started from (run key, w) — see :mod:`samplers._rng` —
  so the output is identical for any thread count and any interleaving.
* Each thread keeps ``in_flight`` walks going at once and advances them one step in turn. Their
  memory reads are independent, so the CPU overlaps the cache misses that bound a
  one-walk-at-a-time sampler (``in_flight=1``) at memory latency.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from samplers._rng import below, low_unit, next_word, stream_start, unit

UNIFORM = 0
ALIAS = 1
CDF = 2

# Walks handed to one parallel task; big enough to amortise scratch allocation.
WALKS_PER_TASK = 4096


@njit(cache=True, nogil=True, inline="always")
def pick_edge(v, word, indptr, prob, alias, cdf, kind):
    """Edge position of the next step from live node ``v`` using one random word."""
    lo = indptr[v]
    deg = indptr[v + 1] - lo
    i = below(word, deg)
    if kind == ALIAS:
        if low_unit(word) >= prob[lo + i]:
            i = alias[lo + i]
        return lo + i
    if kind == CDF:
        hi = lo + deg
        target = unit(word) * cdf[hi - 1]
        a = lo
        b = hi - 1
        while a < b:  # first e with cdf[e] > target
            mid = (a + b) >> 1
            if cdf[mid] > target:
                b = mid
            else:
                a = mid + 1
        # Rounding can leave `a` on a trailing zero-weight edge: step back to a weighted one.
        while a > lo and cdf[a] == cdf[a - 1]:
            a -= 1
        return a
    return lo + i


@njit(cache=True, nogil=True, inline="always")
def has_neighbor(indptr, indices, t, x):
    """Is ``x`` an out-neighbour of ``t``? Binary search in the sorted row."""
    a = indptr[t]
    b = indptr[t + 1]
    while a < b:
        mid = (a + b) >> 1
        y = indices[mid]
        if y < x:
            a = mid + 1
        elif y > x:
            b = mid
        else:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def node2vec_edge(v, t, state, indptr, indices, prob, alias, cdf, kind, inv_p, inv_q):
    """Second-order step from ``v`` having come from ``t``, by rejection sampling.

    A candidate x drawn from the first-order distribution is kept with probability
    a(t, x) / max(a), with a = 1/p if x == t, 1 if x is a neighbour of t, 1/q otherwise, which
    yields P(x) ∝ w(v, x) · a(t, x) in O(max(a) / min(a)) expected draws.
    """
    a_max = max(inv_p, 1.0, inv_q)
    a_min = min(inv_p, 1.0, inv_q)
    while True:
        state, word = next_word(state)
        e = pick_edge(v, word, indptr, prob, alias, cdf, kind)
        x = indices[e]
        state, word = next_word(state)
        r = unit(word) * a_max
        if r < a_min:  # accepted whatever x is: skip the membership test
            return e, state
        if x == t:
            a = inv_p
        elif has_neighbor(indptr, indices, t, x):
            a = 1.0
        else:
            a = inv_q
        if r < a:
            return e, state


@njit(cache=True, nogil=True, parallel=True)
def random_walks(
    indptr,
    indices,
    live,
    prob,
    alias,
    cdf,
    kind,
    starts,
    walk_length,
    key,
    inv_p,
    inv_q,
    restart_prob,
    restart_on_dead_end,
    in_flight,
    first_id,
    out,
):
    """Fill ``out`` [n, walk_length + 1] int64 with walks from ``starts`` (−1 after a stop).

    Walk w draws from stream ``first_id + w``, so a long run split into chunks (each passing the
    number of walks before it) reproduces the single-call output.

    Per step: with probability ``restart_prob`` jump back to the root; else at a dead end
    (``live[v] == 0``) restart at the root if ``restart_on_dead_end`` and the root is live, or
    stop; else move along an edge (second-order when inv_p or inv_q differ from 1 and the walk
    has a previous node; a restart forgets the previous node).

    A step runs in three passes over the group of walks in flight: (A) read each current
    node's row bounds, (B) draw the edge, (C) read its target. Each pass issues independent
    loads with little work between them, so many cache misses are outstanding at once
    (alias tables add pass B2 between B and C).
    """
    n = starts.size
    second_order = inv_p != 1.0 or inv_q != 1.0
    n_tasks = (n + WALKS_PER_TASK - 1) // WALKS_PER_TASK
    for task in prange(n_tasks):
        cur = np.empty(in_flight, dtype=np.int64)
        prev = np.empty(in_flight, dtype=np.int64)
        state = np.empty(in_flight, dtype=np.uint64)
        row_lo = np.empty(in_flight, dtype=np.int64)
        row_deg = np.empty(in_flight, dtype=np.int64)
        edge = np.empty(in_flight, dtype=np.int64)
        coin = np.empty(in_flight, dtype=np.float64)
        t_hi = min(n, (task + 1) * WALKS_PER_TASK)
        for g_lo in range(task * WALKS_PER_TASK, t_hi, in_flight):
            m = min(in_flight, t_hi - g_lo)
            for k in range(m):
                w = g_lo + k
                cur[k] = starts[w]
                prev[k] = -1
                state[k] = stream_start(key, first_id + w)
                out[w, 0] = starts[w]
            for step in range(1, walk_length + 1):
                # (A) row bounds; a row with no positive-weight edge counts as degree 0.
                for k in range(m):
                    v = cur[k]
                    if v < 0:
                        row_deg[k] = 0
                        continue
                    lo = indptr[v]
                    row_lo[k] = lo
                    if kind == UNIFORM or live[v] != 0:
                        row_deg[k] = indptr[v + 1] - lo
                    else:
                        row_deg[k] = 0
                # (B) restart, dead end or draw an edge; edge[k] < 0 means "no edge taken".
                for k in range(m):
                    w = g_lo + k
                    v = cur[k]
                    edge[k] = -1
                    if v < 0:
                        continue
                    s = state[k]
                    root = starts[w]
                    if restart_prob > 0.0:
                        s, word = next_word(s)
                        if unit(word) < restart_prob:
                            state[k] = s
                            prev[k] = -1
                            cur[k] = root
                            continue
                    if row_deg[k] == 0:
                        prev[k] = -1
                        state[k] = s
                        cur[k] = root if (restart_on_dead_end and live[root] != 0) else -1
                        continue
                    t = prev[k]
                    if second_order and t >= 0:
                        e, s = node2vec_edge(
                            v, t, s, indptr, indices, prob, alias, cdf, kind, inv_p, inv_q
                        )
                    elif kind == UNIFORM or kind == ALIAS:
                        # Alias slots are resolved in pass (B2), after all slots are known.
                        s, word = next_word(s)
                        e = row_lo[k] + below(word, row_deg[k])
                        coin[k] = low_unit(word)
                    else:
                        s, word = next_word(s)
                        e = pick_edge(v, word, indptr, prob, alias, cdf, kind)
                    state[k] = s
                    edge[k] = e
                # (B2) alias tables: keep the slot or take its alias (first-order draws only).
                if kind == ALIAS:
                    for k in range(m):
                        e = edge[k]
                        if e >= 0 and not (second_order and prev[k] >= 0):
                            if coin[k] >= prob[e]:
                                edge[k] = row_lo[k] + alias[e]
                # (C) move along the drawn edges.
                for k in range(m):
                    w = g_lo + k
                    e = edge[k]
                    if e >= 0:
                        prev[k] = cur[k]
                        cur[k] = np.int64(indices[e])
                    out[w, step] = cur[k]


@njit(cache=True, nogil=True, parallel=True)
def pointer_chase(indptr, indices, starts, walk_length, n_blocks, out):
    """Latency floor: a one-walk-at-a-time walk reduced to its dependent reads.

    Per step it reads ``indptr[v]`` and then ``indices[e]`` at an offset hashed from (v, walk,
    step), so it touches the same arrays with the same locality as a uniform walk but has no
    random stream to keep. Each chain's first read depends on the previous chain's last one,
    so every read waits for the one before. Starts are split into ``n_blocks`` contiguous
    blocks (one per thread); ``out[i]`` is chain i's last node.
    """
    n = starts.size
    for b in prange(n_blocks):
        last = np.int64(0)
        for i in range(b * n // n_blocks, (b + 1) * n // n_blocks):
            # `last >> 62` is 0 (ids are small) but the compiler cannot know: it chains the reads.
            v = np.int64(starts[i]) + (last >> 62)
            h = stream_start(np.uint64(i), v)
            for _ in range(walk_length):
                lo = indptr[v]
                deg = indptr[v + 1] - lo
                if deg == 0:
                    break
                h, word = next_word(h)
                v = np.int64(indices[lo + below(word ^ np.uint64(v), deg)])
            out[i] = v
            last = v
