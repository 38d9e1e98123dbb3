"""GAT (Veličković et al., ICLR 2018) from ``torch_geometric.nn.GATConv`` layers.

Attention coefficients depend on both endpoints' current states, so GAT is not decomposable into
a fixed normalised aggregation plus a per-node update: it is excluded from the layer-wise
contract (``layerwise = False``) and full-graph/incremental inference recompute it whole.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import GATConv

from dsgraph.models.base import GraphInput, LayerwiseGNN


class GAT(LayerwiseGNN):
    """``num_layers`` GATConv layers (``heads`` concatenated, one averaged head last), ELU."""

    aggregation = "sum"
    self_loops = True
    layerwise = False

    def __init__(
        self,
        num_nodes: int,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        dropout: float = 0.6,
        embedding_dim: int = 64,
        heads: int = 4,
    ) -> None:
        super().__init__(num_nodes, in_dim, embedding_dim, dropout)
        self.num_layers = num_layers
        self.out_dim = out_dim
        convs = []
        width = self.in_dim
        for layer in range(num_layers):
            last = layer == num_layers - 1
            out = out_dim if last else max(1, hidden_dim // heads)
            convs.append(
                GATConv(width, out, heads=1 if last else heads, concat=not last, dropout=dropout)
            )
            width = out if last else out * heads
        self.convs = torch.nn.ModuleList(convs)

    def layer_update(self, layer: int, agg: Tensor, h_self: Tensor) -> Tensor:
        raise NotImplementedError("GAT is not layer-wise decomposable (attention)")

    def forward(self, graph: GraphInput) -> Tensor:
        edge_index = graph.edge_index()
        h = self.input_embedding(graph.node_ids, graph.x)
        for layer, conv in enumerate(self.convs):
            h = torch.nn.functional.dropout(h, p=self.dropout, training=self.training)
            h = conv(h, edge_index)
            if layer < self.num_layers - 1:
                h = torch.nn.functional.elu(h)
        return h
