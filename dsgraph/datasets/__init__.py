"""Synthetic graph generators (R-MAT, labelled SBM, user–item) and real-dataset helpers.

Every generator takes a seed and is deterministic in its arguments. Names are resolved lazily so
``import dsgraph.datasets`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "rmat_edges": "dsgraph.datasets.rmat",
    "rmat_edge_chunks": "dsgraph.datasets.rmat",
    "generate_rmat": "dsgraph.datasets.rmat",
    "sbm_graph": "dsgraph.datasets.sbm",
    "generate_sbm": "dsgraph.datasets.sbm",
    "user_item_interactions": "dsgraph.datasets.user_item",
    "generate_user_item": "dsgraph.datasets.user_item",
    "default_recommender_dataset": "dsgraph.datasets.default",
    "DEFAULT_DATA_DIR": "dsgraph.datasets.default",
    "KNOWN_DATASETS": "dsgraph.datasets.registry",
    "fetch_dataset": "dsgraph.datasets.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dsgraph.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
