"""Read a dataset directory into a :class:`GraphDataset`, validating it against ``meta.json``.

The CSR is built from ``edges.parquet`` row group by row group in two passes (count, then fill) so
peak memory stays near the final CSR plus one row group. The raw edge rows are loaded only when
``GraphDataset.edges`` is used. Features become a torch tensor that views Arrow memory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsgraph.errors import DatasetError, GraphFormatError
from dsgraph.graph import CSRBuilder, CSRGraph, check_node_ids
from dsgraph.storage.schema import (
    EDGE_COLUMNS,
    EDGES_FILE,
    NODES_FILE,
    REQUIRED_EDGE_COLUMNS,
    SPLIT_CODES,
    SPLIT_TEST,
    SPLIT_TRAIN,
    SPLIT_VAL,
    DatasetMeta,
)

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import Data


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file, turning "missing" and "not Parquet" into :class:`DatasetError`."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    try:
        return pq.ParquetFile(path, memory_map=False)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None


def _check_column_type(path: Path, name: str, actual: pa.DataType, expected: pa.DataType) -> None:
    ok = actual == expected
    if not ok and pa.types.is_integer(expected):
        ok = pa.types.is_integer(actual)
    if not ok and name == "split":
        ok = pa.types.is_dictionary(actual) or pa.types.is_string(actual)
    if not ok:
        raise DatasetError(f"{path}: column '{name}' has type {actual}, expected {expected}")


class EdgeTable:
    """The raw rows of ``edges.parquet`` (as stored, not symmetrised), loaded column by column.

    ``src``/``dst`` are int64 [E]; ``weight`` float32, ``timestamp`` int64, ``split`` and ``type``
    int8, or ``None`` when the column is absent.
    """

    def __init__(self, path: Path, num_edges: int) -> None:
        self.path = path
        self.num_edges = num_edges
        self._file = open_parquet(path)
        self.columns = tuple(self._file.schema_arrow.names)
        for col in REQUIRED_EDGE_COLUMNS:
            if col not in self.columns:
                raise DatasetError(
                    f"{path}: required column '{col}' is missing (found {list(self.columns)})"
                )
        for col in self.columns:
            if col in EDGE_COLUMNS:
                _check_column_type(
                    path, col, self._file.schema_arrow.field(col).type, EDGE_COLUMNS[col]
                )
        if self._file.metadata.num_rows != num_edges:
            raise DatasetError(
                f"{path}: holds {self._file.metadata.num_rows} rows but meta.json says "
                f"num_edges={num_edges}"
            )

    def __len__(self) -> int:
        return self.num_edges

    def _column(self, name: str) -> np.ndarray | None:
        if name not in self.columns:
            return None
        col = self._file.read(columns=[name]).column(name)
        return _to_numpy(col, self.path, name).astype(_numpy_type(name), copy=False)

    def row_groups(self, columns: Iterable[str]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Yield (first row, {column: numpy array}) per row group; absent columns are skipped."""
        cols = [c for c in columns if c in self.columns]
        start = 0
        for i in range(self._file.num_row_groups):
            table = self._file.read_row_group(i, columns=cols)
            yield (
                start,
                {
                    c: _to_numpy(table.column(c), self.path, c).astype(_numpy_type(c), copy=False)
                    for c in cols
                },
            )
            start += table.num_rows

    @cached_property
    def src(self) -> np.ndarray:
        return self._column("src")

    @cached_property
    def dst(self) -> np.ndarray:
        return self._column("dst")

    @cached_property
    def weight(self) -> np.ndarray | None:
        return self._column("weight")

    @cached_property
    def timestamp(self) -> np.ndarray | None:
        return self._column("timestamp")

    @cached_property
    def type(self) -> np.ndarray | None:
        return self._column("type")

    @cached_property
    def split(self) -> np.ndarray | None:
        if "split" not in self.columns:
            return None
        col = self._file.read(columns=["split"]).column("split")
        return _split_to_codes(col, self.path)


def _numpy_type(column: str) -> np.dtype:
    return {"weight": np.float32, "type": np.int8, "split": np.int8}.get(column, np.int64)


