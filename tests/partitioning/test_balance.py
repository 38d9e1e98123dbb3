"""Quota filling and balance repair."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning.balance import fill_quotas, parse_balance, repair_balance, spread_nodes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=10), st.integers(0, 200))
def test_fill_quotas_levels_the_lightest_parts(counts, extra):
    counts = np.array(counts)
    quota = fill_quotas(counts, extra)
    assert quota.sum() == extra and (quota >= 0).all()
    after = counts + quota
    received = quota > 0
    if received.any():
        top = after[received].max()
        assert top - after[received].min() <= 1  # receivers end level
        assert (counts[~received] >= top - 1).all()  # nobody lighter was skipped


def test_spread_nodes_is_deterministic_and_even():
    parts, counts = spread_nodes(np.arange(10), np.array([5, 0, 2]))
    # Level 5 for everyone, the remaining two go to the lowest part ids.
    assert counts.tolist() == [6, 6, 5]
    assert np.bincount(parts, minlength=3).tolist() == [1, 6, 3]
    again, _ = spread_nodes(np.arange(10), np.array([5, 0, 2]))
    np.testing.assert_array_equal(parts, again)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=20, max_size=200),
    st.integers(0, 1000),
)
def test_repair_balance_brings_counts_within_tolerance(owner, seed):
    owner = np.array(owner, dtype=np.int32)
    k = 4
    cost = np.random.default_rng(seed).integers(1, 10, owner.size)
    counted = np.ones(owner.size, dtype=bool)
    repair_balance(owner, counted, cost, k, 0.05)
    counts = np.bincount(owner, minlength=k)
    assert counts.max() <= max(np.ceil(counts.mean()), np.floor(counts.mean() * 1.05))


def test_repair_moves_cheapest_nodes_only_from_overfull_parts():
    owner = np.array([0] * 8 + [1] * 2 + [2] * 2, dtype=np.int32)
    cost = np.array([5, 1, 7, 2, 9, 3, 8, 4, 1, 1, 1, 1])
    moved = repair_balance(owner, np.ones(12, bool), cost, 3, 0.0)
    assert moved == 4
    assert set(np.flatnonzero(np.array([0] * 8) != owner[:8]).tolist()) == {1, 3, 5, 7}
    assert np.bincount(owner).tolist() == [4, 4, 4]


def test_parse_balance():
    assert parse_balance("nodes+edges") == ("nodes", "edges")
    assert parse_balance(("edges", "train")) == ("edges", "train")
