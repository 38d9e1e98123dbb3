"""``dsgraph partition`` end to end through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dsgraph.storage import read_dataset
from partitioning.io import load_partition

from ._helpers import run


@pytest.fixture(scope="module")
def rmat_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dsgraph.datasets.rmat import generate_rmat

    return generate_rmat(tmp_path_factory.mktemp("data") / "rmat", 11, 8, seed=1)


def test_partition_prints_table_and_writes_parts(
    rmat_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["partition", str(rmat_dataset), "--parts", "4", "--hub-threshold", "40"], capsys
    )
    assert code == 0, err
    for text in (
        "owned nodes",
        "halo nodes",
        "mirrors",
        "edge cut",
        "replication factor",
        "communication volume",
        "peak memory",
    ):
        assert text in out
    target = rmat_dataset.with_name("rmat.parts") / "4"
    meta = json.loads((target / "meta.json").read_text())
    assert meta["num_parts"] == 4 and meta["hub_threshold"] == 40 and meta["seed"] == 0
    graph = read_dataset(rmat_dataset).graph
    owned = sum(load_partition(target, p).num_owned for p in range(4))
    assert owned == graph.num_nodes


def test_partition_json_is_deterministic(
    rmat_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for name in ("a", "b"):
        code, out, _ = run(
            [
                "partition",
                str(rmat_dataset),
                "-k",
                "3",
                "--seed",
                "7",
                "--json",
                "--out",
                str(tmp_path / name),
            ],
            capsys,
        )
        assert code == 0
        runs.append(json.loads(out))
    for key in ("owned_nodes", "owned_edges", "halo_nodes", "edge_cut", "comm_volume"):
        assert runs[0][key] == runs[1][key]
    a = load_partition(tmp_path / "a", 1).local_to_global
    np.testing.assert_array_equal(a, load_partition(tmp_path / "b", 1).local_to_global)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parts", "0"], "number of parts must be an integer ≥ 1"),
        (["--parts", "5000"], "exceeds the number of nodes"),
        (["--balance", "cut"], "balance 'cut' is not one of"),
        (["--hub-threshold", "-1"], "--hub-threshold must be ≥ 0"),
        (["--halo-hops", "0"], "halo hops must be ≥ 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    rmat_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args, message
) -> None:
    code, _, err = run(
        ["partition", str(rmat_dataset), "--out", str(tmp_path / "o"), *args], capsys
    )
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_missing_dataset_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code, _, err = run(["partition", str(tmp_path / "nope"), "--parts", "2"], capsys)
    assert code == 2 and "nope" in err


def test_edge_weights_flag_on_movielens(
    movielens_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dsgraph.storage.converters.movielens import convert_movielens

    data = convert_movielens(movielens_dir, tmp_path / "ml")
    code, out, err = run(
        [
            "partition",
            str(data),
            "-k",
            "4",
            "--edge-weights",
            "--json",
            "--out",
            str(tmp_path / "ml.parts"),
        ],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["num_nodes"] == 943 + 1682 and metrics["num_edges"] == 200_000
    assert metrics["vertex_imbalance"] <= 0.05
    local = load_partition(tmp_path / "ml.parts", 0)
    assert local.graph.weights is not None
