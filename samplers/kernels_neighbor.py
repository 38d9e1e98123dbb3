"""Numba kernels for GraphSAGE fan-out neighbour sampling and relabelling.

One hop samples, for every frontier node, up to ``fanout`` of its CSR row's edges, in two
passes (count, then a parallel fill) so the output is one flat array of CSR edge positions grouped
by frontier node. Node u's draws come from a stream derived from (run key, hop, u): the result
does not depend on the thread count or on where u sits in the frontier.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from samplers._rng import below, low_unit, next_word, stream_start, unit

# Frontiers smaller than this are sampled on the calling thread (a parallel launch costs more).
PARALLEL_MIN_NODES = 4096

# Without replacement, Floyd's algorithm checks membership linearly: fine for small fan-outs;
# larger ones use selection sampling (one pass over the row).
FLOYD_MAX_FANOUT = 64


@njit(cache=True, nogil=True, inline="always")
def _positive_count(weights, lo, hi):
    c = 0
    for e in range(lo, hi):
        if weights[e] > 0.0:
            c += 1
    return c


@njit(cache=True, nogil=True)
def count_samples(indptr, weights, weighted, frontier, fanout, replace, counts):
    """``counts[i]``: edges node ``frontier[i]`` will contribute (≤ fanout; 0 at a dead end)."""
    for i in range(frontier.size):
        u = frontier[i]
        lo = indptr[u]
        hi = indptr[u + 1]
        avail = _positive_count(weights, lo, hi) if weighted else hi - lo
        if avail == 0:
            counts[i] = 0
        elif replace:
            counts[i] = fanout
        else:
            counts[i] = min(fanout, avail)


@njit(cache=True, nogil=True)
def _sample_without_replacement(lo, deg, k, s, out, at):
    """k distinct positions of [lo, lo + deg) into out[at : at + k] (k < deg)."""
    if k <= FLOYD_MAX_FANOUT:
        # Floyd: for j = deg − k … deg − 1 pick t in [0, j]; take j instead if t was taken.
        n = 0
        for j in range(deg - k, deg):
            s, word = next_word(s)
            t = below(word, j + 1)
            taken = False
            for x in range(n):
                if out[at + x] == lo + t:
                    taken = True
                    break
            out[at + n] = lo + (j if taken else t)
            n += 1
        return s
    # Selection sampling (Knuth's algorithm S): keep item j with prob needed / remaining.
    needed = k
    n = 0
    for j in range(deg):
        s, word = next_word(s)
        if unit(word) * (deg - j) < needed:
            out[at + n] = lo + j
            n += 1
            needed -= 1
            if needed == 0:
                break
    return s


@njit(cache=True, nogil=True)
def _weighted_without_replacement(weights, lo, hi, k, s, out, at):
    """k positive-weight positions of [lo, hi) by Efraimidis–Spirakis keys u^(1/w) (top k)."""
    keys = np.empty(k, dtype=np.float64)
    n = 0
    for e in range(lo, hi):
        w = weights[e]
        if not w > 0.0:
            continue
        s, word = next_word(s)
        # log(u) / w orders like u^(1/w); 1 − unit avoids log(0).
        key = np.log(1.0 - unit(word)) / w
        if n < k:
            j = n
            n += 1
        elif key > keys[k - 1]:
            j = k - 1
        else:
            continue
        while j > 0 and keys[j - 1] < key:  # insertion keeps keys descending
            keys[j] = keys[j - 1]
            out[at + j] = out[at + j - 1]
            j -= 1
        keys[j] = key
        out[at + j] = e
    return s


@njit(cache=True, nogil=True, inline="always")
def _fill_one(
    i, indptr, weights, weighted, prob, alias, frontier, offsets, fanout, replace, key, hop, out
):
    at = offsets[i]
    k = offsets[i + 1] - at
    if k == 0:
        return
    u = frontier[i]
    lo = indptr[u]
    deg = indptr[u + 1] - lo
    s = stream_start(key, u * 64 + hop)
    if replace:
        for j in range(k):
            s, word = next_word(s)
            slot = below(word, deg)
            if weighted and low_unit(word) >= prob[lo + slot]:
                slot = alias[lo + slot]
            out[at + j] = lo + slot
    elif weighted:
        if k == _positive_count(weights, lo, lo + deg):  # row has ≤ fanout: take all
            n = 0
            for e in range(lo, lo + deg):
                if weights[e] > 0.0:
                    out[at + n] = e
                    n += 1
        else:
            _weighted_without_replacement(weights, lo, lo + deg, k, s, out, at)
    elif k == deg:
        for j in range(k):
            out[at + j] = lo + j
    else:
        _sample_without_replacement(lo, deg, k, s, out, at)


@njit(cache=True, nogil=True, parallel=True)
def fill_samples(
    indptr, weights, weighted, prob, alias, frontier, offsets, fanout, replace, key, hop, out
):
    """Write node ``frontier[i]``'s sampled CSR edge positions to out[offsets[i]:offsets[i+1]].

    With replacement: uniform, or through the alias tables ``prob``/``alias`` when weighted.
    Without: all edges when the row has at most ``fanout`` (positive-weight) edges, else a
    uniform (Floyd / selection sampling) or weighted (Efraimidis–Spirakis) subset.
    """
    for i in prange(frontier.size):
        _fill_one(
            i,
            indptr,
            weights,
            weighted,
            prob,
            alias,
            frontier,
            offsets,
            fanout,
            replace,
            key,
            hop,
            out,
        )


@njit(cache=True, nogil=True)
def fill_samples_serial(
    indptr, weights, weighted, prob, alias, frontier, offsets, fanout, replace, key, hop, out
):
    """:func:`fill_samples` on the calling thread: small frontiers do not pay a parallel launch."""
    for i in range(frontier.size):
        _fill_one(
            i,
            indptr,
            weights,
            weighted,
            prob,
            alias,
            frontier,
            offsets,
            fanout,
            replace,
            key,
            hop,
            out,
        )


@njit(cache=True, nogil=True)
def relabel(indices, edges, new_id, nodes, num_nodes):
    """Local ids of the sampled edges' sources, numbering unseen nodes in order of appearance.

    ``new_id`` [N] int64 holds −1 for unseen nodes and is updated; ``nodes`` (capacity ≥
    num_nodes + edges.size) receives the global id of each new local id. Returns
    (local source ids int64 [edges.size], new number of nodes).
    """
    local = np.empty(edges.size, dtype=np.int64)
    for j in range(edges.size):
        g = indices[edges[j]]
        lid = new_id[g]
        if lid < 0:
            lid = num_nodes
            new_id[g] = lid
            nodes[lid] = g
            num_nodes += 1
        local[j] = lid
    return local, num_nodes
