"""Write a graph dataset directory atomically: a crash or a bad input leaves the old one intact.

Everything is validated before the first byte is written, then ``meta.json``, ``nodes.parquet`` and
``edges.parquet`` are produced in a temporary directory that replaces the target in one rename.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsgraph.errors import DatasetError, GraphFormatError
from dsgraph.graph import check_node_ids
from dsgraph.storage.atomic import atomic_dir
from dsgraph.storage.schema import (
    _META_KEYS,
    EDGE_COLUMNS,
    EDGES_FILE,
    NODE_COLUMNS,
    NODES_FILE,
    SPLIT_CODES,
    SPLIT_NAMES,
    DatasetMeta,
)

# 2**18 rows = 2 MiB per int64 column: the streamed CSR build decodes one group at a time, so
# this bounds its working memory (larger groups read no faster, see bench_storage.py).
EDGE_ROW_GROUP = 1 << 18
# Edge ids are near-random integers that compress poorly; skipping compression keeps the read
# path close to a plain memory copy (see benchmarks/bench_storage.py).
EDGE_COMPRESSION = "none"


def write_dataset(
    path: str | os.PathLike[str],
    *,
    src: Any,
    dst: Any,
    num_nodes: int,
    directed: bool,
    name: str,
    weight: Any = None,
    timestamp: Any = None,
    edge_split: Any = None,
    edge_type: Any = None,
    features: Any = None,
    labels: Any = None,
    split: Any = None,
    node_type: Any = None,
    node_types: dict[str, tuple[int, int] | list[int]] | None = None,
    extra_meta: dict[str, Any] | None = None,
    overwrite: bool = True,
    num_classes: int | None = None,
    row_group_size: int = EDGE_ROW_GROUP,
    compression: str = EDGE_COMPRESSION,
) -> Path:
    """Validate and write a dataset directory; returns its path.

    Edge rows are stored as given (``directed=False`` tells readers to symmetrise). ``split`` and
    ``edge_split`` take int8 codes (0 none, 1 train, 2 val, 3 test) or the names "train" …;
    ``features`` is a float [N, D] array, stored as fixed_size_list<float32>[D]. ``num_classes``
    defaults to max(label) + 1. Raises :class:`GraphFormatError` / :class:`DatasetError` naming
    the offending column and row; nothing is written then.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise DatasetError(f"{target} exists; pass overwrite=True to replace it")
    num_nodes = int(num_nodes)
    if num_nodes <= 0:
        raise DatasetError(f"dataset '{name}': empty graph (num_nodes={num_nodes})")
    src = np.asarray(src)
    dst = np.asarray(dst)
    check_node_ids(src, num_nodes, "src")
    check_node_ids(dst, num_nodes, "dst")
    num_edges = src.size
    if dst.size != num_edges:
        raise GraphFormatError(
            f"columns 'src' and 'dst' differ in length ({src.size} vs {dst.size})"
        )
    if num_edges == 0:
        raise DatasetError(f"dataset '{name}': empty graph (no edges)")

    edge_cols: dict[str, np.ndarray] = {
        "src": src.astype(np.int64, copy=False),
        "dst": dst.astype(np.int64, copy=False),
    }
    if weight is not None:
        edge_cols["weight"] = _finite_floats(weight, num_edges, "weight")
    if timestamp is not None:
        edge_cols["timestamp"] = _ints(timestamp, num_edges, "timestamp", np.int64)
    if edge_type is not None:
        edge_cols["type"] = _ints(edge_type, num_edges, "edge type", np.int8)
    if edge_split is not None:
        edge_cols["split"] = split_codes(edge_split, num_edges, "edge split")

    node_cols: dict[str, Any] = {"id": np.arange(num_nodes, dtype=np.int64)}
    if labels is not None:
        node_cols["label"] = _ints(labels, num_nodes, "label", np.int64)
        if (node_cols["label"] < -1).any():
            row = int(np.argmax(node_cols["label"] < -1))
            raise DatasetError(f"column 'label' row {row}: {node_cols['label'][row]} < -1")
        if num_classes is None:
            num_classes = int(node_cols["label"].max(initial=-1)) + 1
        elif (node_cols["label"] >= num_classes).any():
            row = int(np.argmax(node_cols["label"] >= num_classes))
            raise DatasetError(
                f"column 'label' row {row}: {node_cols['label'][row]} ≥ num_classes={num_classes}"
            )
    if split is not None:
        node_cols["split"] = split_codes(split, num_nodes, "split")
    if node_type is not None:
        node_cols["type"] = _ints(node_type, num_nodes, "node type", np.int8)
    feature_dim = 0
    if features is not None:
        feats = _features(features, num_nodes)
        feature_dim = feats.shape[1]
        node_cols["feat"] = feats

    meta = DatasetMeta(
        name=name,
        num_nodes=num_nodes,
        directed=bool(directed),
        num_edges=num_edges,
        feature_dim=feature_dim,
        num_classes=int(num_classes or 0),
        splits=_split_counts(node_cols.get("split")),
        edge_splits=_split_counts(edge_cols.get("split")),
        extra=_extra(extra_meta),
    )
    if node_types is not None:
        meta.node_types = _node_types(node_types, num_nodes)
        if "user" in meta.node_types and "item" in meta.node_types:
            meta.num_users = int(np.diff(meta.node_types["user"])[0])
            meta.num_items = int(np.diff(meta.node_types["item"])[0])
    DatasetMeta.from_dict(meta.to_dict(), f"meta of dataset '{name}'")  # one validator

    with atomic_dir(target, overwrite=True) as tmp:
        _write_nodes(tmp / NODES_FILE, node_cols, feature_dim)
        _write_edges(tmp / EDGES_FILE, edge_cols, row_group_size, compression)
        meta.write(tmp)
    return target


