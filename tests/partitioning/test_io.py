"""Partitioned datasets on disk: round trip, one-part loading, atomicity, real data."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from dsgraph.errors import DatasetError
from partitioning.api import partition
from partitioning.book import PartitionBook
from partitioning.io import load_partition, write_partitioned
from partitioning.local import HALO, build_local
from partitioning.metrics import evaluate


def test_round_trip_equals_in_memory_parts(make_random_graph, tmp_path):
    graph = make_random_graph(300, 3000, seed=1, weighted=True)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    split = rng.integers(0, 4, 300).astype(np.int8)
    result = partition(graph, 3, hub_threshold=12, seed=0)
    out = write_partitioned(
        tmp_path / "g.parts" / "3",
        graph,
        result,
        halo_hops=2,
        features=features,
        labels=labels,
        split=split,
        metrics=evaluate(graph, result),
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_parts"] == 3 and meta["hub_threshold"] == 12 and meta["halo_hops"] == 2
    assert meta["metrics"]["num_hubs"] == result.hubs.num_hubs
    for part in range(3):
        disk = load_partition(out, part)
        mem = build_local(graph, result, part, 2)
        np.testing.assert_array_equal(disk.local_to_global, mem.local_to_global)
        np.testing.assert_array_equal(disk.kind, mem.kind)
        np.testing.assert_array_equal(disk.graph.indptr, mem.graph.indptr)
        np.testing.assert_array_equal(disk.graph.indices, mem.graph.indices)
        np.testing.assert_array_equal(disk.graph.weights, mem.graph.weights)
        np.testing.assert_array_equal(disk.features, features[disk.local_to_global])
        np.testing.assert_array_equal(disk.labels, labels[disk.local_to_global])
        np.testing.assert_array_equal(disk.split, split[disk.local_to_global])
        np.testing.assert_array_equal(disk.hubs.copy_edges, result.hubs.copy_edges)
        np.testing.assert_array_equal(disk.hubs.master, result.hubs.master)
        assert meta["parts"][part]["owned"] == disk.num_owned


def test_worker_loads_its_part_without_the_others(rmat_graph, tmp_path):
    result = partition(rmat_graph, 4, hub_threshold=30)
    out = write_partitioned(tmp_path / "p", rmat_graph, result)
    for other in (0, 1, 3):
        for name in ("nodes.parquet", "edges.parquet"):
            (out / f"part-{other:05d}" / name).unlink()
    (out / "book.parquet").unlink()
    local = load_partition(out, 2)
    np.testing.assert_array_equal(local.local_to_global[local.owned_mask], result.owned_nodes(2))


def test_book_lookups_agree_with_the_parts(rmat_graph, tmp_path):
    result = partition(rmat_graph, 4, hub_threshold=30)
    out = write_partitioned(tmp_path / "p", rmat_graph, result)
    book = PartitionBook(out)
    ids = np.arange(rmat_graph.num_nodes)
    np.testing.assert_array_equal(book.owner(ids), result.owner)
    owners = book.owner(ids)
    local_ids = book.local_id(ids)
    for part in range(4):
        local = load_partition(out, part)
        mine = owners == part
        np.testing.assert_array_equal(local.local_to_global[local_ids[mine]], ids[mine])
        np.testing.assert_array_equal(book.owned(part), result.owned_nodes(part))
        np.testing.assert_array_equal(book.mirrors(part), result.mirrors(part))
        np.testing.assert_array_equal(book.halo(part), local.local_to_global[local.kind == HALO])
    np.testing.assert_array_equal(book.is_hub(result.hubs.hub_ids), True)
    with pytest.raises(DatasetError, match="out of range"):
        book.owner(np.array([rmat_graph.num_nodes]))


def test_failed_write_keeps_the_previous_version(rmat_graph, tmp_path):
    out = tmp_path / "p"
    first = partition(rmat_graph, 2, seed=0)
    write_partitioned(out, rmat_graph, first)
    before = pq.read_table(out / "book.parquet").column("owner").to_numpy()

    def explode(part: int) -> None:
        if part == 1:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_partitioned(out, rmat_graph, partition(rmat_graph, 3, seed=1), on_part=explode)
    after = pq.read_table(out / "book.parquet").column("owner").to_numpy()
    np.testing.assert_array_equal(before, after)
    assert json.loads((out / "meta.json").read_text())["num_parts"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no temp dirs left behind


def test_load_errors_name_the_problem(rmat_graph, tmp_path):
    with pytest.raises(DatasetError, match=r"meta\.json is missing"):
        load_partition(tmp_path, 0)
    out = write_partitioned(tmp_path / "p", rmat_graph, partition(rmat_graph, 2))
    with pytest.raises(DatasetError, match=r"part 5 is out of range \[0, 2\)"):
        load_partition(out, 5)
    (out / "part-00001" / "edges.parquet").unlink()
    with pytest.raises(DatasetError, match=r"edges\.parquet is missing"):
        load_partition(out, 1)
    meta = json.loads((out / "meta.json").read_text())
    meta["format_version"] = 99
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="format_version 99"):
        load_partition(out, 0)


def test_mismatched_graph_and_result_is_an_error(make_random_graph, tmp_path):
    result = partition(make_random_graph(50, 100, seed=0), 2)
    with pytest.raises(DatasetError, match="covers 50 nodes"):
        write_partitioned(tmp_path / "p", make_random_graph(60, 100, seed=0), result)


def test_cora_partitioned_dataset(cora_raw, tmp_path):
    from dsgraph.storage import read_dataset
    from dsgraph.storage.converters.planetoid import convert_planetoid
    from partitioning.dataset import partition_dataset

    path = convert_planetoid(cora_raw, "cora", tmp_path / "cora")
    _, metrics = partition_dataset(path, tmp_path / "cora.parts" / "4", 4, seed=0)
    ds = read_dataset(path)
    assert metrics.num_nodes == 2708 and metrics.num_edges == 10556
    assert metrics.train_nodes is not None and sum(metrics.train_nodes) == 140
    assert metrics.vertex_imbalance <= 0.05 and metrics.train_imbalance <= 0.05
    assert metrics.edge_cut_fraction < 0.3  # METIS on Cora cuts far less than hashing (~75%)
    feats = ds.features.numpy()
    total_owned = 0
    for part in range(4):
        local = load_partition(tmp_path / "cora.parts" / "4", part)
        np.testing.assert_array_equal(local.features, feats[local.local_to_global])
        np.testing.assert_array_equal(local.labels, ds.labels[local.local_to_global])
        total_owned += local.num_owned
    assert total_owned == 2708


def test_book_opens_lazily_and_names_missing_files(rmat_graph, tmp_path):
    out = write_partitioned(tmp_path / "p", rmat_graph, partition(rmat_graph, 2, hub_threshold=30))
    (out / "book.parquet").unlink()
    book = PartitionBook(out)  # reads meta.json only
    assert book.num_parts == 2 and book.num_nodes == rmat_graph.num_nodes
    assert book.hubs.num_hubs > 0  # hubs.parquet is still there
    with pytest.raises(DatasetError, match=r"book\.parquet is missing"):
        book.owner(np.array([0]))


def test_progress_callback_sees_every_part(rmat_graph, tmp_path):
    seen = []
    write_partitioned(tmp_path / "p", rmat_graph, partition(rmat_graph, 3), on_part=seen.append)
    assert seen == [0, 1, 2]
