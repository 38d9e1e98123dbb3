"""A PyG ``Data`` object → dataset (edges as stored in ``edge_index``, x, y and masks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dsgraph.errors import DatasetError
from dsgraph.storage.schema import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL
from dsgraph.storage.writer import write_dataset

if TYPE_CHECKING:
    from torch_geometric.data import Data


def convert_pyg(
    data: Data,
    out: str | os.PathLike[str],
    *,
    name: str = "pyg",
    directed: bool | None = None,
) -> Path:
    """Write ``data``: ``edge_index`` rows as edges, ``edge_weight`` (or a 1-D ``edge_attr``)
    as weights, ``x`` as features, ``y`` as labels, ``train/val/test_mask`` as the node split.

    ``directed`` defaults to ``not data.is_undirected()``.
    """
    if getattr(data, "edge_index", None) is None:
        raise DatasetError("PyG Data has no 'edge_index'")
    ei = data.edge_index.detach().cpu().numpy()
    num_nodes = int(data.num_nodes)
    if directed is None:
        directed = not data.is_undirected()
    weight = getattr(data, "edge_weight", None)
    if (
        weight is None
        and getattr(data, "edge_attr", None) is not None
        and data.edge_attr.dim() == 1
    ):
        weight = data.edge_attr
    labels = None
    if getattr(data, "y", None) is not None:
        y = data.y.detach().cpu().numpy()
        if y.shape != (num_nodes,):
            raise DatasetError(
                f"PyG Data 'y' must be node labels of shape [{num_nodes}], got {y.shape}"
            )
        labels = y.astype(np.int64)
    split = None
    for mask_name, code in (
        ("train_mask", SPLIT_TRAIN),
        ("val_mask", SPLIT_VAL),
        ("test_mask", SPLIT_TEST),
    ):
        mask = getattr(data, mask_name, None)
        if mask is None:
            continue
        if split is None:
            split = np.zeros(num_nodes, np.int8)
        split[mask.detach().cpu().numpy().astype(bool)] = code
    x = getattr(data, "x", None)
    return write_dataset(
        out,
        src=ei[0],
        dst=ei[1],
        num_nodes=num_nodes,
        directed=bool(directed),
        name=name,
        weight=None if weight is None else weight.detach().cpu().numpy(),
        features=None if x is None else x.detach().cpu().numpy(),
        labels=labels,
        split=split,
    )