def split_codes(values: Any, length: int, column: str) -> np.ndarray:
    """int8 split codes from codes or names; raises naming ``column`` and the first bad row."""
    arr = np.asarray(values)
    if arr.shape != (length,):
        raise DatasetError(f"column '{column}' must have {length} values, got shape {arr.shape}")
    if arr.dtype.kind in "USO":
        lookup = np.array(sorted(SPLIT_CODES))
        arr_s = arr.astype(str)
        known = np.isin(arr_s, lookup)
        if not known.all():
            row = int(np.argmax(~known))
            raise DatasetError(
                f"column '{column}' row {row}: unknown split {str(arr_s[row])!r}; "
                f"allowed: {sorted(SPLIT_CODES)}"
            )
        codes = np.zeros(length, dtype=np.int8)
        for split_name, code in SPLIT_CODES.items():
            codes[arr_s == split_name] = code
        return codes
    codes = _ints(arr, length, column, np.int8)
    bad = (codes < 0) | (codes > max(SPLIT_NAMES))
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(
            f"column '{column}' row {row}: split code {codes[row]} not in "
            f"{ {v: k for k, v in SPLIT_NAMES.items()} }"
        )
    return codes


def _ints(values: Any, length: int, column: str, dtype: type) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (length,):
        raise DatasetError(f"column '{column}' must have {length} values, got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        raise DatasetError(f"column '{column}' must be integer, got dtype {arr.dtype}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        bad = (arr < info.min) | (arr > info.max)
        row = int(np.argmax(bad))
        raise DatasetError(
            f"column '{column}' row {row}: {arr[row]} does not fit {np.dtype(dtype)}"
        )
    return arr.astype(dtype, copy=False)


def _finite_floats(values: Any, length: int, column: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (length,):
        raise DatasetError(f"column '{column}' must have {length} values, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise DatasetError(f"column '{column}' must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"column '{column}' row {row}: value {arr[row]} is not finite")
    return arr


def _features(features: Any, num_nodes: int) -> np.ndarray:
    if hasattr(features, "detach"):  # a torch tensor
        features = features.detach().cpu().numpy()
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[0] != num_nodes or feats.shape[1] == 0:
        raise DatasetError(
            f"column 'feat' must be a [num_nodes={num_nodes}, D ≥ 1] array, got shape {feats.shape}"
        )
    if feats.dtype.kind not in "iufb":
        raise DatasetError(f"column 'feat' must be numeric, got dtype {feats.dtype}")
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    finite = np.isfinite(feats).all(axis=1)
    if not finite.all():
        row = int(np.argmax(~finite))
        col = int(np.argmax(~np.isfinite(feats[row])))
        raise DatasetError(
            f"column 'feat' row {row}: value {feats[row, col]} at position {col} is not finite"
        )
    return feats


def _split_counts(codes: np.ndarray | None) -> dict[str, int] | None:
    if codes is None:
        return None
    counts = np.bincount(codes, minlength=len(SPLIT_NAMES))
    return {SPLIT_NAMES[c]: int(counts[c]) for c in sorted(SPLIT_NAMES) if c != 0}


def _node_types(node_types: dict, num_nodes: int) -> dict[str, list[int]]:
    out = {}
    for type_name, rng in node_types.items():
        start, stop = (int(x) for x in rng)
        if not 0 <= start <= stop <= num_nodes:
            raise DatasetError(
                f"node_types['{type_name}'] = [{start}, {stop}) is not within [0, {num_nodes})"
            )
        out[str(type_name)] = [start, stop]
    return out


def _extra(extra_meta: dict[str, Any] | None) -> dict[str, Any]:
    extra = dict(extra_meta or {})
    clash = sorted(set(extra) & set(_META_KEYS))
    if clash:
        raise DatasetError(f"extra_meta may not override reserved meta.json keys {clash}")
    return extra


def _write_nodes(path: Path, cols: dict[str, Any], feature_dim: int) -> None:
    arrays, fields = [], []
    for col, values in cols.items():
        if col == "feat":
            flat = pa.array(values.reshape(-1), type=pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, feature_dim))
            fields.append(pa.field("feat", pa.list_(pa.float32(), feature_dim), nullable=False))
        else:
            arrays.append(pa.array(values, type=NODE_COLUMNS[col]))
            fields.append(pa.field(col, NODE_COLUMNS[col], nullable=False))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    # One row group keeps the feature column in one Arrow chunk, so readers can view it as a
    # single numpy array without a copy.
    pq.write_table(table, path, row_group_size=max(1, table.num_rows), compression="zstd")


def _write_edges(path: Path, cols: dict[str, np.ndarray], row_group: int, compression: str) -> None:
    schema = pa.schema([pa.field(c, EDGE_COLUMNS[c], nullable=False) for c in cols])
    num_edges = cols["src"].size
    # Plain encoding: dictionary pages of near-random ids cost more to decode than they save.
    with pq.ParquetWriter(path, schema, compression=compression, use_dictionary=False) as writer:
        for start in range(0, num_edges, row_group):
            stop = min(start + row_group, num_edges)
            batch = pa.Table.from_arrays(
                [pa.array(v[start:stop], type=EDGE_COLUMNS[c]) for c, v in cols.items()],
                schema=schema,
            )
            writer.write_table(batch, row_group_size=row_group)
