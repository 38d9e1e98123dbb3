"""Shared by the incremental-inference tests."""

from __future__ import annotations

import contextlib

from dsgraph.inference import part_state


@contextlib.contextmanager
def dense_layers(enabled: bool):
    """Force (or forbid) the whole-layer sparse product for large frontiers."""
    old = part_state.DENSE_FRACTION
    part_state.DENSE_FRACTION = 0.25 if enabled else float("inf")
    try:
        yield
    finally:
        part_state.DENSE_FRACTION = old


@contextlib.contextmanager
def eager_compaction(enabled: bool):
    """Fold edited adjacency rows into the base CSR after every batch (or never)."""
    old = part_state.COMPACT_ROWS
    part_state.COMPACT_ROWS = -(10**9) if enabled else 10**9
    try:
        yield
    finally:
        part_state.COMPACT_ROWS = old