def _to_numpy(col: pa.ChunkedArray | pa.Array, path: Path, name: str) -> np.ndarray:
    if col.null_count:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        row = int(np.argmax(np.asarray(arr.is_null())))
        raise DatasetError(f"{path}: column '{name}' row {row} is null")
    return col.to_numpy()


def _split_to_codes(col: pa.ChunkedArray, path: Path) -> np.ndarray:
    if col.null_count:
        _to_numpy(col, path, "split")
    if pa.types.is_integer(col.type):
        codes = col.to_numpy()
    else:
        names = np.asarray(col.cast(pa.string()).to_pylist(), dtype=object)
        codes = np.full(names.size, -1, dtype=np.int64)
        for split_name, code in SPLIT_CODES.items():
            codes[names == split_name] = code
        names_ok = codes >= 0
        if not names_ok.all():
            row = int(np.argmax(~names_ok))
            raise DatasetError(
                f"{path}: column 'split' row {row}: unknown split {str(names[row])!r}; "
                f"allowed {sorted(SPLIT_CODES)}"
            )
    bad = (codes < 0) | (codes > SPLIT_TEST)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"{path}: column 'split' row {row}: code {codes[row]} not in 0..3")
    return codes.astype(np.int8, copy=False)


def build_csr(
    edges: EdgeTable,
    num_nodes: int,
    directed: bool,
    edge_splits: Iterable[int] | None = None,
    weighted: bool = True,
) -> CSRGraph:
    """CSR of the edge rows in two streamed passes; symmetrised and de-duplicated if undirected
    (repeated pairs keep their largest weight).

    ``edge_splits`` keeps only rows whose ``split`` code is listed (e.g. ``(1,)`` for the
    training interactions). Ids are validated per row group; errors name the global row.
    """
    selector = ["split"] if edge_splits is not None else []
    if edge_splits is not None:
        if "split" not in edges.columns:
            raise DatasetError(f"{edges.path}: no 'split' column to select edge splits from")
        keep_codes = np.asarray(sorted(set(edge_splits)), dtype=np.int8)
    weighted = weighted and "weight" in edges.columns
    builder = CSRBuilder(num_nodes, weighted=weighted)

    def checked(start: int, arrays: dict[str, np.ndarray], column: str) -> np.ndarray:
        try:
            check_node_ids(arrays[column], num_nodes, column)
        except GraphFormatError as exc:
            raise DatasetError(f"{edges.path}: {_shift_row(str(exc), start)}") from None
        if edge_splits is None:
            return arrays[column]
        return arrays[column][np.isin(arrays["split"], keep_codes)]

    # Pass 1 decodes only what counting needs: sources (and targets when symmetrising).
    # Directed graphs validate dst in pass 2, when it is decoded anyway.
    pass1 = ["src"] if directed else ["src", "dst"]
    for start, arrays in edges.row_groups(pass1 + selector):
        builder.count(checked(start, arrays, "src"))
        if not directed:
            builder.count(checked(start, arrays, "dst"))
    pass2 = ["src", "dst", *selector, *(["weight"] if weighted else [])]
    for start, arrays in edges.row_groups(pass2):
        src = arrays["src"] if edge_splits is None else checked(start, arrays, "src")
        dst = (
            checked(start, arrays, "dst") if directed or edge_splits is not None else arrays["dst"]
        )
        w = None
        if weighted:
            w = arrays["weight"]
            if edge_splits is not None:
                w = w[np.isin(arrays["split"], keep_codes)]
        builder.fill(src, dst, w)
        if not directed:
            builder.fill(dst, src, w)
    # Undirected: a pair stored in both directions or repeated keeps its largest weight, the
    # same in both directions whatever the row order (matches CSRGraph.from_edges).
    return builder.finish(dedupe=not directed, combine="max")


def _shift_row(message: str, offset: int) -> str:
    """Rewrite "row i" in a per-chunk error message to the global row ``offset + i``."""
    import re

    return re.sub(r"row (\d+)", lambda m: f"row {int(m.group(1)) + offset}", message, count=1)


