"""PyG Data → dataset → PyG Data keeps edges, features, labels and masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from dsgraph.storage import convert_pyg, read_dataset


def test_round_trip_through_pyg(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 40, (2, 200), generator=gen)
    data = Data(
        edge_index=ei,
        edge_weight=torch.rand(200, generator=gen),
        x=torch.randn(40, 6, generator=gen),
        y=torch.randint(0, 3, (40,), generator=gen),
        num_nodes=40,
    )
    data.train_mask = torch.arange(40) < 10
    data.test_mask = torch.arange(40) >= 30
    ds = read_dataset(convert_pyg(data, tmp_path / "p", name="rand"))
    assert ds.meta.directed  # random edges are not symmetric
    assert np.array_equal(ds.edges.src, ei[0].numpy()) and np.array_equal(
        ds.edges.dst, ei[1].numpy()
    )
    assert torch.equal(ds.features, data.x)
    back = ds.to_pyg()
    assert torch.equal(back.y, data.y)
    assert torch.equal(back.train_mask, data.train_mask)
    assert torch.equal(back.test_mask, data.test_mask)
    assert int(back.val_mask.sum()) == 0


def test_undirected_data_is_stored_undirected(tmp_path: Path) -> None:
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    ds = read_dataset(convert_pyg(Data(edge_index=ei, num_nodes=3), tmp_path / "u"))
    assert not ds.meta.directed and ds.graph.num_edges == 4 and ds.features is None
