"""Argument checks shared by the sampler classes; failures raise :class:`SamplerError`."""

from __future__ import annotations

from typing import Any

import numpy as np

from dsgraph.errors import SamplerError
from dsgraph.graph import CSRGraph


def check_nonneg_int(value: Any, name: str) -> None:
    """``value`` must be a (numpy or Python) integer ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise SamplerError(f"{name} must be an integer ≥ 0, got {value!r}")


def check_seeds(nodes: Any, graph: CSRGraph, name: str = "starts") -> np.ndarray:
    """Node ids as a contiguous int64 array, each in [0, num_nodes); names the first bad row."""
    arr = np.asarray(nodes)
    if arr.ndim != 1:
        raise SamplerError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise SamplerError(f"{name} must hold integer node ids, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    bad = (arr < 0) | (arr >= graph.num_nodes)
    if bad.any():
        row = int(np.argmax(bad))
        raise SamplerError(
            f"{name} row {row}: node id {int(arr[row])} is out of range [0, {graph.num_nodes})"
        )
    return arr
