"""``dsgraph sample`` end to end: a dataset on disk → Parquet walks, neighbourhoods, samples."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dsgraph.cli import main
from dsgraph.storage import read_dataset

from ._helpers import run


@pytest.fixture(scope="module")
def rmat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "rmat"
    try:
        main(["generate", "rmat", "-o", str(out), "--scale", "9", "--edge-factor", "8"])
    except SystemExit as exc:
        assert not exc.code
    return out


def test_walks_file_holds_valid_reproducible_walks(rmat_dir, tmp_path, capsys):
    g = read_dataset(rmat_dir, load_features=False).graph
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    args = ["sample", str(rmat_dir), "--mode", "walk", "--walk-length", "6", "--seed", "5"]
    code, stdout, _ = run([*args, "-o", str(a), "--p", "0.5", "--q", "2"], capsys)
    assert code == 0 and "wrote" in stdout
    run([*args, "-o", str(b), "--p", "0.5", "--q", "2"], capsys)
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.equals(tb)
    walks = np.array(ta.column("nodes").to_pylist())
    assert walks.shape == (int((g.degrees() > 0).sum()), 7)
    assert np.array_equal(walks[:, 0], ta.column("start").to_numpy())
    for row in walks[:200]:
        for u, v in itertools.pairwise(row):
            assert v < 0 or g.has_edge(int(u), int(v))


def test_pinsage_and_neighbor_files(rmat_dir, tmp_path, capsys):
    g = read_dataset(rmat_dir, load_features=False).graph
    out = tmp_path / "pin.parquet"
    code, _, _ = run(
        [
            "sample",
            str(rmat_dir),
            "--mode",
            "pinsage",
            "-o",
            str(out),
            "--limit",
            "50",
            "--restart-prob",
            "0.5",
            "--walk-length",
            "3",
            "--top-t",
            "5",
        ],
        capsys,
    )
    assert code == 0
    t = pq.read_table(out)
    assert t.num_rows == 50 and t.column("node").to_pylist() == list(range(50))
    w = np.array(t.column("weights").to_pylist())
    reached = w.sum(axis=1) > 0
    np.testing.assert_allclose(w[reached].sum(axis=1), 1.0, rtol=1e-5)

    out = tmp_path / "nbr.parquet"
    code, _, _ = run(
        [
            "sample",
            str(rmat_dir),
            "--mode",
            "neighbor",
            "-o",
            str(out),
            "--fanouts",
            "4,2",
            "--batch-size",
            "100",
            "--limit",
            "250",
        ],
        capsys,
    )
    assert code == 0
    t = pq.read_table(out).to_pydict()
    assert set(t["batch"]) == {0, 1, 2} and set(t["hop"]) <= {0, 1}
    for s, d, e in zip(t["src"], t["dst"], t["edge"], strict=True):
        assert g.indices[e] == s and g.indptr[d] <= e < g.indptr[d + 1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mode", "walk", "--p", "0"], "p must be"),
        (["--mode", "walk", "--walk-mode", "weighted"], "edge weights"),
        (["--mode", "neighbor", "--fanouts", "4,x"], "--fanouts"),
        (["--mode", "walk", "--limit", "-1"], "--limit"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(rmat_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "x.parquet"
    code, _, err = run(["sample", str(rmat_dir), "-o", str(out), *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(
        ["sample", str(tmp_path / "nope"), "-o", str(tmp_path / "x.parquet")], capsys
    )
    assert code == 2 and "nope" in err
