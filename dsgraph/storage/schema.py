"""The on-disk dataset format: file names, column types, split codes and ``meta.json``.

A dataset directory holds ``meta.json``, ``nodes.parquet`` and ``edges.parquet``; see
docs/dataset-format.md for the full description.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dsgraph.errors import DatasetError

FORMAT_VERSION = 1
META_FILE = "meta.json"
NODES_FILE = "nodes.parquet"
EDGES_FILE = "edges.parquet"

# Split codes shared by node and edge tables.
SPLIT_NONE, SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST = 0, 1, 2, 3
SPLIT_CODES: dict[str, int] = {"none": 0, "train": 1, "val": 2, "test": 3}
SPLIT_NAMES: dict[int, str] = {v: k for k, v in SPLIT_CODES.items()}

# Column name → Arrow type written by dsgraph. Readers accept any integer width for integer
# columns (other tools write int32) but nothing else.
EDGE_COLUMNS: dict[str, pa.DataType] = {
    "src": pa.int64(),
    "dst": pa.int64(),
    "weight": pa.float32(),
    "timestamp": pa.int64(),
    "type": pa.int8(),
    "split": pa.int8(),
}
NODE_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "label": pa.int64(),
    "split": pa.int8(),
    "type": pa.int8(),
}
REQUIRED_EDGE_COLUMNS = ("src", "dst")


def feature_type(dim: int) -> pa.DataType:
    """Arrow type of the ``feat`` column: fixed_size_list<float32>[dim]."""
    return pa.list_(pa.float32(), dim)


_META_KEYS = (
    "format_version",
    "name",
    "num_nodes",
    "directed",
    "num_edges",
    "feature_dim",
    "num_classes",
    "splits",
    "node_types",
    "num_users",
    "num_items",
    "edge_splits",
)


@dataclass
class DatasetMeta:
    """Mirror of ``meta.json``. ``node_types`` maps a type name to its id range [start, stop)."""

    name: str
    num_nodes: int
    directed: bool
    num_edges: int
    feature_dim: int = 0
    num_classes: int = 0
    splits: dict[str, int] | None = None
    node_types: dict[str, list[int]] | None = None
    num_users: int | None = None
    num_items: int | None = None
    edge_splits: dict[str, int] | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_bipartite(self) -> bool:
        return self.node_types is not None and {"user", "item"} <= set(self.node_types)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        return {**{k: out[k] for k in _META_KEYS}, **extra}

    def write(self, directory: Path) -> None:
        (Path(directory) / META_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, raw: Any, source: str = META_FILE) -> DatasetMeta:
        """Validate a parsed ``meta.json``; errors name ``source`` and the offending key."""
        if not isinstance(raw, dict):
            raise DatasetError(f"{source}: expected a JSON object, got {type(raw).__name__}")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetError(
                f"{source}: key 'format_version' is {version!r}; this dsgraph reads version "
                f"{FORMAT_VERSION} (is this a dsgraph dataset?)"
            )
        for key in ("name", "num_nodes", "directed", "num_edges"):
            if key not in raw:
                raise DatasetError(f"{source}: required key '{key}' is missing")
        _expect(raw, "name", str, source)
        _expect(raw, "directed", bool, source)
        for key in ("num_nodes", "num_edges", "feature_dim", "num_classes"):
            _expect_count(raw, key, source, optional=key in ("feature_dim", "num_classes"))
        for key in ("num_users", "num_items"):
            if raw.get(key) is not None:
                _expect_count(raw, key, source)
        for key in ("splits", "edge_splits"):
            value = raw.get(key)
            if value is None:
                continue
            if not isinstance(value, dict) or not all(
                k in SPLIT_CODES and _is_count(v) for k, v in value.items()
            ):
                raise DatasetError(
                    f"{source}: key '{key}' must be null or map split names "
                    f"{sorted(SPLIT_CODES)} to counts, got {value!r}"
                )
        node_types = raw.get("node_types")
        if node_types is not None:
            ok = isinstance(node_types, dict) and all(
                isinstance(r, list)
                and len(r) == 2
                and all(_is_count(x) for x in r)
                and r[0] <= r[1] <= raw["num_nodes"]
                for r in node_types.values()
            )
            if not ok:
                raise DatasetError(
                    f"{source}: key 'node_types' must map type names to [start, stop) ranges "
                    f"within [0, {raw['num_nodes']}], got {node_types!r}"
                )
        known = {k: raw.get(k) for k in _META_KEYS if k in raw}
        extra = {k: v for k, v in raw.items() if k not in _META_KEYS}
        known.setdefault("feature_dim", 0)
        known.setdefault("num_classes", 0)
        return cls(**known, extra=extra)

    @classmethod
    def read(cls, directory: Path) -> DatasetMeta:
        path = Path(directory) / META_FILE
        if not Path(directory).is_dir():
            raise DatasetError(f"{directory}: no such dataset directory")
        if not path.is_file():
            raise DatasetError(f"{path}: missing; {directory} is not a dsgraph dataset")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(raw, str(path))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _expect(raw: dict, key: str, kind: type, source: str) -> None:
    if not isinstance(raw[key], kind):
        raise DatasetError(
            f"{source}: key '{key}' must be {kind.__name__}, got {type(raw[key]).__name__} "
            f"{raw[key]!r}"
        )


def _expect_count(raw: dict, key: str, source: str, optional: bool = False) -> None:
    if optional and key not in raw:
        return
    if not _is_count(raw.get(key)):
        raise DatasetError(
            f"{source}: key '{key}' must be a non-negative integer, got {raw.get(key)!r}"
        )
