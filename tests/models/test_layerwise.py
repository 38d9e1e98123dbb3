"""Every layer-wise model's forward equals the layer-wise definition and PyG's own layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.config import ModelConfig
from dsgraph.graph import CSRGraph
from dsgraph.models.base import GraphInput, normalized_adj
from dsgraph.models.registry import build_model


@st.composite
def graphs(draw: st.DrawFn) -> CSRGraph:
    n = draw(st.integers(2, 25))
    m = draw(st.integers(0, 80))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    symmetric = draw(st.booleans())
    return CSRGraph.from_edges(
        np.array(src, dtype=np.int64),
        np.array(dst, dtype=np.int64),
        n,
        symmetrize=symmetric,
        dedupe=True,
    )


def reference_aggregate(graph: CSRGraph, h: torch.Tensor, aggregation: str, loops: bool):
    """Σ over edges u→v of norm(u, v)·h_u, written from the definitions with index_add."""
    src, dst = (torch.from_numpy(a.astype(np.int64)) for a in graph.edges())
    n = graph.num_nodes
    if loops:
        keep = src != dst
        src = torch.cat([src[keep], torch.arange(n)])
        dst = torch.cat([dst[keep], torch.arange(n)])
    deg = torch.zeros(n).index_add_(0, dst, torch.ones(dst.numel()))
    if aggregation == "mean":
        norm = 1.0 / deg[dst]
    elif aggregation == "sym":
        # PyG's gcn_norm convention: a zero-degree endpoint contributes nothing.
        inv = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
        norm = inv[src] * inv[dst]
    else:
        norm = torch.ones(dst.numel())
    return torch.zeros(n, h.shape[1]).index_add_(0, dst, h[src] * norm[:, None])


def make(name: str, n: int, in_dim: int, out_dim: int = 5):
    cfg = ModelConfig(name=name, hidden_dim=8, embedding_dim=6, num_layers=2, dropout=0.3)
    torch.manual_seed(0)
    return build_model(cfg, num_nodes=n, in_dim=in_dim, out_dim=out_dim).eval()


@pytest.mark.parametrize("name", ["lightgcn", "gcn", "graphsage", "pinsage"])
@settings(max_examples=30, deadline=None)
@given(graph=graphs(), featured=st.booleans())
def test_forward_equals_layerwise_definition(name: str, graph: CSRGraph, featured: bool) -> None:
    n = graph.num_nodes
    x = torch.randn(n, 12) if featured and name != "lightgcn" else None
    model = make(name, n, 12 if x is not None else 0)
    with torch.no_grad():
        out = model(GraphInput(graph.adj_t(), None, x))
        h = model.input_embedding(None, x)
        hs = [h]
        for layer in range(model.num_layers):
            agg = reference_aggregate(graph, h, model.aggregation, model.self_loops)
            h = model.layer_update(layer, agg, h)
            hs.append(h)
        expected = model.combine(hs)
    assert out.shape == (n, model.out_dim)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def random_symmetric(n: int = 40, m: int = 150, seed: int = 0) -> CSRGraph:
    rng = np.random.default_rng(seed)
    return CSRGraph.from_edges(
        rng.integers(0, n, m), rng.integers(0, n, m), n, symmetrize=True, drop_self_loops=True
    )


def test_gcn_matches_pyg_gcnconv() -> None:
    graph = random_symmetric()
    x = torch.randn(graph.num_nodes, 12)
    model = make("gcn", graph.num_nodes, 12)
    ei = graph.edge_index()
    with torch.no_grad():
        ref = torch.relu(model.convs[0](x, ei))
        ref = model.convs[1](ref, ei)
        torch.testing.assert_close(
            model(GraphInput(graph.adj_t(), None, x)), ref, atol=1e-5, rtol=1e-4
        )


def test_graphsage_matches_pyg_sageconv() -> None:
    graph = random_symmetric(seed=1)
    x = torch.randn(graph.num_nodes, 12)
    model = make("graphsage", graph.num_nodes, 12)
    ei = graph.edge_index()
    with torch.no_grad():
        ref = model.convs[1](torch.relu(model.convs[0](x, ei)), ei)
        torch.testing.assert_close(
            model(GraphInput(graph.adj_t(), None, x)), ref, atol=1e-5, rtol=1e-4
        )


def test_lightgcn_matches_pyg_lightgcn() -> None:
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    graph = random_symmetric(seed=2)
    model = make("lightgcn", graph.num_nodes, 0)
    ref = PyGLightGCN(graph.num_nodes, 6, num_layers=2)
    with torch.no_grad():
        ref.embedding.weight.copy_(model.embedding.weight)
        torch.testing.assert_close(
            model(GraphInput(graph.adj_t())),
            ref.get_embedding(graph.edge_index()),
            atol=1e-5,
            rtol=1e-4,
        )


def test_pinsage_uses_weights() -> None:
    """Importance weights change the aggregation (sum of weighted neighbours)."""
    graph = random_symmetric(seed=3)
    adj = graph.adj_t()
    x = torch.randn(graph.num_nodes, 12)
    model = make("pinsage", graph.num_nodes, 12)
    weighted = torch.sparse_csr_tensor(
        adj.crow_indices(), adj.col_indices(), torch.rand(adj.values().numel()), adj.shape
    )
    with torch.no_grad():
        assert not torch.allclose(
            model(GraphInput(adj, None, x)), model(GraphInput(weighted, None, x))
        )


def test_gat_runs_and_is_not_layerwise() -> None:
    graph = random_symmetric(seed=4)
    model = make("gat", graph.num_nodes, 12)
    assert model.layerwise is False
    out = model(GraphInput(graph.adj_t(), None, torch.randn(graph.num_nodes, 12)))
    assert out.shape == (graph.num_nodes, 5) and torch.isfinite(out).all()
    with pytest.raises(NotImplementedError):
        model.layer_update(0, out, out)


def test_normalized_adj_rows() -> None:
    graph = random_symmetric(seed=5)
    mean = normalized_adj(graph.adj_t(), "mean").to_dense()
    deg = torch.from_numpy(graph.degrees()).float()
    nonzero = deg > 0
    torch.testing.assert_close(mean.sum(1)[nonzero], torch.ones(int(nonzero.sum())))
    sym = normalized_adj(graph.adj_t(), "sym", self_loops=True).to_dense()
    torch.testing.assert_close(sym, sym.T)
    assert torch.all(torch.diagonal(sym) > 0)


def test_sym_normalisation_with_given_degrees() -> None:
    """Given degrees replace the row sums: the row sums themselves give the same matrix, and a
    part's subgraph normalised by whole-graph degrees keeps the whole graph's entries."""
    graph = random_symmetric(seed=5)
    adj_t = graph.adj_t()
    row_sums = torch.from_numpy(graph.degrees()).float()
    for loops in (False, True):
        torch.testing.assert_close(
            normalized_adj(adj_t, "sym", loops, row_sums).to_dense(),
            normalized_adj(adj_t, "sym", loops).to_dense(),
        )
    whole = normalized_adj(adj_t, "sym").to_dense()
    keep = torch.arange(graph.num_nodes) < graph.num_nodes // 2
    part = adj_t.to_dense() * (keep[:, None] & keep[None, :])  # edges inside the first half
    local = normalized_adj(part.to_sparse_csr(), "sym", degrees=row_sums).to_dense()
    torch.testing.assert_close(local[part > 0], whole[part > 0])
    with pytest.raises(ValueError, match="square"):
        normalized_adj(adj_t.to_dense()[:3].to_sparse_csr(), "sym", degrees=row_sums[:3])


def test_bf16_forward_close_to_fp32() -> None:
    from dsgraph.train.precision import PrecisionPolicy

    graph = random_symmetric(seed=6)
    x = torch.randn(graph.num_nodes, 12)
    model = make("graphsage", graph.num_nodes, 12)
    inp = GraphInput(graph.adj_t(), None, x)
    with torch.no_grad():
        ref = model(inp)
        with PrecisionPolicy("bf16", "cpu").autocast():
            low = model(inp)
    torch.testing.assert_close(low.float(), ref, atol=5e-2, rtol=5e-2)


def test_embeddings_for_featureless_nodes_are_learnable() -> None:
    model = make("graphsage", 10, 0)
    assert model.embedding is not None and model.embedding.weight.requires_grad
    assert model.embedding_parameter_names() == ["embedding.weight"]
    assert make("graphsage", 10, 12).embedding is None


@settings(max_examples=30, deadline=None)
@given(graph=graphs(), aggregation=st.sampled_from(["mean", "sym", "sum"]), loops=st.booleans())
def test_aggregate_backward_through_cached_transpose(
    graph: CSRGraph, aggregation: str, loops: bool
) -> None:
    """Gradients through the prepared transpose equal autograd's own CSR backward."""
    from dsgraph.models.base import aggregate, transpose_csr

    adj = normalized_adj(graph.adj_t(), aggregation, loops)
    x = torch.randn(graph.num_nodes, 4, requires_grad=True)
    weight = torch.randn(graph.num_nodes, 4)
    (aggregate(adj, x, transpose_csr(adj)) * weight).sum().backward()
    fast = x.grad.clone()
    x.grad = None
    (aggregate(adj, x) * weight).sum().backward()
    torch.testing.assert_close(fast, x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        adj.to_dense() @ x.detach(), aggregate(adj, x.detach()), rtol=1e-5, atol=1e-6
    )
