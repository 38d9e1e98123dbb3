"""Graphs shared by the partitioning tests."""

from __future__ import annotations

import numpy as np
import pytest

from dsgraph.datasets.rmat import rmat_edges
from dsgraph.graph import CSRGraph


def random_graph(num_nodes: int, num_edges: int, seed: int, *, weighted: bool = False) -> CSRGraph:
    """Symmetric random graph (self-loops and duplicates removed), optional weights."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, num_nodes, num_edges)
    dst = rng.integers(0, num_nodes, num_edges)
    weight = rng.uniform(0.5, 2.0, num_edges).astype(np.float32) if weighted else None
    return CSRGraph.from_edges(
        src, dst, num_nodes, weight, symmetrize=True, drop_self_loops=True, dedupe=True
    )


def star_graph(leaves: int) -> CSRGraph:
    """Node 0 linked to 1..leaves, plus a ring over the leaves (so leaves are not trivial)."""
    leaf = np.arange(1, leaves + 1)
    src = np.concatenate([np.zeros(leaves, np.int64), leaf])
    dst = np.concatenate([leaf, np.roll(leaf, 1)])
    return CSRGraph.from_edges(src, dst, leaves + 1, symmetrize=True, dedupe=True)


@pytest.fixture(scope="session")
def rmat_graph() -> CSRGraph:
    """R-MAT 2^12, edge factor 8, symmetrised: power-law with hubs and isolated nodes."""
    src, dst = rmat_edges(12, 8, seed=3)
    return CSRGraph.from_edges(
        src, dst, 1 << 12, symmetrize=True, drop_self_loops=True, dedupe=True
    )


@pytest.fixture(scope="session")
def make_random_graph():
    """The :func:`random_graph` builder (test modules cannot import conftest directly)."""
    return random_graph


@pytest.fixture(scope="session")
def make_star_graph():
    return star_graph


@pytest.fixture(scope="session")
def as_multiset():
    return edge_multiset


def edge_multiset(src: np.ndarray, dst: np.ndarray, num_nodes: int) -> np.ndarray:
    """Sorted edge keys: equal arrays mean equal multisets of edges."""
    return np.sort(src.astype(np.int64) * num_nodes + dst.astype(np.int64))
