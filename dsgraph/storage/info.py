"""Summary statistics of a dataset directory, for ``dsgraph info`` and for reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dsgraph.storage.reader import read_dataset

DEFAULT_HUB_THRESHOLD = 1000


def dir_size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def dataset_stats(
    path: str | os.PathLike[str], hub_threshold: int = DEFAULT_HUB_THRESHOLD
) -> dict[str, Any]:
    """Nodes, edges, degree distribution, hubs, features, classes, splits and size on disk.

    Degrees are out-degrees of the CSR (for undirected datasets, the symmetrised graph, so
    they equal plain degrees). ``hub_edge_share`` is the fraction of CSR edges whose source
    is a node of degree > ``hub_threshold``.
    """
    ds = read_dataset(path, load_features=False)
    meta, g = ds.meta, ds.graph
    deg = g.degrees()
    hubs = deg > hub_threshold
    stats: dict[str, Any] = {
        "name": meta.name,
        "path": str(Path(path).resolve()),
        "directed": meta.directed,
        "num_nodes": meta.num_nodes,
        "edge_rows": meta.num_edges,
        "csr_edges": g.num_edges,
        "weighted": g.weights is not None,
        "isolated_nodes": int(np.count_nonzero(deg == 0))
        if meta.directed is False
        else int(np.count_nonzero((deg == 0) & (g.in_degrees() == 0))),
        "degree_min": int(deg.min()),
        "degree_median": float(np.median(deg)),
        "degree_mean": float(deg.mean()),
        "degree_p99": float(np.percentile(deg, 99)),
        "degree_max": int(deg.max()),
        "hub_threshold": hub_threshold,
        "hubs": int(hubs.sum()),
        "hub_edge_share": float(deg[hubs].sum() / max(g.num_edges, 1)),
        "feature_dim": meta.feature_dim,
        "num_classes": meta.num_classes,
        "node_splits": meta.splits,
        "edge_splits": meta.edge_splits,
        "node_types": meta.node_types,
        "edge_columns": list(ds.edges.columns),
        "csr_bytes": g.nbytes,
        "size_on_disk_bytes": dir_size_bytes(Path(path)),
    }
    return stats
