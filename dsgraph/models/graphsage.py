"""GraphSAGE (Hamilton et al., NeurIPS 2017) from ``torch_geometric.nn.SAGEConv`` layers.

Mean aggregation of in-neighbours; a layer is ``lin_l(mean_u h_u) + lin_r(h_v)`` — SAGEConv's
own linear maps — with ReLU between layers.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import SAGEConv

from dsgraph.models.base import LayerwiseGNN


class GraphSAGE(LayerwiseGNN):
    """``num_layers`` SAGEConv (mean) layers; ``normalize`` L2-normalises hidden layers."""

    aggregation = "mean"
    self_loops = False

    def __init__(
        self,
        num_nodes: int,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        embedding_dim: int = 64,
        normalize: bool = False,
    ) -> None:
        super().__init__(num_nodes, in_dim, embedding_dim, dropout)
        self.num_layers = num_layers
        self.out_dim = out_dim
        self.normalize = normalize
        dims = [self.in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = torch.nn.ModuleList(
            SAGEConv(dims[i], dims[i + 1], aggr="mean") for i in range(num_layers)
        )

    def layer_update(self, layer: int, agg: Tensor, h_self: Tensor) -> Tensor:
        conv = self.convs[layer]
        return self._finish(layer, conv.lin_l(agg) + conv.lin_r(h_self))

    def layer_forward(self, layer: int, adj: Tensor, h: Tensor) -> Tensor:
        conv = self.convs[layer]
        lin = conv.lin_l
        if lin.in_channels <= lin.out_channels:
            return super().layer_forward(layer, adj, h)
        # Narrowing layer: aggregating h·Wᵀ then adding the bias equals lin_l(aggregate(h)).
        projected = torch.nn.functional.linear(h, lin.weight)
        agg = self.aggregate(adj, projected)
        if lin.bias is not None:
            agg = agg + lin.bias
        return self._finish(layer, agg + conv.lin_r(h))

    def _finish(self, layer: int, out: Tensor) -> Tensor:
        if layer == self.num_layers - 1:
            return out
        out = torch.relu(out)
        if self.normalize:
            out = torch.nn.functional.normalize(out.float(), p=2.0, dim=-1)
        return out
