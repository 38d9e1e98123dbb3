"""Node classification task: split handling, deterministic batches, accuracy."""

from __future__ import annotations

import numpy as np
import torch

from dsgraph.config import ModelConfig, config_from_dict
from dsgraph.graph import CSRGraph
from dsgraph.models.registry import build_model
from dsgraph.tasks.node_classification import NodeClassificationTask


def two_communities(n: int = 60, seed: int = 0) -> tuple[CSRGraph, torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    src, dst = rng.integers(0, n, 600), rng.integers(0, n, 600)
    same = labels[src] == labels[dst]
    graph = CSRGraph.from_edges(src[same], dst[same], n, symmetrize=True)
    x = torch.randn(n, 4) + torch.from_numpy(labels)[:, None].float()
    return graph, x, labels


def make_task(batch_size: int = 8) -> NodeClassificationTask:
    graph, x, labels = two_communities()
    split = np.tile(np.array([1, 2, 3], dtype=np.int8), 20)
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": "unused"},
            "model": {"name": "gcn"},
            "task": {"kind": "node_classification"},
            "train": {"batch_size": batch_size},
        }
    )
    return NodeClassificationTask(graph, x, labels, split, cfg)


def test_batches_cover_train_nodes_once_per_epoch() -> None:
    task = make_task()
    rows = torch.cat([task.batch(0, i).targets["rows"] for i in range(task.num_batches())])
    assert sorted(rows.tolist()) == sorted(task.train_nodes.tolist())
    again = task.batch(0, 1).targets["rows"]
    assert torch.equal(again, task.batch(0, 1).targets["rows"])


def test_training_reaches_high_accuracy_on_separable_communities() -> None:
    task = make_task(batch_size=64)
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(name="gcn", hidden_dim=8, num_layers=2, dropout=0.0),
        num_nodes=task.num_nodes,
        in_dim=task.in_dim,
        out_dim=task.out_dim,
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        task.loss(model, task.batch(0, 0)).backward()
        opt.step()
    scores = task.evaluate(model)
    assert scores["test_accuracy"] > 0.9
    assert task.baseline()["test_accuracy"] < 0.7


def test_unlabelled_nodes_are_left_out() -> None:
    graph, x, labels = two_communities()
    labels = labels.copy()
    labels[:10] = -1
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": "unused"},
            "model": {"name": "gcn"},
            "task": {"kind": "node_classification"},
        }
    )
    task = NodeClassificationTask(graph, x, labels, np.ones(60, dtype=np.int8), cfg)
    assert task.train_nodes.min() >= 10 and task.out_dim == 2
