"""Graph partitioning: METIS k-way with hub splitting, partition book, partitioned datasets.

Entry points (imported lazily so ``import partitioning`` stays cheap)::

    partition(graph, k, *, hub_threshold=1000, balance="nodes+edges", train_mask=None,
              ufactor=30, seed=0, method="auto", edge_weights=False) -> PartitionResult
    random_partition(graph, k, *, seed=0) -> PartitionResult       # hash baseline
    evaluate(graph, result, train_mask=None) -> PartitionMetrics    # cut, imbalance, volume
    write_partitioned(out, graph, result, *, halo_hops=1, features=None, labels=None,
                      split=None, metrics=None) -> Path
    partition_dataset(data, out, k, ...) -> (PartitionResult, PartitionMetrics)
    load_partition(parts_dir, part_id) -> LocalPartition            # one part only
    PartitionBook(parts_dir)                                        # lazy global → part map

For samplers — a walk that reaches hub ``h`` continues with ``h``'s true transition
probabilities: ``hubs = result.hubs`` (or ``PartitionBook.hubs`` / ``LocalPartition.hubs``)
gives, per hub, its copies (``copy_ptr``/``copy_part``) with ``copy_edges`` (edge counts) and
``copy_weight`` (edge-weight sums, = counts when unweighted). Pick copy ``c`` with probability
``copy_weight[c] / Σ copy_weight`` of that hub, then an edge of the hub's row in part
``copy_part[c]`` in proportion to its weight: the product is exactly ``w(h, v) / Σ w(h, ·)``.

For message passing — aggregation over a hub is a partial aggregate per copy (each part
aggregates over the edges it owns) combined at ``hubs.master``; a node's value is sent only to
parts that hold it as halo (``LocalPartition.halo_mask``) or as a hub copy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "partition": "partitioning.api",
    "random_partition": "partitioning.api",
    "DEFAULT_HUB_THRESHOLD": "partitioning.api",
    "PartitionResult": "partitioning.result",
    "HubTable": "partitioning.result",
    "evaluate": "partitioning.metrics",
    "PartitionMetrics": "partitioning.metrics",
    "write_partitioned": "partitioning.io",
    "load_partition": "partitioning.io",
    "partition_dataset": "partitioning.dataset",
    "PartitionBook": "partitioning.book",
    "LocalPartition": "partitioning.local",
    "build_local": "partitioning.local",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'partitioning' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
