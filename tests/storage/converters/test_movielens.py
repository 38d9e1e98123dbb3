"""MovieLens-100K from the shared files: counts, u1 split, per-user temporal split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsgraph.errors import DatasetError
from dsgraph.storage import convert_movielens, read_dataset
from dsgraph.storage.converters.movielens import read_ratings, temporal_split


@pytest.fixture(scope="module")
def ml_u1(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ml") / "u1"
    return read_dataset(convert_movielens(movielens_dir, out, split="u1"))


def test_counts(ml_u1) -> None:
    assert ml_u1.num_users == 943 and ml_u1.num_items == 1682
    assert ml_u1.meta.num_edges == 100_000 and ml_u1.graph.num_edges == 200_000
    assert ml_u1.meta.node_types == {"user": [0, 943], "item": [943, 2625]}
    assert ml_u1.meta.edge_splits == {"train": 80_000, "val": 0, "test": 20_000}
    e = ml_u1.edges
    assert e.src.max() < 943 and e.dst.min() >= 943  # user → item rows
    assert sorted(np.unique(e.weight).tolist()) == [1, 2, 3, 4, 5]
    assert np.bincount(ml_u1.node_type).tolist() == [943, 1682]


def test_u1_split_equals_grouplens_files(ml_u1, movielens_dir: Path) -> None:
    base = read_ratings(movielens_dir / "u1.base")
    train = ml_u1.edges.split == 1
    got = np.stack([ml_u1.edges.src[train] + 1, ml_u1.edges.dst[train] - 943 + 1], 1)
    assert np.array_equal(got, base[:, :2])
    g = ml_u1.graph_for_edge_split("train")
    assert g.num_edges == 160_000


def test_temporal_split_holds_out_each_users_latest(movielens_dir: Path, tmp_path: Path) -> None:
    ds = read_dataset(convert_movielens(movielens_dir, tmp_path / "t", split="temporal"))
    e = ds.edges
    assert ds.meta.num_edges == 100_000
    for u in range(0, 943, 37):
        mine = e.src == u
        train_t = e.timestamp[mine & (e.split == 1)]
        test_t = e.timestamp[mine & (e.split == 3)]
        assert test_t.size == int(np.ceil(0.2 * mine.sum()))
        assert train_t.max() <= test_t.min()


def test_temporal_split_breaks_ties_by_row_and_keeps_singletons() -> None:
    users = np.array([0, 0, 0, 0, 0, 1])
    times = np.array([5, 5, 5, 1, 9, 3])
    split = temporal_split(users, times, 0.4)
    assert split.tolist() == [1, 1, 3, 1, 3, 1]


def test_unknown_split_and_missing_files(movielens_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown MovieLens split 'u9'"):
        convert_movielens(movielens_dir, tmp_path / "x", split="u9")
    with pytest.raises(DatasetError, match=r"u\.data: missing"):
        convert_movielens(tmp_path, tmp_path / "x", split="temporal")


def test_malformed_ratings_file(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t2\t3\t4\n1\tx\t3\t4\n")
    with pytest.raises(DatasetError, match=r"u\.data: not 'user<TAB>item"):
        convert_movielens(tmp_path, tmp_path / "x", split="temporal")
    (tmp_path / "u.data").write_text("1\t2\t3\t4\n1\t2\t5\t6\n")
    with pytest.raises(DatasetError, match="rated more than once"):
        convert_movielens(tmp_path, tmp_path / "x", split="temporal")
    assert not (tmp_path / "x").exists()
