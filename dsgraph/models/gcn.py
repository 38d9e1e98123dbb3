"""GCN (Kipf & Welling, ICLR 2017) from ``torch_geometric.nn.GCNConv`` layers.

Aggregation is the symmetric normalisation with self-loops (what ``GCNConv`` computes); the
per-node part of a layer is ``GCNConv``'s linear map and bias, so ``A_norm (H W) + b`` is
computed as ``(A_norm H) W + b`` (equal by linearity).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import GCNConv

from dsgraph.models.base import LayerwiseGNN


class GCN(LayerwiseGNN):
    """``num_layers`` GCNConv layers, ReLU between them, raw outputs (logits/embeddings) last."""

    aggregation = "sym"
    self_loops = True

    def __init__(
        self,
        num_nodes: int,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        embedding_dim: int = 64,
    ) -> None:
        super().__init__(num_nodes, in_dim, embedding_dim, dropout)
        self.num_layers = num_layers
        self.out_dim = out_dim
        dims = [self.in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = torch.nn.ModuleList(GCNConv(dims[i], dims[i + 1]) for i in range(num_layers))

    def layer_update(self, layer: int, agg: Tensor, h_self: Tensor) -> Tensor:
        conv = self.convs[layer]
        out = conv.lin(agg) + conv.bias
        return torch.relu(out) if layer < self.num_layers - 1 else out

    def layer_forward(self, layer: int, adj: Tensor, h: Tensor) -> Tensor:
        conv = self.convs[layer]
        if conv.lin.in_channels <= conv.lin.out_channels:
            return super().layer_forward(layer, adj, h)
        # Narrowing layer: A(HW) + b equals (AH)W + b and aggregates out_features-wide rows.
        out = self.aggregate(adj, conv.lin(h)) + conv.bias
        return torch.relu(out) if layer < self.num_layers - 1 else out
