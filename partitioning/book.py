"""PartitionBook: global id → (owner part, local id), hub masters and mirrors, per-part nodes.

Saved as ``book.parquet`` (one row per global id: ``owner`` int32, ``local_id`` int32 — the id
in the owner part —, ``is_hub`` bool) and ``hubs.parquet`` (one row per hub copy: ``hub``
int64, ``part`` int32, ``is_master`` bool, ``edges`` int64, ``weight`` float64). Opening a book
reads ``meta.json`` only; the tables are memory-mapped on first use. Halo nodes of a part are
read from that part's ``nodes.parquet`` (two columns) when asked for.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsgraph.errors import DatasetError
from partitioning.result import HubTable, PartitionResult

BOOK_FILE = "book.parquet"
HUBS_FILE = "hubs.parquet"
META_FILE = "meta.json"
FORMAT_VERSION = 1


def part_dir_name(part: int) -> str:
    return f"part-{part:05d}"


def book_table(result: PartitionResult) -> pa.Table:
    """The ``book.parquet`` table of ``result``."""
    owner = result.owner
    local_id = np.empty(owner.size, dtype=np.int32)
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=result.num_parts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    local_id[order] = (np.arange(owner.size) - starts).astype(np.int32)
    is_hub = np.zeros(owner.size, dtype=bool)
    is_hub[result.hubs.hub_ids] = True
    return pa.table(
        {
            "id": pa.array(np.arange(owner.size, dtype=np.int64)),
            "owner": pa.array(owner.astype(np.int32)),
            "local_id": pa.array(local_id),
            "is_hub": pa.array(is_hub),
        }
    )


def hubs_table(hubs: HubTable) -> pa.Table:
    """The ``hubs.parquet`` table: one row per hub copy."""
    return pa.table(
        {
            "hub": pa.array(hubs.copy_hub().astype(np.int64)),
            "part": pa.array(hubs.copy_part.astype(np.int32)),
            "is_master": pa.array(hubs.copy_is_master()),
            "edges": pa.array(hubs.copy_edges.astype(np.int64)),
            "weight": pa.array(hubs.copy_weight.astype(np.float64)),
        }
    )


def read_hubs(path: Path) -> HubTable:
    """Read ``hubs.parquet`` back into a :class:`HubTable`."""
    table = _read(path, ("hub", "part", "is_master", "edges", "weight"))
    hub = table.column("hub").to_numpy()
    part = table.column("part").to_numpy().astype(np.int32)
    is_master = table.column("is_master").to_numpy(zero_copy_only=False)
    hub_ids, starts = np.unique(hub, return_index=True)
    copy_ptr = np.append(starts, hub.size).astype(np.int64)
    if hub_ids.size and np.any(np.add.reduceat(is_master.astype(np.int64), starts) != 1):
        raise DatasetError(f"{path}: every hub needs exactly one master copy")
    return HubTable(
        hub_ids=hub_ids.astype(np.int64),
        master=part[is_master],
        copy_ptr=copy_ptr,
        copy_part=part,
        copy_edges=table.column("edges").to_numpy().astype(np.int64),
        copy_weight=table.column("weight").to_numpy().astype(np.float64),
    )


def _read(path: Path, columns: tuple[str, ...]) -> pa.Table:
    if not path.is_file():
        raise DatasetError(f"partition file {path} is missing")
    try:
        table = pq.read_table(path, columns=list(columns), memory_map=True)
    except (pa.ArrowInvalid, KeyError) as exc:
        raise DatasetError(f"{path}: cannot read columns {list(columns)}: {exc}") from exc
    return table


def read_meta(parts_dir: Path) -> dict:
    """Validated ``meta.json`` of a partitioned dataset."""
    path = parts_dir / META_FILE
    if not path.is_file():
        raise DatasetError(f"{parts_dir} is not a partitioned dataset: {META_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})"
        )
    for key in ("num_parts", "num_nodes"):
        if not isinstance(meta.get(key), int):
            raise DatasetError(f"{path}: key '{key}' must be an integer")
    return meta


class PartitionBook:
    """Lazy, vectorised view of a partitioned dataset's book (see the module docstring)."""

    def __init__(self, parts_dir: str | Path) -> None:
        self.parts_dir = Path(parts_dir)
        self.meta = read_meta(self.parts_dir)
        self.num_parts: int = self.meta["num_parts"]
        self.num_nodes: int = self.meta["num_nodes"]

    @cached_property
    def _book(self) -> pa.Table:
        table = _read(self.parts_dir / BOOK_FILE, ("owner", "local_id", "is_hub"))
        if table.num_rows != self.num_nodes:
            raise DatasetError(
                f"{self.parts_dir / BOOK_FILE}: {table.num_rows} rows, meta.json says "
                f"{self.num_nodes} nodes"
            )
        return table

    @cached_property
    def owner_array(self) -> np.ndarray:
        """int32 ``[N]`` owner part of every node (a hub's master)."""
        return self._book.column("owner").to_numpy()

    @cached_property
    def local_id_array(self) -> np.ndarray:
        """int32 ``[N]`` local id of every node within its owner part."""
        return self._book.column("local_id").to_numpy()

    @cached_property
    def hubs(self) -> HubTable:
        """Every hub's master, copies and per-copy edge / weight shares."""
        return read_hubs(self.parts_dir / HUBS_FILE)

    def _ids(self, global_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(global_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_nodes):
            bad = ids[(ids < 0) | (ids >= self.num_nodes)][0]
            raise DatasetError(f"node id {int(bad)} is out of range [0, {self.num_nodes})")
        return ids

    def owner(self, global_ids: np.ndarray) -> np.ndarray:
        """Owner part of each global id (int32)."""
        return self.owner_array[self._ids(global_ids)]

    def local_id(self, global_ids: np.ndarray) -> np.ndarray:
        """Local id of each global id in its owner part (int32)."""
        return self.local_id_array[self._ids(global_ids)]

    def is_hub(self, global_ids: np.ndarray) -> np.ndarray:
        return self._book.column("is_hub").to_numpy(zero_copy_only=False)[self._ids(global_ids)]

    def owned(self, part: int) -> np.ndarray:
        """Global ids owned by ``part`` in local-id order (ascending)."""
        return np.flatnonzero(self.owner_array == part).astype(np.int64)

    def mirrors(self, part: int) -> np.ndarray:
        """Hubs with a non-master copy in ``part`` (ascending global ids)."""
        h = self.hubs
        return h.copy_hub()[(h.copy_part == part) & ~h.copy_is_master()]

    def halo(self, part: int) -> np.ndarray:
        """Halo nodes of ``part`` (global ids in local-id order), read from its nodes file."""
        path = self.parts_dir / part_dir_name(part) / "nodes.parquet"
        table = _read(path, ("global_id", "kind"))
        kind = table.column("kind").to_numpy()
        return table.column("global_id").to_numpy()[kind == 2]
