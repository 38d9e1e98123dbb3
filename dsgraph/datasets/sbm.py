"""Labelled stochastic block model with class-correlated features, for node classification.

Holland, Laskey & Leinhardt, "Stochastic blockmodels: First steps", Social Networks 1983. Each of
``num_edges`` undirected edges picks a uniform source; with probability ``homophily`` its target
is drawn from the source's class, otherwise from another class (a planted-partition SBM with a
fixed edge count). Features are a class centroid plus Gaussian noise, so features alone classify
only part of the nodes and neighbourhood aggregation helps.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dsgraph.errors import GraphFormatError
from dsgraph.graph import CSRGraph
from dsgraph.storage.schema import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL


def sbm_graph(
    num_nodes: int,
    num_classes: int,
    feature_dim: int,
    avg_degree: float = 10.0,
    *,
    homophily: float = 0.8,
    feature_noise: float = 1.5,
    train_per_class: int = 20,
    num_val: int = 500,
    num_test: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Arrays of a labelled SBM graph ready for :func:`~dsgraph.storage.write_dataset`.

    Returns ``src``/``dst`` (int64, each undirected edge once, no self-loops or duplicates),
    ``features`` float32 [N, D], ``labels`` int64 [N] (balanced classes), ``split`` int8 [N]
    (``train_per_class`` per class, then ``num_val``, ``num_test`` nodes; fewer when N is small).
    Deterministic in its arguments.
    """
    if num_classes < 2 or num_nodes < 2 * num_classes:
        raise GraphFormatError(
            f"need num_classes ≥ 2 and num_nodes ≥ 2·num_classes, got {num_nodes}, {num_classes}"
        )
    if feature_dim < 1 or avg_degree <= 0 or not 0 <= homophily <= 1:
        raise GraphFormatError(
            f"need feature_dim ≥ 1, avg_degree > 0 and homophily in [0, 1], got {feature_dim}, "
            f"{avg_degree}, {homophily}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_classes).astype(np.int64)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    sizes = np.array([m.size for m in members])
    offsets = np.r_[0, np.cumsum(sizes)]
    by_class = np.concatenate(members)

    num_edges = round(num_nodes * avg_degree / 2)
    src = rng.integers(0, num_nodes, num_edges)
    same = rng.random(num_edges) < homophily
    shift = rng.integers(1, num_classes, num_edges)  # any class but the source's
    dst_class = np.where(same, labels[src], (labels[src] + shift) % num_classes)
    pick = (rng.random(num_edges) * sizes[dst_class]).astype(np.int64)
    dst = by_class[offsets[dst_class] + pick]
    g = CSRGraph.from_edges(src, dst, num_nodes, symmetrize=True, drop_self_loops=True)
    s, d = g.edges()
    once = s < d

    centroids = rng.standard_normal((num_classes, feature_dim))
    features = centroids[labels] + feature_noise * rng.standard_normal((num_nodes, feature_dim))

    split = np.zeros(num_nodes, np.int8)
    order = rng.permutation(num_nodes)
    train = np.concatenate(
        [order[labels[order] == c][:train_per_class] for c in range(num_classes)]
    )
    split[train] = SPLIT_TRAIN
    rest = order[split[order] == 0]
    split[rest[:num_val]] = SPLIT_VAL
    split[rest[num_val : num_val + num_test]] = SPLIT_TEST
    return dict(
        src=s[once],
        dst=d[once],
        features=features.astype(np.float32),
        labels=labels,
        split=split,
    )


def generate_sbm(
    path: str | os.PathLike[str],
    num_nodes: int,
    num_classes: int,
    feature_dim: int,
    avg_degree: float = 10.0,
    *,
    seed: int = 0,
    name: str | None = None,
    **model: float,
) -> Path:
    """Write :func:`sbm_graph` as an undirected dataset with features, labels and node splits."""
    from dsgraph.storage.writer import write_dataset

    arrays = sbm_graph(num_nodes, num_classes, feature_dim, avg_degree, seed=seed, **model)
    return write_dataset(
        path,
        num_nodes=num_nodes,
        directed=False,
        name=name or f"sbm-n{num_nodes}-c{num_classes}",
        num_classes=num_classes,
        extra_meta={
            "generator": {
                "kind": "sbm",
                "num_nodes": num_nodes,
                "num_classes": num_classes,
                "feature_dim": feature_dim,
                "avg_degree": avg_degree,
                "seed": seed,
                **model,
            }
        },
        **arrays,
    )
