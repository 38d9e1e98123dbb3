"""Edge-list text files (CSV/TSV/whitespace, SNAP-style ``#`` comments) → dataset.

Parsed with pyarrow's multi-threaded CSV reader, so files of tens of millions of rows convert
at disk speed. Node ids must be non-negative integers unless ``relabel`` maps arbitrary tokens
to 0..N-1 (in order of first appearance; the original token is kept in meta.json's extra only
for small graphs — large mappings belong in the source system).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dsgraph.errors import DatasetError, GraphFormatError
from dsgraph.graph import check_node_ids
from dsgraph.storage.writer import write_dataset


def _leading_comment_lines(path: Path, comment: str | None) -> int:
    if not comment:
        return 0
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith(comment):
                break
            n += 1
    return n


def _column(table: pa.Table, spec: int | str, path: Path, role: str) -> tuple[str, pa.Array]:
    names = table.column_names
    if isinstance(spec, int):
        if not 0 <= spec < len(names):
            raise DatasetError(
                f"{path}: {role} column index {spec} out of range; the file has {len(names)} "
                f"columns {names}"
            )
        name = names[spec]
    else:
        if spec not in names:
            raise DatasetError(f"{path}: {role} column '{spec}' not found; columns are {names}")
        name = spec
    col = table.column(name).combine_chunks()
    if col.null_count:
        row = int(np.argmax(np.asarray(col.is_null())))
        raise DatasetError(f"{path}: {role} column '{name}' row {row} is empty")
    return name, col


def _int_ids(col: pa.Array, name: str, path: Path) -> np.ndarray:
    if pa.types.is_integer(col.type):
        return col.to_numpy().astype(np.int64, copy=False)
    try:
        return pc.cast(col.cast(pa.string()), pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        pass
    for row, token in enumerate(col.cast(pa.string()).to_pylist()):
        try:
            int(token)
        except ValueError:
            raise GraphFormatError(
                f"{path}: column '{name}' row {row}: node id {token!r} is not an integer "
                f"(pass relabel=True / --relabel to map arbitrary ids to 0..N-1)"
            ) from None
    raise GraphFormatError(f"{path}: column '{name}' holds ids that do not fit int64")


def convert_edge_list(
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    header: bool = False,
    src_col: int | str = 0,
    dst_col: int | str = 1,
    weight_col: int | str | None = None,
    directed: bool = False,
    num_nodes: int | None = None,
    comment: str | None = "#",
    relabel: bool = False,
    name: str | None = None,
) -> Path:
    """Convert an edge-list file to a dataset directory.

    ``delimiter`` defaults to tab for ``.tsv``/``.txt`` files and comma otherwise. Columns are
    chosen by index or (with ``header``) by name. ``num_nodes`` defaults to max id + 1.
    """
    path = Path(file)
    if not path.is_file():
        raise DatasetError(f"{path}: no such edge-list file")
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt", ".tab") else ","
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    skip = _leading_comment_lines(path, comment)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=skip, autogenerate_column_names=not header),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot parse as delimited text ({exc})") from None
    if table.num_rows == 0:
        raise DatasetError(f"{path}: no edges (empty graph)")
    src_name, src_arr = _column(table, src_col, path, "source")
    dst_name, dst_arr = _column(table, dst_col, path, "destination")
    extra: dict = {"source": f"edge list ({path.resolve()})"}
    weight = None
    if weight_col is not None:
        w_name, w_arr = _column(table, weight_col, path, "weight")
        if not (pa.types.is_integer(w_arr.type) or pa.types.is_floating(w_arr.type)):
            raise DatasetError(f"{path}: weight column '{w_name}' is {w_arr.type}, not numeric")
        weight = w_arr.to_numpy().astype(np.float32)
    if relabel:
        tokens = pa.concat_arrays([src_arr.cast(pa.string()), dst_arr.cast(pa.string())])
        uniques = pc.unique(tokens)
        codes = pc.index_in(tokens, value_set=uniques).to_numpy().astype(np.int64)
        src, dst = codes[: len(src_arr)], codes[len(src_arr) :]
        num_nodes = len(uniques) if num_nodes is None else num_nodes
        if len(uniques) <= 100_000:
            extra["original_ids"] = uniques.to_pylist()
    else:
        src = _int_ids(src_arr, src_name, path)
        dst = _int_ids(dst_arr, dst_name, path)
        try:
            check_node_ids(src, num_nodes, src_name)
            check_node_ids(dst, num_nodes, dst_name)
        except GraphFormatError as exc:
            raise GraphFormatError(f"{path}: {exc}") from None
        if num_nodes is None:
            num_nodes = int(max(src.max(), dst.max())) + 1
    return write_dataset(
        out,
        src=src,
        dst=dst,
        num_nodes=num_nodes,
        directed=directed,
        name=name or path.stem,
        weight=weight,
        extra_meta=extra,
    )
