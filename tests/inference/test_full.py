"""Layer-wise full-graph inference equals the models' own forward passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_models import GcnModel, LightGcnModel, SageModel, pyg_forward

from dsgraph.errors import ConfigError
from dsgraph.graph import CSRGraph
from dsgraph.inference.full import layerwise_inference

TOL = 1e-5


def graph_and_features(seed: int = 0, n: int = 120, directed: bool = False):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, 5 * n), rng.integers(0, n, 5 * n)
    g = CSRGraph.from_edges(src, dst, n, symmetrize=not directed, drop_self_loops=True, dedupe=True)
    return g, torch.from_numpy(rng.normal(size=(n, 6))).float()


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("kind", ["sage", "gcn", "lightgcn"])
def test_matches_torch_geometric_layers(kind, directed):
    graph, x = graph_and_features(directed=directed)
    model = {
        "sage": lambda: SageModel(6),
        "gcn": lambda: GcnModel(6),
        "lightgcn": lambda: LightGcnModel(graph.num_nodes),
    }[kind]()
    feats = None if kind == "lightgcn" else x
    with torch.no_grad():
        ref = pyg_forward(model, graph, x)
    got = layerwise_inference(model, graph, feats)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert (got - ref).abs().max().item() <= TOL


@pytest.mark.parametrize("name", ["graphsage", "gcn", "lightgcn", "pinsage"])
def test_matches_dsgraph_models_forward(name):
    """The team's models (dsgraph.models) through their own forward on the full graph."""
    models = pytest.importorskip("dsgraph.models.registry")
    from dsgraph.config import ModelConfig
    from dsgraph.models.base import GraphInput

    graph, x = graph_and_features(seed=1)
    if name == "pinsage":  # a weighted importance graph, summed with its weights
        rng = np.random.default_rng(2)
        graph = CSRGraph(graph.indptr, graph.indices, rng.random(graph.num_edges, np.float32))
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, hidden_dim=8, embedding_dim=8, num_layers=2, dropout=0.0)
    feats = None if name == "lightgcn" else x
    model = models.build_model(
        cfg, num_nodes=graph.num_nodes, in_dim=0 if feats is None else 6, out_dim=5
    ).eval()
    if graph.weights is not None:
        model.edge_weighted = True
    with torch.no_grad():
        ref = model(GraphInput(graph.adj_t(), None, feats))
    got = layerwise_inference(model, graph, feats)
    assert (got - ref).abs().max().item() <= TOL


def test_attention_models_are_refused():
    class Attention(torch.nn.Module):
        aggregation = "attention"
        num_layers = 1

    graph, x = graph_and_features()
    with pytest.raises(ConfigError, match="not decomposable"):
        layerwise_inference(Attention(), graph, x)
