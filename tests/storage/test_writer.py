"""write_dataset: validation before any write, atomic replacement, meta.json contents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dsgraph.errors import DatasetError, GraphFormatError
from dsgraph.storage import read_dataset, write_dataset
from dsgraph.storage import writer as writer_module

from .conftest import small_arrays


def _write(path: Path, **overrides: object) -> Path:
    arrays = small_arrays()
    arrays.update(overrides)
    return write_dataset(path, directed=False, name="t", **arrays)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(src=np.r_[np.zeros(299, int), -1]), GraphFormatError, r"'src' row 299: node id -1"),
        (dict(dst=np.r_[np.zeros(299, int), 60]), GraphFormatError, r"'dst' row 299: node id 60"),
        (dict(src=np.zeros(300, dtype=np.float64)), GraphFormatError, "integer node ids"),
        (dict(num_nodes=0), DatasetError, "empty graph"),
        (
            dict(
                src=np.zeros(0, int),
                dst=np.zeros(0, int),
                weight=None,
                timestamp=None,
                edge_split=None,
                edge_type=None,
            ),
            DatasetError,
            "empty graph",
        ),
        (dict(features=np.ones((60, 0), np.float32)), DatasetError, "'feat' must be"),
        (dict(features=np.ones((59, 4), np.float32)), DatasetError, "'feat' must be"),
        (
            dict(features=np.where(np.arange(240).reshape(60, 4) == 42, np.nan, 1.0)),
            DatasetError,
            "'feat' row 10: value nan at position 2",
        ),
        (dict(weight=np.r_[np.ones(299), np.inf]), DatasetError, "'weight' row 299"),
        (dict(labels=np.full(60, -2)), DatasetError, "'label' row 0"),
        (dict(split=np.full(60, 9)), DatasetError, "'split' row 0: split code 9"),
        (dict(split=np.array(["train"] * 59 + ["dev"])), DatasetError, "unknown split 'dev'"),
        (dict(edge_split=np.ones(12, np.int8)), DatasetError, "'edge split' must have 300"),
        (dict(timestamp=np.ones(300) * 0.5), DatasetError, "'timestamp' must be integer"),
    ],
)
def test_bad_input_raises_and_writes_nothing(
    tmp_path: Path, overrides: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        _write(tmp_path / "bad", **overrides)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_keeps_previous_dataset(tmp_path: Path) -> None:
    path = _write(tmp_path / "ds")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(DatasetError):
        _write(tmp_path / "ds", features=np.full((60, 3), np.nan))
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_crash_mid_write_keeps_previous_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "ds")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "_write_edges", crash)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path / "ds", labels=np.zeros(60, int))
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp dir left behind
    read_dataset(path)


def test_overwrite_false_refuses(tmp_path: Path) -> None:
    _write(tmp_path / "ds")
    with pytest.raises(DatasetError, match="exists"):
        write_dataset(
            tmp_path / "ds", src=[0], dst=[1], num_nodes=2, directed=True, name="x", overwrite=False
        )


def test_meta_json_contract(tmp_path: Path) -> None:
    path = write_dataset(
        tmp_path / "m",
        src=[0, 1, 2],
        dst=[3, 4, 3],
        num_nodes=5,
        directed=False,
        name="m",
        edge_split=["train", "train", "test"],
        node_types={"user": (0, 3), "item": (3, 5)},
        extra_meta={"source": "unit test"},
    )
    meta = json.loads((path / "meta.json").read_text())
    assert meta == {
        "format_version": 1,
        "name": "m",
        "num_nodes": 5,
        "directed": False,
        "num_edges": 3,
        "feature_dim": 0,
        "num_classes": 0,
        "splits": None,
        "node_types": {"user": [0, 3], "item": [3, 5]},
        "num_users": 3,
        "num_items": 2,
        "edge_splits": {"train": 2, "val": 0, "test": 1},
        "source": "unit test",
    }
    assert read_dataset(path).meta.extra == {"source": "unit test"}


def test_extra_meta_cannot_override_reserved_keys(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="reserved"):
        write_dataset(
            tmp_path / "x",
            src=[0],
            dst=[1],
            num_nodes=2,
            directed=True,
            name="x",
            extra_meta={"num_nodes": 9},
        )


def test_torch_features_and_int_features_are_accepted(tmp_path: Path) -> None:
    import torch

    path = write_dataset(
        tmp_path / "f",
        src=[0],
        dst=[1],
        num_nodes=2,
        directed=True,
        name="f",
        features=torch.arange(6).reshape(2, 3),
    )
    assert read_dataset(path).features.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
