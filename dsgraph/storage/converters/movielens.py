"""MovieLens (GroupLens ``u.data`` layout) → bipartite user–item dataset.

Users come first (node ids 0..U-1 for GroupLens user ids 1..U), items after them (U..U+I-1 for
item ids 1..I). Every rating is one edge row user → item with the rating as ``weight``, its
``timestamp`` and a per-interaction ``split``; ``directed`` is false, so readers symmetrise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dsgraph.errors import DatasetError
from dsgraph.storage.schema import SPLIT_TEST, SPLIT_TRAIN
from dsgraph.storage.writer import write_dataset

SPLITS = ("u1", "temporal")


def read_ratings(path: Path) -> np.ndarray:
    """[R, 4] int64 (user, item, rating, timestamp) from a tab-separated ratings file."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected a MovieLens ratings file)")
    try:
        rows = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise DatasetError(
            f"{path}: not 'user<TAB>item<TAB>rating<TAB>timestamp' ({exc})"
        ) from None
    if rows.shape[1] != 4:
        raise DatasetError(f"{path}: expected 4 tab-separated columns, found {rows.shape[1]}")
    bad = (rows[:, 0] < 1) | (rows[:, 1] < 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"{path} line {row + 1}: user and item ids start at 1, got {rows[row]}")
    return rows


def temporal_split(users: np.ndarray, timestamps: np.ndarray, test_fraction: float) -> np.ndarray:
    """Per user, mark the latest ``ceil(test_fraction * n_u)`` interactions as test (code 3).

    Ties in time are broken by row order, so the split is deterministic. Users with a single
    interaction keep it in train.
    """
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.lexsort((np.arange(users.size), timestamps, users))  # by user, then time
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, users.size])
    rank = np.arange(users.size) - np.repeat(starts, counts)  # position within the user's history
    n_test = np.where(counts > 1, np.ceil(test_fraction * counts).astype(np.int64), 0)
    is_test_sorted = rank >= np.repeat(counts - n_test, counts)
    split = np.full(users.size, SPLIT_TRAIN, np.int8)
    split[order[is_test_sorted]] = SPLIT_TEST
    return split


def convert_movielens(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str],
    split: str = "u1",
    *,
    test_fraction: float = 0.2,
    name: str = "movielens-100k",
) -> Path:
    """Convert a GroupLens ml-100k style directory.

    ``split="u1"`` takes train/test from ``u1.base``/``u1.test`` (whose union is ``u.data``);
    ``split="temporal"`` reads ``u.data`` and holds out each user's latest ``test_fraction``.
    """
    root = Path(directory)
    if split == "u1":
        base, test = read_ratings(root / "u1.base"), read_ratings(root / "u1.test")
        rows = np.concatenate([base, test])
        codes = np.r_[np.full(len(base), SPLIT_TRAIN), np.full(len(test), SPLIT_TEST)]
    elif split == "temporal":
        rows = read_ratings(root / "u.data")
        codes = temporal_split(rows[:, 0], rows[:, 3], test_fraction)
    else:
        raise DatasetError(f"unknown MovieLens split {split!r}; allowed: {list(SPLITS)}")
    pairs = rows[:, 0] * (rows[:, 1].max() + 1) + rows[:, 1]
    if np.unique(pairs).size != pairs.size:
        raise DatasetError(f"{root}: the same (user, item) pair is rated more than once")
    num_users, num_items = int(rows[:, 0].max()), int(rows[:, 1].max())
    num_nodes = num_users + num_items
    node_type = np.r_[np.zeros(num_users, np.int8), np.ones(num_items, np.int8)]
    return write_dataset(
        out,
        src=rows[:, 0] - 1,
        dst=num_users + rows[:, 1] - 1,
        num_nodes=num_nodes,
        directed=False,
        name=name,
        weight=rows[:, 2].astype(np.float32),
        timestamp=rows[:, 3],
        edge_split=codes.astype(np.int8),
        node_type=node_type,
        node_types={"user": (0, num_users), "item": (num_users, num_nodes)},
        extra_meta={"source": f"MovieLens ({root.resolve()})", "split_kind": split},
    )