@dataclass
class GraphDataset:
    """A dataset read from disk. ``graph`` is symmetrised when ``meta.directed`` is False.

    ``features`` is float32 [N, D] (a view of Arrow memory, read-only in spirit: copy before
    writing), ``labels`` int64 [N] (−1 unknown), ``split`` int8 [N] (0 none, 1 train, 2 val,
    3 test), ``node_type`` int8 [N]; each is ``None`` when the dataset has none.
    """

    path: Path
    meta: DatasetMeta
    graph: CSRGraph
    edges: EdgeTable
    features: torch.Tensor | None = None
    labels: np.ndarray | None = None
    split: np.ndarray | None = None
    node_type: np.ndarray | None = None
    _graph_cache: dict[tuple, CSRGraph] = field(default_factory=dict, repr=False)

    @property
    def num_nodes(self) -> int:
        return self.meta.num_nodes

    @property
    def num_users(self) -> int | None:
        return self.meta.num_users

    @property
    def num_items(self) -> int | None:
        return self.meta.num_items

    def _mask(self, code: int) -> np.ndarray:
        if self.split is None:
            raise DatasetError(f"{self.path}: dataset '{self.meta.name}' has no node split")
        return self.split == code

    def train_mask(self) -> np.ndarray:
        return self._mask(SPLIT_TRAIN)

    def val_mask(self) -> np.ndarray:
        return self._mask(SPLIT_VAL)

    def test_mask(self) -> np.ndarray:
        return self._mask(SPLIT_TEST)

    def graph_for_edge_split(self, *splits: str) -> CSRGraph:
        """CSR built only from the edge rows of the named splits ("train", "val", "test").

        For link prediction / recommendation: train on ``graph_for_edge_split("train")`` so
        held-out interactions never leak into message passing. Cached per split set.
        """
        unknown = [s for s in splits if s not in SPLIT_CODES]
        if unknown or not splits:
            raise DatasetError(f"edge splits must be among {sorted(SPLIT_CODES)}, got {splits}")
        key = tuple(sorted(SPLIT_CODES[s] for s in splits))
        if key not in self._graph_cache:
            self._graph_cache[key] = build_csr(
                self.edges, self.num_nodes, self.meta.directed, edge_splits=key
            )
        return self._graph_cache[key]

    def to_pyg(self) -> Data:
        """A PyG ``Data``: edge_index (of ``graph``), x, y and train/val/test masks if present."""
        import torch

        data = self.graph.to_pyg()
        if self.features is not None:
            data.x = self.features
        if self.labels is not None:
            data.y = torch.from_numpy(self.labels)
        if self.split is not None:
            data.train_mask = torch.from_numpy(self.train_mask())
            data.val_mask = torch.from_numpy(self.val_mask())
            data.test_mask = torch.from_numpy(self.test_mask())
        return data


def read_dataset(path: str | os.PathLike[str], *, load_features: bool = True) -> GraphDataset:
    """Read and validate a dataset directory; errors are :class:`DatasetError` naming the file."""
    root = Path(path)
    meta = DatasetMeta.read(root)
    if meta.num_nodes == 0:
        raise DatasetError(f"{root}: empty graph (num_nodes=0 in meta.json)")
    if meta.num_edges == 0:
        raise DatasetError(f"{root}: empty graph (num_edges=0 in meta.json)")
    edges = EdgeTable(root / EDGES_FILE, meta.num_edges)
    node_data = _read_nodes(root / NODES_FILE, meta, load_features)
    graph = build_csr(edges, meta.num_nodes, meta.directed)
    if meta.edge_splits is not None and edges.split is not None:
        counts = np.bincount(edges.split, minlength=4)
        for split_name, n in meta.edge_splits.items():
            if counts[SPLIT_CODES[split_name]] != n:
                raise DatasetError(
                    f"{edges.path}: column 'split' has {counts[SPLIT_CODES[split_name]]} "
                    f"'{split_name}' rows but meta.json edge_splits says {n}"
                )
    return GraphDataset(path=root, meta=meta, graph=graph, edges=edges, **node_data)


