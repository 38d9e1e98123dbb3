"""Thin, checked wrapper around pymetis's partitioners (k-way and recursive bisection).

pymetis wants a symmetric adjacency without self-loops, 64-bit index arrays (its ``idx_t``; other
dtypes are copied element by element) and, for several balance constraints, the vertex weights
flattened row-major as ``n × ncon``. This module is the only place that knows those details.
"""

from __future__ import annotations

import warnings

import numpy as np

from dsgraph.errors import PartitionError

# METIS's default load-imbalance tolerance for k-way: max part weight ≤ (1 + ufactor/1000) · mean.
DEFAULT_UFACTOR = 30


def _idx(array: np.ndarray) -> np.ndarray:
    """``array`` as contiguous int64 (pymetis reads it without a copy then)."""
    return np.ascontiguousarray(array, dtype=np.int64)


def metis_kway(
    indptr: np.ndarray,
    indices: np.ndarray,
    num_parts: int,
    *,
    vertex_weights: np.ndarray | None = None,
    edge_weights: np.ndarray | None = None,
    ufactor: int = DEFAULT_UFACTOR,
    seed: int = 0,
    recursive: bool = False,
) -> np.ndarray:
    """Partition a symmetric, self-loop-free CSR graph into ``num_parts`` parts with METIS.

    ``recursive`` selects METIS_PartGraphRecursive instead of METIS_PartGraphKway.

    ``vertex_weights`` is ``[n]`` or ``[n, ncon]`` (non-negative integers; several columns make
    METIS balance every constraint at once); ``edge_weights`` holds one positive integer per
    entry of ``indices``. Returns the part of every vertex as int32 ``[n]``. The same input and
    ``seed`` give the same output.
    """
    import pymetis

    n = indptr.size - 1
    if num_parts < 1:
        raise PartitionError(f"number of parts must be ≥ 1, got {num_parts}")
    if num_parts == 1 or n == 0:
        return np.zeros(n, dtype=np.int32)
    if n <= num_parts:
        # METIS misbehaves with fewer vertices than parts: one vertex per part is optimal anyway.
        return np.arange(n, dtype=np.int32)
    vw = None
    if vertex_weights is not None:
        vertex_weights = np.asarray(vertex_weights)
        if vertex_weights.shape[0] != n or vertex_weights.ndim not in (1, 2):
            raise PartitionError(
                f"vertex weights must have shape [{n}] or [{n}, ncon], got {vertex_weights.shape}"
            )
        if (vertex_weights < 0).any():
            raise PartitionError("vertex weights must be ≥ 0")
        vw = _idx(vertex_weights).ravel()
    ew = None
    if edge_weights is not None:
        if edge_weights.shape != indices.shape:
            raise PartitionError(
                f"edge weights need one value per adjacency entry ({indices.size}), "
                f"got shape {edge_weights.shape}"
            )
        if edge_weights.size and edge_weights.min() < 1:
            raise PartitionError("METIS edge weights must be integers ≥ 1")
        ew = _idx(edge_weights)
    options = pymetis.Options(ufactor=int(ufactor), seed=int(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = pymetis.part_graph(
            num_parts,
            adjacency=pymetis.CSRAdjacency(_idx(indptr), _idx(indices)),
            vweights=vw,
            eweights=ew,
            recursive=recursive,
            options=options,
        )
    return np.asarray(result.vertex_part, dtype=np.int32)
