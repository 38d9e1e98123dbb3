"""``dsgraph generate | convert | info | datasets`` end to end through the real entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dsgraph.storage import read_dataset

from ._helpers import run


def test_generate_rmat_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rmat"
    code, stdout, _ = run(
        ["generate", "rmat", "-o", str(out), "--scale", "10", "--seed", "3"], capsys
    )
    assert code == 0 and "wrote" in stdout
    code, stdout, _ = run(["info", str(out), "--json", "--hub-threshold", "50"], capsys)
    stats = json.loads(stdout)
    g = read_dataset(out).graph
    deg = g.degrees()
    assert stats["num_nodes"] == 1024 and stats["csr_edges"] == g.num_edges
    assert stats["hubs"] == int((deg > 50).sum())
    assert stats["hub_edge_share"] == pytest.approx(deg[deg > 50].sum() / g.num_edges)
    assert stats["degree_max"] == int(deg.max())
    code, stdout, _ = run(["info", str(out)], capsys)
    assert code == 0 and "hubs (degree > 1,000)" in stdout and "size on disk" in stdout


def test_generate_sbm_and_user_item_are_seeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for sub in ("a", "b"):
        assert (
            run(
                [
                    "generate",
                    "sbm",
                    "-o",
                    str(tmp_path / f"sbm-{sub}"),
                    "--nodes",
                    "300",
                    "--classes",
                    "3",
                    "--features",
                    "4",
                    "--seed",
                    "9",
                ],
                capsys,
            )[0]
            == 0
        )
    a, b = read_dataset(tmp_path / "sbm-a"), read_dataset(tmp_path / "sbm-b")
    assert np.array_equal(a.edges.src, b.edges.src) and np.array_equal(a.labels, b.labels)
    assert (
        run(
            [
                "generate",
                "user-item",
                "-o",
                str(tmp_path / "ui"),
                "--users",
                "60",
                "--items",
                "40",
                "--per-user",
                "6",
            ],
            capsys,
        )[0]
        == 0
    )
    ui = read_dataset(tmp_path / "ui")
    assert ui.num_users == 60 and ui.num_items == 40


def test_convert_commands(
    tmp_path: Path, cora_raw: Path, movielens_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["convert", "planetoid", str(cora_raw), "-o", str(tmp_path / "cora")], capsys)[0] == 0
    )
    assert read_dataset(tmp_path / "cora").meta.num_edges == 10556
    assert (
        run(
            [
                "convert",
                "movielens",
                str(movielens_dir),
                "-o",
                str(tmp_path / "ml"),
                "--split",
                "temporal",
            ],
            capsys,
        )[0]
        == 0
    )
    assert read_dataset(tmp_path / "ml").meta.extra["split_kind"] == "temporal"
    edges = tmp_path / "e.csv"
    edges.write_text("u,v,w\n0,1,2.5\n1,2,1\n")
    assert (
        run(
            [
                "convert",
                "edgelist",
                str(edges),
                "-o",
                str(tmp_path / "el"),
                "--header",
                "--weight-col",
                "w",
                "--directed",
            ],
            capsys,
        )[0]
        == 0
    )
    assert read_dataset(tmp_path / "el").edges.weight.tolist() == [2.5, 1.0]


def test_user_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["info", str(tmp_path / "missing")], capsys)
    assert code == 2 and err.startswith("dsgraph: error:") and err.count("\n") == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\nx,2\n")
    code, _, err = run(["convert", "edgelist", str(bad), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "row 1: node id 'x' is not an integer" in err
    assert not (tmp_path / "o").exists()
    code, _, err = run(["generate", "rmat", "-o", str(tmp_path / "r"), "--scale", "0"], capsys)
    assert code == 2 and "scale" in err


def test_datasets_fetch_offline(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    code, _, _ = run(
        ["datasets", "fetch", "cora", "--from", str(shared_data), "--cache-dir", str(cache)], capsys
    )
    assert code == 0
    ds = read_dataset(cache / "cora" / "dataset")
    assert (
        ds.num_nodes == 2708
        and sorted(p.name for p in (cache / "cora" / "raw").iterdir())[0] == "ind.cora.allx"
    )
    assert run(["datasets", "list"], capsys)[1].count("\n") >= 2


def test_datasets_fetch_rejects_tampered_copy(
    tmp_path: Path, movielens_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "ml"
    shutil.copytree(movielens_dir, copy)
    with open(copy / "u1.test", "a") as fh:
        fh.write("1\t1\t5\t874965758\n")
    code, _, err = run(
        [
            "datasets",
            "fetch",
            "movielens-100k",
            "--from",
            str(copy),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capsys,
    )
    assert code == 2 and "u1.test: sha256" in err and "does not match" in err
    assert not (tmp_path / "cache" / "movielens-100k" / "dataset").exists()
    code, _, err = run(["datasets", "fetch", "imagenet", "--from", str(copy)], capsys)
    assert code == 2 and "unknown dataset 'imagenet'" in err
    (copy / "u.data").unlink()
    code, _, err = run(
        [
            "datasets",
            "fetch",
            "movielens-100k",
            "--from",
            str(copy),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capsys,
    )
    assert code == 2 and "'u.data' of dataset 'movielens-100k' not found" in err
