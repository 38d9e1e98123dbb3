"""PyG adapter: NodeLoader / LinkLoader batches from dsgraph's sampler feed PyG models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.nn import GraphSAGE
from torch_geometric.sampler import NegativeSampling

from dsgraph.errors import SamplerError
from samplers.pyg import DsgraphSampler, incoming_csr


def _random_data(n: int = 300, m: int = 3000, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    ei = torch.from_numpy(np.stack([rng.integers(0, n, m), rng.integers(0, n, m)]))
    data = Data(edge_index=ei, num_nodes=n)
    data.x = torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))
    data.y = torch.from_numpy(rng.integers(0, 3, n))
    data.edge_attr = torch.arange(m, dtype=torch.float32).view(-1, 1)
    data.edge_weight = torch.from_numpy(rng.uniform(0.1, 2.0, m).astype(np.float32))
    return data


def test_incoming_csr_rows_are_in_neighbours():
    data = _random_data()
    ei = data.edge_index.numpy()
    g, perm = incoming_csr(ei, data.num_nodes)
    src, dst = g.edges()
    assert np.array_equal(ei[1, perm], src) and np.array_equal(ei[0, perm], dst)


@pytest.mark.parametrize("weighted", [False, True])
def test_node_loader_batches_are_real_subgraphs(weighted):
    data = _random_data()
    sampler = DsgraphSampler(data, [5, 3], weighted=weighted, seed=1)
    loader = NodeLoader(data, node_sampler=sampler, input_nodes=torch.arange(100), batch_size=32)
    edges = set(map(tuple, data.edge_index.t().tolist()))
    model = GraphSAGE(16, 8, num_layers=2, out_channels=3)
    seen = 0
    for batch in loader:
        assert batch.batch_size == min(32, 100 - seen)
        assert torch.equal(
            batch.n_id[: batch.batch_size], torch.arange(seen, seen + 32)[: batch.batch_size]
        )
        seen += batch.batch_size
        assert torch.equal(batch.x, data.x[batch.n_id])
        g_src = batch.n_id[batch.edge_index[0]]
        g_dst = batch.n_id[batch.edge_index[1]]
        # Messages flow along real edges, and edge attributes follow their edges.
        for s, d, e in zip(g_src.tolist(), g_dst.tolist(), batch.e_id.tolist(), strict=True):
            assert (s, d) in edges
            assert tuple(data.edge_index[:, e].tolist()) == (s, d)
        assert torch.equal(batch.edge_attr.view(-1), batch.e_id.float())
        out = model(batch.x, batch.edge_index)[: batch.batch_size]
        assert out.shape == (batch.batch_size, 3) and torch.isfinite(out).all()
    assert seen == 100


def test_node_loader_is_reproducible_per_seed():
    data = _random_data()

    def first_batch(seed: int):
        sampler = DsgraphSampler(data, [4, 4], seed=seed)
        loader = NodeLoader(data, node_sampler=sampler, input_nodes=torch.arange(64), batch_size=64)
        return next(iter(loader))

    a, b, c = first_batch(3), first_batch(3), first_batch(4)
    assert torch.equal(a.n_id, b.n_id) and torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(a.e_id, c.e_id)


@pytest.mark.parametrize("mode", ["binary", "triplet"])
def test_link_loader_with_negative_sampling(mode):
    data = _random_data()
    sampler = DsgraphSampler(data, [4, 2], seed=0)
    label_index = data.edge_index[:, :200]
    loader = LinkLoader(
        data,
        link_sampler=sampler,
        edge_label_index=label_index,
        neg_sampling=NegativeSampling(mode, amount=2),
        batch_size=50,
    )
    model = GraphSAGE(16, 8, num_layers=2)
    n_batches = 0
    for batch in loader:
        n_batches += 1
        h = model(batch.x, batch.edge_index)
        if mode == "binary":
            eli = batch.edge_label_index
            assert eli.shape == (2, 150) and batch.edge_label.tolist() == [1.0] * 50 + [0.0] * 100
            pos = batch.n_id[eli[:, :50]]
            start = (n_batches - 1) * 50
            assert torch.equal(pos, label_index[:, start : start + 50])
            score = (h[eli[0]] * h[eli[1]]).sum(-1)
        else:
            assert batch.dst_neg_index.shape == (50, 2)
            pos = torch.stack([batch.n_id[batch.src_index], batch.n_id[batch.dst_pos_index]])
            start = (n_batches - 1) * 50
            assert torch.equal(pos, label_index[:, start : start + 50])
            score = (h[batch.src_index] * h[batch.dst_pos_index]).sum(-1)
        score.sum().backward()
    assert n_batches == 4


def test_weighted_needs_edge_weight():
    data = _random_data()
    del data.edge_weight
    with pytest.raises(SamplerError, match="edge_weight"):
        DsgraphSampler(data, [2], weighted=True)


def test_cora_example_trains_graphsage_with_dsgraph_sampler(cora_raw):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "pyg_neighbor_loader_cora.py"
    spec = importlib.util.spec_from_file_location("pyg_neighbor_loader_cora", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.train_cora(cora_raw, epochs=5, seed=0, log=False)
    # GCN's published Cora figure is 81.5 %; five sampled epochs already get well past chance.
    assert result["test"] > 0.7
