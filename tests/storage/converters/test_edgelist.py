"""Edge-list CSV/TSV conversion: delimiters, headers, comments, weights and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsgraph.errors import DatasetError, GraphFormatError
from dsgraph.storage import convert_edge_list, read_dataset


def test_tsv_with_comments_and_weight(tmp_path: Path) -> None:
    f = tmp_path / "g.tsv"
    f.write_text("# SNAP style\n# FromNodeId\tToNodeId\n0\t1\t0.5\n1\t2\t1.5\n3\t0\t2\n")
    ds = read_dataset(convert_edge_list(f, tmp_path / "out", weight_col=2, directed=True))
    assert ds.meta.num_nodes == 4 and ds.meta.name == "g"
    assert ds.edges.src.tolist() == [0, 1, 3] and ds.edges.dst.tolist() == [1, 2, 0]
    assert ds.edges.weight.tolist() == [0.5, 1.5, 2.0]
    assert ds.graph.num_edges == 3


def test_csv_with_header_by_name_undirected(tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("a,from,to\nx,2,0\ny,0,2\nz,1,2\n")
    ds = read_dataset(
        convert_edge_list(
            f, tmp_path / "out", header=True, src_col="from", dst_col="to", num_nodes=5
        )
    )
    assert ds.num_nodes == 5
    assert ds.graph.num_edges == 4  # {0-2, 1-2} both ways, the repeated 0-2 de-duplicated
    assert ds.graph.is_symmetric()


def test_relabel_arbitrary_tokens(tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("alice,bob\nbob,carol\n")
    ds = read_dataset(convert_edge_list(f, tmp_path / "out", relabel=True, directed=True))
    names = ds.meta.extra["original_ids"]
    assert sorted(names) == ["alice", "bob", "carol"]
    pairs = [(names[s], names[d]) for s, d in zip(ds.edges.src, ds.edges.dst, strict=True)]
    assert pairs == [("alice", "bob"), ("bob", "carol")]


def test_non_integer_id_names_row(tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("0,1\n1,2\nfoo,3\n")
    with pytest.raises(GraphFormatError, match=r"row 2: node id 'foo' is not an integer"):
        convert_edge_list(f, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_negative_id_and_bad_column(tmp_path: Path) -> None:
    f = tmp_path / "g.csv"
    f.write_text("0,1\n-4,2\n")
    with pytest.raises(GraphFormatError, match="row 1: node id -4"):
        convert_edge_list(f, tmp_path / "out")
    with pytest.raises(DatasetError, match="weight column index 5 out of range"):
        convert_edge_list(f, tmp_path / "out", weight_col=5)


def test_empty_and_ragged_files(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("# nothing here\n")
    with pytest.raises(DatasetError, match=r"empty\.csv"):
        convert_edge_list(f, tmp_path / "out")
    g = tmp_path / "ragged.csv"
    g.write_text("0,1\n1,2,3\n")
    with pytest.raises(DatasetError, match="cannot parse"):
        convert_edge_list(g, tmp_path / "out")


def test_large_file_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 5000, 50_000), rng.integers(0, 5000, 50_000)
    f = tmp_path / "big.csv"
    np.savetxt(f, np.stack([src, dst], 1), fmt="%d", delimiter=",")
    ds = read_dataset(convert_edge_list(f, tmp_path / "out", directed=True, num_nodes=5000))
    assert np.array_equal(ds.edges.src, src) and np.array_equal(ds.edges.dst, dst)
