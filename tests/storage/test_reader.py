"""read_dataset: round trips, streamed CSR, zero-copy features, and every kind of bad file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dsgraph.errors import DatasetError
from dsgraph.graph import CSRGraph
from dsgraph.storage import read_dataset, write_dataset
from dsgraph.storage.reader import feature_view


def test_round_trip_is_identical(small_dataset: tuple[Path, dict]) -> None:
    path, a = small_dataset
    ds = read_dataset(path)
    assert np.array_equal(ds.edges.src, a["src"]) and ds.edges.src.dtype == np.int64
    assert np.array_equal(ds.edges.dst, a["dst"])
    assert np.array_equal(ds.edges.weight, a["weight"]) and ds.edges.weight.dtype == np.float32
    assert np.array_equal(ds.edges.timestamp, a["timestamp"])
    assert np.array_equal(ds.edges.split, a["edge_split"])
    assert np.array_equal(ds.edges.type, a["edge_type"])
    assert ds.features.dtype == torch.float32
    assert torch.equal(ds.features, torch.from_numpy(a["features"]))
    assert np.array_equal(ds.labels, a["labels"]) and ds.labels.dtype == np.int64
    assert np.array_equal(ds.split, a["split"]) and ds.split.dtype == np.int8
    assert np.array_equal(ds.node_type, a["node_type"])
    assert ds.meta.num_classes == 4 and ds.meta.feature_dim == 5
    assert ds.meta.num_users == 30 and ds.meta.num_items == 30
    assert ds.train_mask().sum() == (a["split"] == 1).sum()
    assert ds.meta.splits == {
        s: int((a["split"] == c).sum()) for s, c in (("train", 1), ("val", 2), ("test", 3))
    }


def test_undirected_graph_is_symmetrised_from_rows(small_dataset: tuple[Path, dict]) -> None:
    path, a = small_dataset
    ds = read_dataset(path)
    expected = CSRGraph.from_edges(a["src"], a["dst"], a["num_nodes"], a["weight"], symmetrize=True)
    assert ds.graph.is_symmetric()
    assert np.array_equal(ds.graph.indptr, expected.indptr)
    assert np.array_equal(ds.graph.indices, expected.indices)
    assert np.array_equal(ds.graph.weights, expected.weights)


def test_directed_graph_keeps_rows_as_given(tmp_path: Path) -> None:
    src, dst = np.array([0, 0, 2, 1]), np.array([1, 1, 0, 2])
    write_dataset(tmp_path / "d", src=src, dst=dst, num_nodes=3, directed=True, name="d")
    g = read_dataset(tmp_path / "d").graph
    assert g.indptr.tolist() == [0, 2, 3, 4] and g.indices.tolist() == [1, 1, 2, 0]


def test_streamed_build_over_many_row_groups_equals_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    src, dst = rng.integers(0, 500, 10_000), rng.integers(0, 500, 10_000)
    write_dataset(
        tmp_path / "rg",
        src=src,
        dst=dst,
        num_nodes=500,
        directed=False,
        name="rg",
        row_group_size=777,
    )
    assert pq.ParquetFile(tmp_path / "rg" / "edges.parquet").num_row_groups == 13
    g = read_dataset(tmp_path / "rg").graph
    ref = CSRGraph.from_edges(src, dst, 500, symmetrize=True)
    assert np.array_equal(g.indptr, ref.indptr) and np.array_equal(g.indices, ref.indices)


def test_edge_split_graph_uses_only_those_rows(small_dataset: tuple[Path, dict]) -> None:
    path, a = small_dataset
    ds = read_dataset(path)
    train = a["edge_split"] == 1
    g = ds.graph_for_edge_split("train")
    ref = CSRGraph.from_edges(
        a["src"][train], a["dst"][train], 60, a["weight"][train], symmetrize=True
    )
    assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.indptr, ref.indptr)
    assert ds.graph_for_edge_split("train") is g  # cached
    with pytest.raises(DatasetError, match="edge splits"):
        ds.graph_for_edge_split("bogus")


def test_features_are_a_zero_copy_view_of_arrow_memory(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    col = pq.read_table(path / "nodes.parquet", columns=["feat"]).column("feat")
    assert col.num_chunks == 1
    view = feature_view(col, path, 5)
    arrow_values = col.chunk(0).flatten()
    assert view.ctypes.data == arrow_values.buffers()[1].address + arrow_values.offset * 4
    assert torch.from_numpy(view.copy()).shape == (60, 5)
    ds = read_dataset(path)
    assert not ds.features.numpy().flags.owndata  # torch wraps the numpy view, not a copy


def test_load_features_false(small_dataset: tuple[Path, dict]) -> None:
    ds = read_dataset(small_dataset[0], load_features=False)
    assert ds.features is None and ds.labels is not None


def test_to_pyg(small_dataset: tuple[Path, dict]) -> None:
    ds = read_dataset(small_dataset[0])
    data = ds.to_pyg()
    assert data.num_nodes == 60 and data.edge_index.shape == (2, ds.graph.num_edges)
    assert data.x.shape == (60, 5) and int(data.train_mask.sum()) == int(ds.train_mask().sum())


# ---------------------------------------------------------------------------------- bad input
def _rewrite(path: Path, name: str, table: pa.Table) -> None:
    pq.write_table(table, path / name)


def _meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def test_missing_directory_and_meta(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a dsgraph dataset"):
        read_dataset(tmp_path / "empty")


def test_corrupt_meta_json(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    (path / "meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_dataset(path)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format_version", 7, "format_version"),
        ("num_nodes", -3, "num_nodes"),
        ("directed", "yes", "directed"),
        ("splits", {"training": 4}, "splits"),
        ("node_types", {"user": [0, 999]}, "node_types"),
    ],
)
def test_bad_meta_values(
    small_dataset: tuple[Path, dict], key: str, value: object, match: str
) -> None:
    path, _ = small_dataset
    meta = _meta(path)
    meta[key] = value
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=match):
        read_dataset(path)


def test_foreign_file_as_edges(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    (path / "edges.parquet").write_bytes(b"src,dst\n0,1\n")
    with pytest.raises(DatasetError, match=r"edges.parquet: not a readable Parquet file"):
        read_dataset(path)


def test_truncated_parquet(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    data = (path / "nodes.parquet").read_bytes()
    (path / "nodes.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"nodes\.parquet"):
        read_dataset(path)


def test_missing_column(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    table = pq.read_table(path / "edges.parquet").drop_columns(["dst"])
    _rewrite(path, "edges.parquet", table)
    with pytest.raises(DatasetError, match="required column 'dst' is missing"):
        read_dataset(path)


def test_wrong_dtype(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    table = pq.read_table(path / "edges.parquet")
    table = table.set_column(0, "src", table.column("src").cast(pa.float64()))
    _rewrite(path, "edges.parquet", table)
    with pytest.raises(DatasetError, match="column 'src' has type double, expected int64"):
        read_dataset(path)


def test_feature_width_disagrees_with_meta(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    meta = _meta(path)
    meta["feature_dim"] = 7
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=r"width 5 but meta\.json says feature_dim=7"):
        read_dataset(path)


def test_nan_features_on_disk(small_dataset: tuple[Path, dict]) -> None:
    path, a = small_dataset
    table = pq.read_table(path / "nodes.parquet")
    feats = a["features"].copy()
    feats[17, 2] = np.inf
    arr = pa.FixedSizeListArray.from_arrays(pa.array(feats.ravel()), 5)
    table = table.set_column(table.schema.get_field_index("feat"), "feat", arr)
    _rewrite(path, "nodes.parquet", table)
    with pytest.raises(DatasetError, match="column 'feat' row 17 holds NaN or infinity"):
        read_dataset(path)


def test_row_count_disagrees_with_meta(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    table = pq.read_table(path / "edges.parquet").slice(0, 10)
    _rewrite(path, "edges.parquet", table)
    with pytest.raises(DatasetError, match=r"holds 10 rows but meta\.json says num_edges=300"):
        read_dataset(path)


def test_ids_out_of_range_on_disk_name_global_row(tmp_path: Path) -> None:
    src = np.arange(100) % 10
    dst = (np.arange(100) + 1) % 10
    write_dataset(
        tmp_path / "o", src=src, dst=dst, num_nodes=10, directed=True, name="o", row_group_size=30
    )
    table = pq.read_table(tmp_path / "o" / "edges.parquet")
    bad = table.column("dst").to_numpy().copy()
    bad[64] = 10
    table = table.set_column(1, "dst", pa.array(bad))
    pq.write_table(table, tmp_path / "o" / "edges.parquet", row_group_size=30)
    with pytest.raises(DatasetError, match=r"'dst' row 64: node id 10 is out of range \[0, 10\)"):
        read_dataset(tmp_path / "o")


def test_node_ids_not_in_order(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    table = pq.read_table(path / "nodes.parquet")
    ids = np.arange(60)
    ids[[3, 4]] = ids[[4, 3]]
    table = table.set_column(0, "id", pa.array(ids))
    _rewrite(path, "nodes.parquet", table)
    with pytest.raises(DatasetError, match="column 'id' row 3 is 4, expected 3"):
        read_dataset(path)


def test_empty_graph_in_meta(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    meta = _meta(path)
    meta["num_edges"] = 0
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="empty graph"):
        read_dataset(path)


def test_split_counts_disagree_with_meta(small_dataset: tuple[Path, dict]) -> None:
    path, _ = small_dataset
    meta = _meta(path)
    meta["splits"]["train"] += 1
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=r"'train' nodes but meta\.json splits says"):
        read_dataset(path)


def test_string_split_column_is_accepted(small_dataset: tuple[Path, dict]) -> None:
    path, a = small_dataset
    table = pq.read_table(path / "nodes.parquet")
    names = np.array(["none", "train", "val", "test"])[a["split"]]
    idx = table.schema.get_field_index("split")
    table = table.set_column(idx, "split", pa.array(names).dictionary_encode())
    _rewrite(path, "nodes.parquet", table)
    assert np.array_equal(read_dataset(path).split, a["split"])


def test_copy_of_dataset_reads_the_same(small_dataset: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = small_dataset
    shutil.copytree(path, tmp_path / "copy")
    g1, g2 = read_dataset(path).graph, read_dataset(tmp_path / "copy").graph
    assert np.array_equal(g1.indices, g2.indices)


def test_raw_edges_are_loaded_lazily(small_dataset: tuple[Path, dict]) -> None:
    ds = read_dataset(small_dataset[0])
    assert "src" not in vars(ds.edges) and "weight" not in vars(ds.edges)
    assert ds.edges.src.size == 300
    assert "src" in vars(ds.edges)


def test_bad_id_under_edge_split_filter_names_global_row(tmp_path: Path) -> None:
    src, dst = np.arange(40) % 8, (np.arange(40) + 1) % 8
    write_dataset(
        tmp_path / "s",
        src=src,
        dst=dst,
        num_nodes=8,
        directed=False,
        name="s",
        edge_split=np.where(np.arange(40) % 2 == 0, 1, 3),
        row_group_size=16,
    )
    ds = read_dataset(tmp_path / "s")
    table = pq.read_table(tmp_path / "s" / "edges.parquet")
    bad = table.column("src").to_numpy().copy()
    bad[37] = 99
    table = table.set_column(0, "src", pa.array(bad))
    pq.write_table(table, tmp_path / "s" / "edges.parquet", row_group_size=16)
    ds.edges = type(ds.edges)(tmp_path / "s" / "edges.parquet", 40)
    with pytest.raises(DatasetError, match=r"'src' row 37: node id 99"):
        ds.graph_for_edge_split("train")
