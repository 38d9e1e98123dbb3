"""Small layer-wise models built from torch_geometric layers, for inference tests.

They follow the team's layer-wise contract (dsgraph/models/base.py) without depending on the
training package, so the inference tests pin the contract itself.
"""

from __future__ import annotations

import torch
from torch_geometric.nn import GCNConv, LGConv, SAGEConv


class SageModel(torch.nn.Module):
    """GraphSAGE (mean aggregation): h' = W_l·mean(h_u) + W_r·h_v, ReLU between layers."""

    aggregation = "mean"
    self_loops = False

    def __init__(
        self,
        in_dim: int,
        hidden: int = 16,
        num_layers: int = 2,
        seed: int = 0,
        activation: bool = True,
    ):
        super().__init__()
        torch.manual_seed(seed)
        dims = [in_dim] + [hidden] * num_layers
        self.convs = torch.nn.ModuleList(SAGEConv(dims[i], dims[i + 1]) for i in range(num_layers))
        self.num_layers = num_layers
        self.activation = activation  # False: linear, so every input change reaches the output

    def input_embedding(self, node_ids, x):
        return x

    def layer_update(self, layer, agg, h_self):
        conv = self.convs[layer]
        out = conv.lin_l(agg) + conv.lin_r(h_self)
        return out.relu() if self.activation and layer < self.num_layers - 1 else out

    def combine(self, hs):
        return hs[-1]


class GcnModel(torch.nn.Module):
    """GCN (symmetric normalisation with self-loops): h' = W·agg + b."""

    aggregation = "sym"
    self_loops = True

    def __init__(self, in_dim: int, hidden: int = 16, num_layers: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        dims = [in_dim] + [hidden] * num_layers
        self.convs = torch.nn.ModuleList(GCNConv(dims[i], dims[i + 1]) for i in range(num_layers))
        for conv in self.convs:  # non-zero biases so the test can see them
            torch.nn.init.normal_(conv.bias, std=0.1)
        self.num_layers = num_layers

    def input_embedding(self, node_ids, x):
        return x

    def layer_update(self, layer, agg, h_self):
        conv = self.convs[layer]
        out = conv.lin(agg) + conv.bias
        return out.relu() if layer < self.num_layers - 1 else out

    def combine(self, hs):
        return hs[-1]


class LightGcnModel(torch.nn.Module):
    """LightGCN: ID embeddings, parameter-free sym propagation, mean over layers."""

    aggregation = "sym"
    self_loops = False

    def __init__(self, num_nodes: int, dim: int = 8, num_layers: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = torch.nn.Embedding(num_nodes, dim)
        torch.nn.init.normal_(self.embedding.weight, std=0.5)
        self.convs = torch.nn.ModuleList(LGConv() for _ in range(num_layers))
        self.num_layers = num_layers

    def input_embedding(self, node_ids, x):
        return self.embedding(node_ids)

    def layer_update(self, layer, agg, h_self):
        return agg

    def combine(self, hs):
        return torch.stack(hs).mean(dim=0)


def pyg_forward(model, graph, x):
    """The model's output through the real torch_geometric layers (not the layer-wise split)."""
    ei = graph.edge_index()
    if isinstance(model, LightGcnModel):
        h = model.embedding.weight
        hs = [h]
        for conv in model.convs:
            h = conv(h, ei)
            hs.append(h)
        return torch.stack(hs).mean(dim=0)
    h = x
    for i, conv in enumerate(model.convs):
        h = conv(h, ei)
        if i < model.num_layers - 1:
            h = h.relu()
    return h
