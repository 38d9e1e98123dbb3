"""Node classification: cross-entropy on the train split, accuracy on val/test."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dsgraph.config import RunConfig
from dsgraph.errors import DatasetError
from dsgraph.models.base import GraphInput, LayerwiseGNN
from dsgraph.tasks.base import Batch, epoch_permutation, eval_forward, prepare_features
from dsgraph.tasks.inputs import InputBuilder


class NodeClassificationTask:
    """Classify nodes of ``graph`` from ``features`` (or learnable embeddings when None).

    ``labels``: int64 [N] (−1 unknown); ``split``: int8 [N] (1 train, 2 val, 3 test). Batches are
    shuffled train nodes (``train.batch_size`` per step); the full-graph sampler runs the whole
    graph each step and reads the batch's rows.
    """

    kind = "node_classification"
    headline = "val_accuracy"

    def __init__(
        self,
        graph: Any,
        features: Tensor | None,
        labels: np.ndarray,
        split: np.ndarray,
        config: RunConfig,
        num_classes: int | None = None,
    ) -> None:
        self.graph = graph
        self.num_nodes = graph.num_nodes
        self.features = prepare_features(features, config.data.normalize_features)
        self.in_dim = 0 if features is None else int(features.shape[1])
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        split = np.asarray(split)
        self.train_nodes = np.flatnonzero((split == 1) & (np.asarray(labels) >= 0))
        self.val_nodes = np.flatnonzero((split == 2) & (np.asarray(labels) >= 0))
        self.test_nodes = np.flatnonzero((split == 3) & (np.asarray(labels) >= 0))
        if self.train_nodes.size == 0:
            raise DatasetError("node classification needs labelled nodes with split 'train'")
        self.out_dim = int(num_classes or int(self.labels.max()) + 1)
        self.batch_size = config.train.batch_size
        self.seed = config.train.seed
        self.inputs = InputBuilder(graph, self.features, config.sampler)

    @classmethod
    def from_dataset(cls, dataset: Any, config: RunConfig) -> NodeClassificationTask:
        name = dataset.path
        if dataset.labels is None:
            raise DatasetError(f"{name}: nodes.parquet has no 'label' column (node classification)")
        if dataset.split is None:
            raise DatasetError(f"{name}: nodes.parquet has no 'split' column (node classification)")
        return cls(
            dataset.graph,
            dataset.features,
            dataset.labels,
            dataset.split,
            config,
            num_classes=dataset.meta.num_classes or None,
        )

    def num_batches(self) -> int:
        return max(1, math.ceil(self.train_nodes.size / self.batch_size))

    def batch(self, epoch: int, index: int) -> Batch:
        perm = epoch_permutation(self.train_nodes.size, self.seed, epoch)
        nodes = self.train_nodes[perm[index * self.batch_size : (index + 1) * self.batch_size]]
        if self.inputs.samples_per_batch:
            graph = self.inputs.sample(nodes.astype(np.int64), epoch)
            rows = torch.arange(nodes.size)
        else:
            graph = self.inputs.for_epoch(epoch)
            rows = torch.from_numpy(nodes.astype(np.int64))
        targets = {"rows": rows, "labels": self.labels[torch.from_numpy(nodes)]}
        return Batch(graph, targets, epoch, index)

    def loss(self, model: LayerwiseGNN, batch: Batch) -> Tensor:
        out = model(batch.graph)[batch.targets["rows"]]
        # The loss is computed in fp32 whatever the autocast dtype of the logits.
        return torch.nn.functional.cross_entropy(out.float(), batch.targets["labels"])

    @torch.no_grad()
    def predict(self, model: LayerwiseGNN) -> Tensor:
        """Logits of every node from a full-graph forward in eval mode (float32 [N, C])."""
        return eval_forward(model, self.inputs.for_eval)

    def evaluate(self, model: LayerwiseGNN) -> dict[str, float]:
        pred = self.predict(model).argmax(dim=1)
        out = {}
        for name, nodes in (
            ("train", self.train_nodes),
            ("val", self.val_nodes),
            ("test", self.test_nodes),
        ):
            if nodes.size:
                idx = torch.from_numpy(nodes)
                out[f"{name}_accuracy"] = float((pred[idx] == self.labels[idx]).float().mean())
        return out

    def baseline(self) -> dict[str, float]:
        """Majority-class accuracy on val/test (what a model must beat)."""
        counts = torch.bincount(
            self.labels[torch.from_numpy(self.train_nodes)], minlength=self.out_dim
        )
        majority = int(counts.argmax())
        out = {}
        for name, nodes in (("val", self.val_nodes), ("test", self.test_nodes)):
            if nodes.size:
                labels = self.labels[torch.from_numpy(nodes)]
                out[f"{name}_accuracy"] = float((labels == majority).float().mean())
        return out

    def full_input(self) -> GraphInput:
        return self.inputs.for_eval()
