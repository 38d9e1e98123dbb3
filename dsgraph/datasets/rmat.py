"""R-MAT / Graph500 power-law edge generator.

Chakrabarti, Zhan & Faloutsos, "R-MAT: A Recursive Model for Graph Mining", SDM 2004; parameters
and vertex permutation as in the Graph500 reference generator (a=0.57, b=0.19, c=0.19, d=0.05).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numba as nb
import numpy as np

from dsgraph.errors import GraphFormatError

# Edges are drawn in fixed-size chunks, each from its own child seed: memory stays bounded and the
# output depends only on (scale, edge_factor, a, b, c, seed), never on how a caller consumes it.
CHUNK_EDGES = 1 << 18


@nb.njit(cache=True, nogil=True, parallel=True)
def _quadrant_walk(
    r: np.ndarray, t_a: float, t_ab: float, t_abc: float, perm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Turn one uniform per (edge, level) into permuted (src, dst) ids.

    At each level one uniform picks the quadrant: [0,a) → (0,0), [a,a+b) → (0,1),
    [a+b,a+b+c) → (1,0), [a+b+c,1) → (1,1).
    """
    m, scale = r.shape
    src = np.empty(m, dtype=np.int64)
    dst = np.empty(m, dtype=np.int64)
    for i in nb.prange(m):
        u = 0
        v = 0
        for level in range(scale):
            x = r[i, level]
            if x >= t_ab:
                u |= 1 << level
                if x >= t_abc:
                    v |= 1 << level
            elif x >= t_a:
                v |= 1 << level
        src[i] = perm[u]
        dst[i] = perm[v]
    return src, dst


def _check_params(scale: int, edge_factor: int, a: float, b: float, c: float) -> None:
    if not 1 <= scale <= 40:
        raise GraphFormatError(f"R-MAT scale must be in [1, 40], got {scale}")
    if edge_factor < 1:
        raise GraphFormatError(f"R-MAT edge_factor must be ≥ 1, got {edge_factor}")
    if min(a, b, c) < 0 or a + b + c > 1:
        raise GraphFormatError(
            f"R-MAT probabilities need a, b, c ≥ 0 and a + b + c ≤ 1, got a={a} b={b} c={c}"
        )


def rmat_edge_chunks(
    scale: int,
    edge_factor: int = 16,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield the R-MAT edge list as (src, dst) int64 chunks of at most ``CHUNK_EDGES`` edges.

    ``2**scale`` nodes, ``edge_factor * 2**scale`` directed edges (duplicates and self-loops kept,
    as Graph500 does). Vertex ids are randomly permuted so hubs are not clustered at low ids.
    """
    _check_params(scale, edge_factor, a, b, c)
    num_nodes = 1 << scale
    num_edges = edge_factor * num_nodes
    root = np.random.SeedSequence(seed)
    perm_seed, *chunk_seeds = root.spawn(1 + -(-num_edges // CHUNK_EDGES))
    perm = np.random.default_rng(perm_seed).permutation(num_nodes)
    # Thresholds in float32 so the comparison matches the float32 uniforms exactly.
    t_a, t_ab, t_abc = np.float32(a), np.float32(a + b), np.float32(a + b + c)
    for k, child in enumerate(chunk_seeds):
        m = min(CHUNK_EDGES, num_edges - k * CHUNK_EDGES)
        r = np.random.default_rng(child).random((m, scale), dtype=np.float32)
        yield _quadrant_walk(r, t_a, t_ab, t_abc, perm)


def rmat_edges(
    scale: int,
    edge_factor: int = 16,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole R-MAT edge list as two int64 arrays of ``edge_factor * 2**scale`` entries.

    Deterministic in its arguments; see :func:`rmat_edge_chunks` for the model.
    """
    _check_params(scale, edge_factor, a, b, c)
    num_edges = edge_factor << scale
    src = np.empty(num_edges, dtype=np.int64)
    dst = np.empty(num_edges, dtype=np.int64)
    pos = 0
    for s, d in rmat_edge_chunks(scale, edge_factor, a, b, c, seed):
        src[pos : pos + s.size] = s
        dst[pos : pos + d.size] = d
        pos += s.size
    return src, dst


def generate_rmat(
    path: str | os.PathLike[str],
    scale: int,
    edge_factor: int = 16,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: int = 0,
    *,
    directed: bool = False,
    name: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write an R-MAT graph as a dataset directory (rows as generated; undirected by default,
    as Graph500 treats its graphs, so readers symmetrise and de-duplicate).

    ``on_progress(done, total)`` is called after each generated chunk of edges.
    """
    from dsgraph.storage.writer import write_dataset

    _check_params(scale, edge_factor, a, b, c)
    total = edge_factor << scale
    src = np.empty(total, dtype=np.int64)
    dst = np.empty(total, dtype=np.int64)
    pos = 0
    for s, d in rmat_edge_chunks(scale, edge_factor, a, b, c, seed):
        src[pos : pos + s.size], dst[pos : pos + d.size] = s, d
        pos += s.size
        if on_progress is not None:
            on_progress(pos, total)
    return write_dataset(
        path,
        src=src,
        dst=dst,
        num_nodes=1 << scale,
        directed=directed,
        name=name or f"rmat-s{scale}-ef{edge_factor}",
        extra_meta={
            "generator": {
                "kind": "rmat",
                "scale": scale,
                "edge_factor": edge_factor,
                "a": a,
                "b": b,
                "c": c,
                "seed": seed,
            }
        },
    )
