"""Build the task named by ``task.kind`` from a dataset."""

from __future__ import annotations

from typing import Any

from dsgraph.config import RunConfig


def build_task(dataset: Any, config: RunConfig) -> Any:
    """A :class:`NodeClassificationTask` or :class:`RecommendationTask` over ``dataset``."""
    if config.task.kind == "node_classification":
        from dsgraph.tasks.node_classification import NodeClassificationTask

        return NodeClassificationTask.from_dataset(dataset, config)
    from dsgraph.tasks.recommendation import RecommendationTask

    return RecommendationTask.from_dataset(dataset, config)
