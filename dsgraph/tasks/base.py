"""What every task offers the trainer: deterministic batches, a loss, an evaluation.

A task owns the data split and the sampling of its batches. ``batch(epoch, index)`` is a pure
function of (seed, epoch, index), so a resumed run regenerates exactly the batches an
uninterrupted run would have seen, and a worker actor can produce any batch on demand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from dsgraph.models.base import GraphInput, LayerwiseGNN


@dataclass
class Batch:
    """One training step's input: the graph the model runs on and the task's targets.

    ``graph``: the (full or sampled) :class:`GraphInput`; ``targets``: named tensors the loss
    reads (node rows and labels, or users / positive items / negative items).
    """

    graph: GraphInput
    targets: dict[str, Tensor] = field(default_factory=dict)
    epoch: int = 0
    index: int = 0


class Task(Protocol):
    """The interface the trainer and :class:`dsgraph.train.step.TrainStep` rely on."""

    kind: str
    num_nodes: int
    in_dim: int
    out_dim: int
    headline: str

    def num_batches(self) -> int: ...

    def batch(self, epoch: int, index: int) -> Batch: ...

    def loss(self, model: LayerwiseGNN, batch: Batch) -> Tensor: ...

    def evaluate(self, model: LayerwiseGNN) -> dict[str, float]: ...

    def full_input(self) -> GraphInput: ...

    def baseline(self) -> dict[str, float]: ...


def batch_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, index, stream): same inputs, same draws."""
    return np.random.default_rng([seed & 0xFFFFFFFF, stream, epoch, index])


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The deterministic shuffle of ``n`` training examples for ``epoch`` (read-only, cached)."""
    return _cached_permutation(n, seed, epoch)


@functools.lru_cache(maxsize=2)
def _cached_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    # Every batch of an epoch slices the same permutation; draw it once per epoch.
    perm = batch_rng(seed, epoch, -1 & 0xFFFFFFFF, stream=1).permutation(n)
    perm.flags.writeable = False
    return perm


@torch.no_grad()
def eval_forward(model: LayerwiseGNN, graph_input: Callable[[], GraphInput]) -> Tensor:
    """float32 output of ``model`` on ``graph_input()`` in eval mode, without gradients.

    The model's training flag is restored afterwards, also when the forward raises.
    """
    was_training = model.training
    model.eval()
    try:
        return model(graph_input()).float()
    finally:
        model.train(was_training)


def adj_from_graph(graph: Any) -> Tensor:
    """Sparse CSR ``adj_t`` (row = target) of a :class:`~dsgraph.graph.CSRGraph`."""
    if graph.is_symmetric() and graph.weights is None:
        # Symmetric: the transpose is the graph itself, no reversal needed.
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.ascontiguousarray(graph.indptr, dtype=np.int64)),
            torch.from_numpy(graph.indices.astype(np.int64)),
            torch.ones(graph.num_edges),
            size=(graph.num_nodes, graph.num_nodes),
        )
    return graph.adj_t()


def prepare_features(features: Tensor | None, normalize: bool) -> Tensor | None:
    """Features as float32; ``normalize`` divides each row by its L1 norm (zero rows stay)."""
    if features is None:
        return None
    features = features.to(torch.float32)
    if normalize:
        norm = features.abs().sum(dim=1, keepdim=True).clamp(min=1e-12)
        features = features / norm
    return features