def _read_nodes(path: Path, meta: DatasetMeta, load_features: bool) -> dict[str, Any]:
    pfile = open_parquet(path)
    schema = pfile.schema_arrow
    if "id" not in schema.names:
        raise DatasetError(f"{path}: required column 'id' is missing (found {schema.names})")
    if pfile.metadata.num_rows != meta.num_nodes:
        raise DatasetError(
            f"{path}: holds {pfile.metadata.num_rows} rows but meta.json says "
            f"num_nodes={meta.num_nodes}"
        )
    for col in ("id", "label", "split", "type"):
        if col in schema.names:
            _check_column_type(path, col, schema.field(col).type, _NODE_TYPES[col])
    has_feat = "feat" in schema.names
    if meta.feature_dim > 0 and not has_feat:
        raise DatasetError(
            f"{path}: meta.json says feature_dim={meta.feature_dim} but column 'feat' is missing"
        )
    if has_feat:
        ftype = schema.field("feat").type
        if not (pa.types.is_fixed_size_list(ftype) and ftype.value_type == pa.float32()):
            raise DatasetError(
                f"{path}: column 'feat' has type {ftype}, expected fixed_size_list<float32>"
            )
        if ftype.list_size != meta.feature_dim:
            raise DatasetError(
                f"{path}: column 'feat' has width {ftype.list_size} but meta.json says "
                f"feature_dim={meta.feature_dim}"
            )
    columns = [c for c in ("id", "label", "split", "type") if c in schema.names]
    if has_feat and load_features:
        columns.append("feat")
    table = pfile.read(columns=columns)

    ids = _to_numpy(table.column("id"), path, "id")
    wrong = ids != np.arange(meta.num_nodes)
    if wrong.any():
        row = int(np.argmax(wrong))
        raise DatasetError(f"{path}: column 'id' row {row} is {ids[row]}, expected {row} (0..N-1)")
    out: dict[str, Any] = {}
    if "label" in table.column_names:
        labels = _to_numpy(table.column("label"), path, "label").astype(np.int64, copy=False)
        limit = meta.num_classes if meta.num_classes > 0 else np.iinfo(np.int64).max
        bad = (labels < -1) | (labels >= limit)
        if bad.any():
            row = int(np.argmax(bad))
            raise DatasetError(
                f"{path}: column 'label' row {row} is {labels[row]}, allowed −1 (unknown) to "
                f"num_classes − 1 = {meta.num_classes - 1}"
            )
        out["labels"] = labels
    if "split" in table.column_names:
        out["split"] = _split_to_codes(table.column("split"), path)
        if meta.splits is not None:
            counts = np.bincount(out["split"], minlength=4)
            for split_name, n in meta.splits.items():
                if counts[SPLIT_CODES[split_name]] != n:
                    raise DatasetError(
                        f"{path}: column 'split' has {counts[SPLIT_CODES[split_name]]} "
                        f"'{split_name}' nodes but meta.json splits says {n}"
                    )
    if "type" in table.column_names:
        out["node_type"] = _to_numpy(table.column("type"), path, "type").astype(np.int8)
    if "feat" in table.column_names:
        out["features"] = _feature_tensor(table.column("feat"), path, meta.feature_dim)
    return out


_NODE_TYPES = {"id": pa.int64(), "label": pa.int64(), "split": pa.int8(), "type": pa.int8()}


def feature_view(col: pa.ChunkedArray, path: Path, dim: int) -> np.ndarray:
    """[N, dim] float32 numpy view of a fixed_size_list<float32> column (no copy if 1 chunk)."""
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if arr.null_count:
        row = int(np.argmax(np.asarray(arr.is_null())))
        raise DatasetError(f"{path}: column 'feat' row {row} is null")
    flat = arr.flatten()  # the child values, sliced to this array's offset: still no copy
    if flat.null_count:
        pos = int(np.argmax(np.asarray(flat.is_null())))
        raise DatasetError(f"{path}: column 'feat' row {pos // dim} holds a null value")
    values = flat.to_numpy(zero_copy_only=True).reshape(len(arr), dim)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        row = int(np.argmax(~finite))
        raise DatasetError(
            f"{path}: column 'feat' row {row} holds NaN or infinity "
            f"({values[row][~np.isfinite(values[row])][0]})"
        )
    return values


def _feature_tensor(col: pa.ChunkedArray, path: Path, dim: int) -> torch.Tensor:
    import torch

    values = feature_view(col, path, dim)
    with warnings.catch_warnings():
        # Arrow buffers are immutable, so numpy marks the view read-only; torch warns about
        # that on every from_numpy. The tensor is documented as not to be written in place.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(values)
