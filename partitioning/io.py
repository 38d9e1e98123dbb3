"""Partitioned Parquet datasets: write all parts atomically, load one part alone.

Layout (``<out>`` is usually ``<dataset>.parts/<k>``)::

    meta.json        format_version, num_parts, num_nodes, num_edges, hub_threshold, seed,
                     balance, ufactor, halo_hops, strategy, metrics, per-part sizes, source
    book.parquet     id, owner, local_id, is_hub            (see partitioning.book)
    hubs.parquet     hub, part, is_master, edges, weight    (one row per hub copy)
    part-00000/
      nodes.parquet  global_id int64 in local-id order, kind int8 (0 owned, 1 mirror, 2 halo),
                     hop int8, degree float64 (weighted in-degree in the whole graph),
                     optional label int64, split int8, feat fixed_size_list<float32>
      edges.parquet  src, dst (local ids, int32, CSR order), optional weight float32

A worker calls :func:`load_partition` and reads ``meta.json``, ``hubs.parquet`` and its own
folder only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsgraph.errors import DatasetError
from dsgraph.graph import CSRGraph
from dsgraph.storage.atomic import atomic_dir
from partitioning.book import (
    BOOK_FILE,
    FORMAT_VERSION,
    HUBS_FILE,
    META_FILE,
    book_table,
    hubs_table,
    part_dir_name,
    read_hubs,
    read_meta,
)
from partitioning.local import LocalPartition, build_local
from partitioning.metrics import PartitionMetrics
from partitioning.result import PartitionResult


def global_in_degrees(graph: CSRGraph) -> np.ndarray:
    """float64 ``[N]`` weighted in-degree of every node of ``graph`` (edge count if unweighted).

    Stored per local node so that degree-normalised models (GCN, LightGCN) normalise halo nodes,
    whose rows a part holds only partly, by their true degree.
    """
    return np.bincount(graph.indices, weights=graph.weights, minlength=graph.num_nodes).astype(
        np.float64, copy=False
    )


def _nodes_table(
    local: LocalPartition,
    features: np.ndarray | None,
    labels: np.ndarray | None,
    split: np.ndarray | None,
    degrees: np.ndarray,
) -> pa.Table:
    ids = local.local_to_global
    cols: dict[str, pa.Array] = {
        "global_id": pa.array(ids),
        "kind": pa.array(local.kind),
        "hop": pa.array(local.hop),
        "degree": pa.array(degrees[ids]),
    }
    if labels is not None:
        cols["label"] = pa.array(np.asarray(labels, dtype=np.int64)[ids])
    if split is not None:
        cols["split"] = pa.array(np.asarray(split, dtype=np.int8)[ids])
    if features is not None:
        rows = np.ascontiguousarray(np.asarray(features, dtype=np.float32)[ids])
        dim = rows.shape[1]
        cols["feat"] = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), dim)
    return pa.table(cols)


def _edges_table(graph: CSRGraph) -> pa.Table:
    src, dst = graph.edges()
    cols = {"src": pa.array(src.astype(np.int32)), "dst": pa.array(dst.astype(np.int32))}
    if graph.weights is not None:
        cols["weight"] = pa.array(graph.weights)
    return pa.table(cols)


def write_partitioned(
    out: str | Path,
    graph: CSRGraph,
    result: PartitionResult,
    *,
    halo_hops: int = 1,
    features: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    split: np.ndarray | None = None,
    metrics: PartitionMetrics | None = None,
    extra_meta: dict[str, Any] | None = None,
    on_part: Callable[[int], None] | None = None,
) -> Path:
    """Write ``result`` of ``graph`` as a partitioned dataset at ``out``, atomically.

    Node attributes (``features`` ``[N, D]``, ``labels`` ``[N]``, ``split`` ``[N]``) are copied
    to every part that holds the node (owned, mirror or halo). ``on_part(i)`` is called after
    each part is written (progress bars). An existing ``out`` is replaced only on success.
    """
    if graph.num_nodes != result.num_nodes:
        raise DatasetError(
            f"partition covers {result.num_nodes} nodes but the graph has {graph.num_nodes}"
        )
    out = Path(out)
    edge_part = result.edge_owner(graph)
    degrees = global_in_degrees(graph)
    parts_meta = []
    with atomic_dir(out) as tmp:
        for part in range(result.num_parts):
            local = build_local(graph, result, part, halo_hops, edge_part)
            folder = tmp / part_dir_name(part)
            folder.mkdir()
            pq.write_table(
                _nodes_table(local, features, labels, split, degrees), folder / "nodes.parquet"
            )
            pq.write_table(_edges_table(local.graph), folder / "edges.parquet")
            parts_meta.append(
                {
                    "owned": int(np.count_nonzero(local.kind == 0)),
                    "mirrors": int(np.count_nonzero(local.kind == 1)),
                    "halo": int(np.count_nonzero(local.kind == 2)),
                    "edges": int(local.graph.num_edges),
                    "owned_edges": int(np.count_nonzero(edge_part == part)),
                }
            )
            if on_part is not None:
                on_part(part)
        pq.write_table(book_table(result), tmp / BOOK_FILE)
        pq.write_table(hubs_table(result.hubs), tmp / HUBS_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "num_parts": result.num_parts,
            "num_nodes": graph.num_nodes,
            "num_edges": graph.num_edges,
            "weighted": graph.weights is not None,
            "hub_threshold": result.hub_threshold,
            "seed": result.seed,
            "balance": list(result.balance),
            "ufactor": result.ufactor,
            "strategy": result.strategy,
            "halo_hops": halo_hops,
            "feature_dim": 0 if features is None else int(np.asarray(features).shape[1]),
            "has_labels": labels is not None,
            "has_split": split is not None,
            "parts": parts_meta,
            "metrics": None if metrics is None else metrics.to_dict(),
            **(extra_meta or {}),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def load_partition(parts_dir: str | Path, part_id: int) -> LocalPartition:
    """Load one part of a partitioned dataset without reading the other parts."""
    parts_dir = Path(parts_dir)
    meta = read_meta(parts_dir)
    k = meta["num_parts"]
    if not isinstance(part_id, int | np.integer) or not 0 <= part_id < k:
        raise DatasetError(f"{parts_dir}: part {part_id!r} is out of range [0, {k})")
    folder = parts_dir / part_dir_name(int(part_id))
    nodes_path, edges_path = folder / "nodes.parquet", folder / "edges.parquet"
    for path in (nodes_path, edges_path):
        if not path.is_file():
            raise DatasetError(f"partition file {path} is missing")
    nodes = pq.read_table(nodes_path, memory_map=True)
    edges = pq.read_table(edges_path, memory_map=True)
    for name, table, path in (
        ("global_id", nodes, nodes_path),
        ("kind", nodes, nodes_path),
        ("hop", nodes, nodes_path),
        ("src", edges, edges_path),
        ("dst", edges, edges_path),
    ):
        if name not in table.column_names:
            raise DatasetError(f"{path}: column '{name}' is missing")
    num_local = nodes.num_rows
    weight = edges.column("weight").to_numpy() if "weight" in edges.column_names else None
    graph = CSRGraph.from_edges(
        edges.column("src").to_numpy(), edges.column("dst").to_numpy(), num_local, weight
    )
    features = None
    if "feat" in nodes.column_names:
        col = nodes.column("feat").combine_chunks()
        features = col.flatten().to_numpy().reshape(num_local, col.type.list_size)
    return LocalPartition(
        part_id=int(part_id),
        num_parts=k,
        graph=graph,
        local_to_global=nodes.column("global_id").to_numpy(),
        kind=nodes.column("kind").to_numpy(),
        hop=nodes.column("hop").to_numpy(),
        hubs=read_hubs(parts_dir / HUBS_FILE),
        features=features,
        labels=nodes.column("label").to_numpy() if "label" in nodes.column_names else None,
        split=nodes.column("split").to_numpy() if "split" in nodes.column_names else None,
        degrees=nodes.column("degree").to_numpy() if "degree" in nodes.column_names else None,
    )
