"""Partition a Parquet dataset on disk into a partitioned dataset (the CLI's library call)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsgraph.storage import read_dataset
from partitioning.api import DEFAULT_HUB_THRESHOLD, partition
from partitioning.io import write_partitioned
from partitioning.metrics import PartitionMetrics, evaluate
from partitioning.result import PartitionResult


def partition_dataset(
    data: str | Path,
    out: str | Path,
    num_parts: int,
    *,
    hub_threshold: int | None = DEFAULT_HUB_THRESHOLD,
    balance: str = "nodes+edges",
    halo_hops: int = 1,
    ufactor: int = 30,
    seed: int = 0,
    edge_weights: bool = False,
    on_part: Callable[[int], None] | None = None,
) -> tuple[PartitionResult, PartitionMetrics]:
    """Read dataset ``data``, partition its graph and write the parts to ``out`` atomically.

    Train nodes (node split 1) become a balance constraint when the dataset has node splits.
    """
    dataset = read_dataset(data)
    graph = dataset.graph
    train = None
    if dataset.split is not None and bool((dataset.split == 1).any()):
        train = dataset.split == 1
    result = partition(
        graph,
        num_parts,
        hub_threshold=hub_threshold,
        balance=balance,
        train_mask=train,
        ufactor=ufactor,
        seed=seed,
        edge_weights=edge_weights,
    )
    metrics = evaluate(graph, result, train)
    features = None if dataset.features is None else np.asarray(dataset.features.numpy())
    write_partitioned(
        out,
        graph,
        result,
        halo_hops=halo_hops,
        features=features,
        labels=dataset.labels,
        split=dataset.split,
        metrics=metrics,
        extra_meta={"source": str(Path(data).resolve()), "name": dataset.meta.name},
        on_part=on_part,
    )
    return result, metrics
