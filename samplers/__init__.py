"""Seeded Numba samplers over :class:`dsgraph.graph.CSRGraph`.

Random walks (uniform, degree-weighted, edge-weighted, node2vec, restarts), PinSAGE importance
neighbourhoods, GraphSAGE fan-out sampling and walks across partitions; :mod:`samplers.pyg`
adapts them to PyG loaders, :mod:`samplers.export` writes Parquet.
Classes are imported on first use so that ``import samplers`` does not load Numba.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RandomWalkSampler": "samplers.walks",
    "PinSAGESampler": "samplers.pinsage",
    "ImportanceNeighbors": "samplers.pinsage",
    "NeighborSampler": "samplers.neighbor",
    "SampledSubgraph": "samplers.neighbor",
    "PartitionedWalkSampler": "samplers.partitioned",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'samplers' has no attribute {name!r}")
