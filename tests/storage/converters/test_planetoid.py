"""Cora from the shared raw files: published counts, and agreement with torch_geometric's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dsgraph.errors import DatasetError
from dsgraph.storage import convert_planetoid, read_dataset


@pytest.fixture(scope="module")
def cora(cora_raw: Path, tmp_path_factory: pytest.TempPathFactory):
    return read_dataset(convert_planetoid(cora_raw, "Cora", tmp_path_factory.mktemp("c") / "cora"))


def test_cora_counts(cora) -> None:
    assert cora.num_nodes == 2708
    assert cora.meta.num_edges == 10556 and cora.graph.num_edges == 10556
    assert cora.meta.feature_dim == 1433 and cora.features.shape == (2708, 1433)
    assert cora.meta.num_classes == 7
    assert cora.meta.splits == {"train": 140, "val": 500, "test": 1000}
    assert np.bincount(cora.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert int((cora.features != 0).sum()) == 49216
    assert cora.graph.is_symmetric()
    src, dst = cora.graph.edges()
    assert not (src == dst).any()


def test_cora_matches_torch_geometric(cora, cora_raw: Path) -> None:
    from torch_geometric.io import read_planetoid_data

    ref = read_planetoid_data(str(cora_raw), "cora")
    assert torch.equal(cora.features, ref.x)
    assert np.array_equal(cora.labels, ref.y.numpy())
    assert np.array_equal(cora.train_mask(), ref.train_mask.numpy())
    assert np.array_equal(cora.val_mask(), ref.val_mask.numpy())
    assert np.array_equal(cora.test_mask(), ref.test_mask.numpy())
    ours = set(zip(*(a.tolist() for a in cora.graph.edges()), strict=True))
    theirs = set(zip(*ref.edge_index.tolist(), strict=True))
    assert ours == theirs


def test_missing_raw_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"ind\.cora\.x: missing"):
        convert_planetoid(tmp_path, "cora", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_raw_file(cora_raw: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in cora_raw.iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    (raw / "ind.cora.graph").write_bytes(b"garbage, not a pickle")
    with pytest.raises(DatasetError, match=r"ind\.cora\.graph: not a readable Planetoid pickle"):
        convert_planetoid(raw, "cora", tmp_path / "out")
