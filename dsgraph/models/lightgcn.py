"""LightGCN (He et al., SIGIR 2020): parameter-free propagation of learnable embeddings.

Each layer is ``torch_geometric.nn.LGConv``'s symmetric-normalised sum over neighbours (no
self-loops, no weights, no non-linearity); the final embedding is the mean of [h^0..h^L], as in
the paper and ``torch_geometric.nn.models.LightGCN``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import LGConv

from dsgraph.models.base import LayerwiseGNN


class LightGCN(LayerwiseGNN):
    """LightGCN over ``num_nodes`` learnable ``embedding_dim``-d embeddings (features ignored)."""

    aggregation = "sym"
    self_loops = False

    def __init__(self, num_nodes: int, embedding_dim: int = 64, num_layers: int = 3) -> None:
        super().__init__(num_nodes, 0, embedding_dim, dropout=0.0)
        self.num_layers = num_layers
        self.out_dim = embedding_dim
        # LGConv layers document which PyG operator each layer is; their propagation is the
        # normalised aggregation done (in fp32) by LayerwiseGNN.forward.
        self.convs = torch.nn.ModuleList(LGConv(normalize=True) for _ in range(num_layers))

    @staticmethod
    def _init_embedding(embedding: torch.nn.Embedding) -> None:
        torch.nn.init.normal_(embedding.weight, std=0.1)

    def input_embedding(self, node_ids: Tensor | None, x: Tensor | None) -> Tensor:
        return super().input_embedding(node_ids, None)

    def layer_update(self, layer: int, agg: Tensor, h_self: Tensor) -> Tensor:
        return agg

    def combine(self, hs: list[Tensor]) -> Tensor:
        return torch.stack([h.float() for h in hs]).mean(dim=0)
