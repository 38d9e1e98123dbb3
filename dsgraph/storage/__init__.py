"""Parquet graph datasets: ``write_dataset``, ``read_dataset`` → ``GraphDataset``, converters.

Names are resolved lazily so ``import dsgraph.storage`` does not import pyarrow or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "write_dataset": "dsgraph.storage.writer",
    "read_dataset": "dsgraph.storage.reader",
    "GraphDataset": "dsgraph.storage.reader",
    "EdgeTable": "dsgraph.storage.reader",
    "build_csr": "dsgraph.storage.reader",
    "DatasetMeta": "dsgraph.storage.schema",
    "SPLIT_CODES": "dsgraph.storage.schema",
    "dataset_stats": "dsgraph.storage.info",
    "convert_planetoid": "dsgraph.storage.converters.planetoid",
    "convert_movielens": "dsgraph.storage.converters.movielens",
    "convert_edge_list": "dsgraph.storage.converters.edgelist",
    "convert_pyg": "dsgraph.storage.converters.pyg",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dsgraph.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
