"""Numba kernels of the server-side optimizers: in-place updates of flat fp32 arrays.

Sparse kernels touch only the given positions (lazy optimizer state, as torch's SparseAdam), so
applying a Top-K update costs O(k), not O(numel). Plain arrays in, nothing returned. Every kernel
only reads its gradient arguments, so the read-only buffers Ray maps out of its object store are
accepted as they are (no copy), and every kernel releases the GIL (``nogil``), so a server thread
can receive the next push while another applies this one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def min_max(idx):  # pragma: no cover - compiled
    """(min, max) of a non-empty array in one vectorised pass (a quarter of numpy's two passes)."""
    lo = idx[0]
    hi = idx[0]
    for i in range(idx.size):
        lo = min(lo, idx[i])
        hi = max(hi, idx[i])
    return lo, hi


@njit(cache=True, nogil=True)
def first_out_of_range(idx, size):  # pragma: no cover - compiled
    """Position in ``idx`` of the first entry outside ``[0, size)``, or -1 (for error messages)."""
    for i in range(idx.size):
        j = idx[i]
        if j < 0 or j >= size:
            return i
    return -1


@njit(cache=True, nogil=True)
def sgd_sparse(params, idx, vals, step):  # pragma: no cover - compiled
    for i in range(idx.size):
        params[idx[i]] -= step * vals[i]


@njit(cache=True, nogil=True)
def momentum_sparse(params, mom, idx, vals, lr, mu, weight):  # pragma: no cover - compiled
    for i in range(idx.size):
        j = idx[i]
        m = mu * mom[j] + weight * vals[i]
        mom[j] = m
        params[j] -= lr * m


@njit(cache=True, nogil=True)
def momentum_dense(params, mom, vals, lr, mu, weight):  # pragma: no cover - compiled
    for j in range(params.size):
        m = mu * mom[j] + weight * vals[j]
        mom[j] = m
        params[j] -= lr * m


@njit(cache=True, nogil=True)
def adam_sparse(params, m, v, idx, vals, lr, b1, b2, eps, bc1, bc2, weight):  # pragma: no cover
    for i in range(idx.size):
        j = idx[i]
        g = weight * vals[i]
        mj = b1 * m[j] + (1.0 - b1) * g
        vj = b2 * v[j] + (1.0 - b2) * g * g
        m[j] = mj
        v[j] = vj
        params[j] -= lr * (mj / bc1) / (math.sqrt(vj / bc2) + eps)


@njit(cache=True, nogil=True)
def adam_dense(params, m, v, vals, lr, b1, b2, eps, bc1, bc2, weight):  # pragma: no cover
    for j in range(params.size):
        g = weight * vals[j]
        mj = b1 * m[j] + (1.0 - b1) * g
        vj = b2 * v[j] + (1.0 - b2) * g * g
        m[j] = mj
        v[j] = vj
        params[j] -= lr * (mj / bc1) / (math.sqrt(vj / bc2) + eps)


@njit(cache=True, nogil=True)
def row_adagrad(table, acc, rows, grads, lr, eps, weight):  # pragma: no cover - compiled
    """Row-wise Adagrad: one accumulator per row (mean of squared grads), as FBGEMM's TBE."""
    dim = table.shape[1]
    for i in range(rows.size):
        r = rows[i]
        s = 0.0
        for d in range(dim):
            g = weight * grads[i, d]
            s += g * g
        acc[r] += s / dim
        scale = lr / (math.sqrt(acc[r]) + eps)
        for d in range(dim):
            table[r, d] -= scale * weight * grads[i, d]


@njit(cache=True, nogil=True)
def row_adam(table, m, v, steps, rows, grads, lr, b1, b2, eps, weight):  # pragma: no cover
    """Row-wise Adam: first moment per element, second moment per row, bias-corrected per row."""
    dim = table.shape[1]
    for i in range(rows.size):
        r = rows[i]
        steps[r] += 1
        t = steps[r]
        bc1 = 1.0 - b1**t
        bc2 = 1.0 - b2**t
        s = 0.0
        for d in range(dim):
            g = weight * grads[i, d]
            s += g * g
        vr = b2 * v[r] + (1.0 - b2) * (s / dim)
        v[r] = vr
        denom = math.sqrt(vr / bc2) + eps
        for d in range(dim):
            g = weight * grads[i, d]
            md = b1 * m[r, d] + (1.0 - b1) * g
            m[r, d] = md
            table[r, d] -= lr * (md / bc1) / denom


def sum_duplicate_rows(ids: np.ndarray, grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ids (sorted) and the fp32 sum of the grads of each id."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    if uniq.size == ids.size:
        order = np.argsort(ids, kind="stable")
        return uniq, np.ascontiguousarray(grads[order], dtype=np.float32)
    summed = np.zeros((uniq.size, grads.shape[1]), dtype=np.float32)
    np.add.at(summed, inverse, grads)
    return uniq, summed
