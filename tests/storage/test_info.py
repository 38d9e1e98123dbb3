"""dataset_stats on graphs whose statistics are known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsgraph.storage import dataset_stats, write_dataset


def test_star_plus_path_statistics(tmp_path: Path) -> None:
    # Node 0 is a hub joined to 1..20; 21-22-23 is a path; node 24 is isolated.
    src = np.r_[np.zeros(20, int), 21, 22]
    dst = np.r_[np.arange(1, 21), 22, 23]
    path = write_dataset(
        tmp_path / "g",
        src=src,
        dst=dst,
        num_nodes=25,
        directed=False,
        name="star",
        features=np.ones((25, 3)),
        labels=np.arange(25) % 2,
    )
    s = dataset_stats(path, hub_threshold=10)
    assert s["num_nodes"] == 25 and s["edge_rows"] == 22 and s["csr_edges"] == 44
    assert s["isolated_nodes"] == 1
    assert s["degree_min"] == 0 and s["degree_max"] == 20 and s["degree_median"] == 1.0
    assert s["hubs"] == 1 and s["hub_edge_share"] == pytest.approx(20 / 44)
    assert s["feature_dim"] == 3 and s["num_classes"] == 2
    assert s["size_on_disk_bytes"] == sum(f.stat().st_size for f in path.iterdir())


def test_directed_isolated_counts_both_directions(tmp_path: Path) -> None:
    path = write_dataset(
        tmp_path / "d", src=[0, 1], dst=[1, 2], num_nodes=4, directed=True, name="d"
    )
    s = dataset_stats(path)
    assert s["isolated_nodes"] == 1  # node 2 has an in-edge only, node 3 nothing
    assert s["degree_min"] == 0 and s["hubs"] == 0 and s["hub_edge_share"] == 0.0
