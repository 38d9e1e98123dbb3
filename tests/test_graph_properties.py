"""Property-based invariants of CSRGraph construction and derived graphs (hypothesis)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.graph import CSRBuilder, CSRGraph

SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def edge_lists(draw: st.DrawFn, max_nodes: int = 25, max_edges: int = 120):
    n = draw(st.integers(1, max_nodes))
    e = draw(st.integers(0, max_edges))
    ids = st.lists(st.integers(0, n - 1), min_size=e, max_size=e)
    src = np.array(draw(ids), dtype=np.int64)
    dst = np.array(draw(ids), dtype=np.int64)
    weight = np.array(draw(st.lists(st.integers(0, 100), min_size=e, max_size=e)), dtype=np.float32)
    return n, src, dst, weight


def pairs(g: CSRGraph) -> list[tuple[int, int]]:
    s, d = g.edges()
    return list(zip(s.tolist(), d.tolist(), strict=True))


def check_structure(g: CSRGraph, n: int) -> None:
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int32
    assert g.indptr.size == n + 1 and g.indptr[0] == 0
    assert (np.diff(g.indptr) >= 0).all()
    assert g.degrees().sum() == g.num_edges
    for v in range(n):
        row = g.neighbors(v)
        assert (np.diff(row) >= 0).all()  # sorted rows


@SETTINGS
@given(edge_lists())
def test_plain_build_keeps_the_multiset_of_edges(case) -> None:
    n, src, dst, _ = case
    g = CSRGraph.from_edges(src, dst, n)
    check_structure(g, n)
    assert Counter(pairs(g)) == Counter(zip(src.tolist(), dst.tolist(), strict=True))
    assert np.array_equal(g.degrees(), np.bincount(src, minlength=n))


@SETTINGS
@given(edge_lists())
def test_dedupe_keeps_every_input_edge_exactly_once(case) -> None:
    n, src, dst, _ = case
    g = CSRGraph.from_edges(src, dst, n, dedupe=True)
    check_structure(g, n)
    got = pairs(g)
    assert len(got) == len(set(got))
    assert set(got) == set(zip(src.tolist(), dst.tolist(), strict=True))


@SETTINGS
@given(edge_lists(), st.booleans())
def test_dedupe_weights_first_or_sum(case, sum_duplicates: bool) -> None:
    n, src, dst, w = case
    g = CSRGraph.from_edges(src, dst, n, w, dedupe=True, sum_duplicates=sum_duplicates)
    expected: dict[tuple[int, int], float] = {}
    for s, d, x in zip(src.tolist(), dst.tolist(), w.tolist(), strict=True):
        if (s, d) not in expected:
            expected[(s, d)] = x
        elif sum_duplicates:
            expected[(s, d)] += x
    got = dict(zip(pairs(g), g.weights.tolist(), strict=True))
    assert got == expected


@SETTINGS
@given(edge_lists())
def test_symmetrised_graph_equals_its_reverse(case) -> None:
    n, src, dst, w = case
    g = CSRGraph.from_edges(src, dst, n, w, symmetrize=True)
    check_structure(g, n)
    r = g.reverse()
    assert np.array_equal(g.indptr, r.indptr) and np.array_equal(g.indices, r.indices)
    assert np.array_equal(g.weights, r.weights)
    assert g.is_symmetric()
    und = {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist(), strict=True)}
    assert {(min(a, b), max(a, b)) for a, b in pairs(g)} == und


@SETTINGS
@given(edge_lists())
def test_drop_self_loops(case) -> None:
    n, src, dst, _ = case
    g = CSRGraph.from_edges(src, dst, n, drop_self_loops=True)
    s, d = g.edges()
    assert not (s == d).any()
    assert g.num_edges == int((src != dst).sum())


@SETTINGS
@given(edge_lists())
def test_reverse_twice_is_identity_and_transposes(case) -> None:
    n, src, dst, w = case
    g = CSRGraph.from_edges(src, dst, n, w)
    r = g.reverse()
    assert Counter(pairs(r)) == Counter((b, a) for a, b in pairs(g))
    rr = r.reverse()
    assert np.array_equal(rr.indptr, g.indptr) and np.array_equal(rr.indices, g.indices)
    assert np.array_equal(np.sort(rr.weights), np.sort(g.weights))
    assert np.array_equal(g.in_degrees(), r.degrees())


@SETTINGS
@given(edge_lists(), st.data())
def test_subgraph_is_induced(case, data: st.DataObject) -> None:
    n, src, dst, _ = case
    g = CSRGraph.from_edges(src, dst, n, dedupe=True)
    nodes = data.draw(st.permutations(range(n)).map(lambda p: p[: data.draw(st.integers(0, n))]))
    nodes = np.array(nodes, dtype=np.int64)
    sub = g.subgraph(nodes)
    check_structure(sub, nodes.size)
    pos = {int(v): i for i, v in enumerate(nodes)}
    expected = {(pos[a], pos[b]) for a, b in pairs(g) if a in pos and b in pos}
    assert set(pairs(sub)) == expected and len(pairs(sub)) == len(expected)


@SETTINGS
@given(edge_lists(), st.integers(1, 50))
def test_chunked_builder_equals_one_shot(case, chunk: int) -> None:
    n, src, dst, w = case
    b = CSRBuilder(n, weighted=True)
    for i in range(0, src.size, chunk):
        b.count(src[i : i + chunk])
    for i in range(0, src.size, chunk):
        b.fill(src[i : i + chunk], dst[i : i + chunk], w[i : i + chunk])
    g1 = b.finish()
    g2 = CSRGraph.from_edges(src, dst, n, w)
    assert np.array_equal(g1.indptr, g2.indptr) and np.array_equal(g1.indices, g2.indices)
    assert np.array_equal(g1.weights, g2.weights)


@SETTINGS
@given(edge_lists())
def test_edges_round_trip(case) -> None:
    n, src, dst, w = case
    g = CSRGraph.from_edges(src, dst, n, w)
    s, d = g.edges()
    h = CSRGraph.from_edges(s, d, n, g.weights)
    assert np.array_equal(h.indptr, g.indptr) and np.array_equal(h.indices, g.indices)
    assert np.array_equal(h.weights, g.weights)
