"""Small graphs shared by the sampler tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from dsgraph.graph import CSRGraph


def star_with_tails() -> CSRGraph:
    """Undirected: 0 — {1, 2, 3, 4}; neighbours of 0 have degrees 4, 2, 1, 3."""
    src = [0, 0, 0, 0, 1, 1, 1, 2, 4, 4]
    dst = [1, 2, 3, 4, 5, 6, 7, 5, 6, 7]
    return CSRGraph.from_edges(src, dst, 8, symmetrize=True)


def weighted_star() -> CSRGraph:
    """Directed: 0 → 1..5 with weights 1, 2, 0, 3, 4 (edge 0 → 3 never drawn); all others → 0."""
    src = [0, 0, 0, 0, 0, 1, 2, 3, 4, 5]
    dst = [1, 2, 3, 4, 5, 0, 0, 0, 0, 0]
    w = [1.0, 2.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    return CSRGraph.from_edges(src, dst, 6, w)


def node2vec_graph(weighted: bool = False) -> CSRGraph:
    """Undirected: 0 — {1, 2}; 1 — {0, 2, 3, 4}. From t=0 at v=1, x=0 returns, 2 is common."""
    src = [0, 0, 1, 1, 1]
    dst = [1, 2, 2, 3, 4]
    w = [1.0, 1.0, 1.0, 2.0, 3.0] if weighted else None
    return CSRGraph.from_edges(src, dst, 5, w, symmetrize=True)


@st.composite
def random_graphs(draw, max_nodes: int = 40, max_edges: int = 160) -> CSRGraph:
    """Random directed graphs (possibly with sinks and isolated nodes) with positive weights."""
    n = draw(st.integers(2, max_nodes))
    m = draw(st.integers(0, max_edges))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    w = rng.uniform(0.1, 5.0, m)
    return CSRGraph.from_edges(src, dst, n, w, dedupe=True)


def assert_steps_are_edges(graph: CSRGraph, walks: np.ndarray, starts: np.ndarray) -> None:
    """Every move is an edge, or a jump back to the walk's root; −1 is absorbing."""
    for w in range(walks.shape[0]):
        for s in range(1, walks.shape[1]):
            a, b = int(walks[w, s - 1]), int(walks[w, s])
            if a < 0:
                assert b < 0
                continue
            if b < 0:
                continue
            assert graph.has_edge(a, b) or b == starts[w], (w, s, a, b)
