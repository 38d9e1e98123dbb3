"""Vertex weights for METIS and the spreading of nodes METIS never sees (isolated nodes)."""

from __future__ import annotations

import numpy as np

from dsgraph.errors import PartitionError

BALANCE_CHOICES: dict[str, tuple[str, ...]] = {
    "nodes": ("nodes",),
    "edges": ("edges",),
    "nodes+edges": ("nodes", "edges"),
}


def parse_balance(balance: str | tuple[str, ...]) -> tuple[str, ...]:
    """Normalise a balance spec ('nodes', 'edges', 'nodes+edges' or a tuple of those names)."""
    if isinstance(balance, str):
        if balance not in BALANCE_CHOICES:
            allowed = ", ".join(BALANCE_CHOICES)
            raise PartitionError(f"balance '{balance}' is not one of: {allowed}")
        return BALANCE_CHOICES[balance]
    names = tuple(balance)
    bad = [b for b in names if b not in ("nodes", "edges", "train")]
    if bad or not names:
        raise PartitionError(f"balance {names!r} must be a non-empty subset of nodes, edges, train")
    return names


def fill_quotas(counts: np.ndarray, extra: int) -> np.ndarray:
    """How many of ``extra`` new items each part gets so the lightest parts fill up first.

    Water-filling: raises the lowest counts to a common level; the remainder goes one each to
    the lowest part ids among the parts at that level. Returns int64 ``[k]`` summing to
    ``extra``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    k = counts.size
    quota = np.zeros(k, dtype=np.int64)
    if extra <= 0:
        return quota
    order = np.argsort(counts, kind="stable")
    sorted_c = counts[order]
    # Largest level L reachable: sum over parts of max(0, L - c) ≤ extra.
    for j in range(1, k + 1):
        level = (extra + sorted_c[:j].sum()) // j
        if j == k or level <= sorted_c[j]:
            break
    fill = np.maximum(level - sorted_c[:j], 0)
    quota[order[:j]] = fill
    left = extra - int(fill.sum())
    if left:
        quota[np.sort(order[:j])[:left]] += 1
    return quota


def spread_nodes(nodes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign ``nodes`` (in the given order) to the parts with the lowest ``counts``.

    Returns (parts of ``nodes`` as int32, updated counts). Deterministic.
    """
    quota = fill_quotas(counts, nodes.size)
    parts = np.repeat(np.arange(counts.size, dtype=np.int32), quota)
    return parts, counts + quota


def repair_balance(
    owner: np.ndarray,
    counted: np.ndarray,
    cost: np.ndarray,
    num_parts: int,
    tolerance: float,
    movable: np.ndarray | None = None,
) -> int:
    """Move the cheapest ``counted`` nodes out of overfull parts, in place; returns the moves.

    A part is overfull when it holds more than ``(1 + tolerance) · mean`` counted nodes; it sheds
    its surplus down to the mean, taking nodes of lowest ``cost`` (their degree: cheap to move
    for edge balance and cut) first, and the lightest parts receive them. METIS balances one
    constraint well on power-law graphs but not several at once, so the others are repaired
    here. Deterministic (ties broken by node id).
    """
    counts = np.bincount(owner[counted], minlength=num_parts)
    mean = counts.sum() / num_parts
    level = int(np.ceil(mean))
    cap = max(int(np.floor(mean * (1.0 + tolerance))), level)
    if counts.max() <= cap:
        return 0
    surplus = np.where(counts > cap, counts - level, 0)
    pool = counted if movable is None else counted & movable
    take = []
    for part in np.flatnonzero(surplus):
        cand = np.flatnonzero(pool & (owner == part))
        cand = cand[np.argsort(cost[cand], kind="stable")][: surplus[part]]
        take.append(cand)
    moved = np.concatenate(take)
    after = counts.copy()
    after[np.flatnonzero(surplus)] -= [t.size for t in take]
    # Overfull parts get a level no fill can reach, so they receive nothing back.
    quota = fill_quotas(np.where(surplus > 0, after.sum() + moved.size + 1, after), moved.size)
    moved = moved[np.argsort(cost[moved], kind="stable")]
    dest = np.repeat(np.arange(num_parts, dtype=owner.dtype), quota)
    # Interleave destinations so cheap and dear movers spread over all receiving parts.
    rank = np.arange(dest.size) - np.repeat(np.cumsum(quota) - quota, quota)
    owner[moved] = dest[np.argsort(rank, kind="stable")]
    return int(moved.size)
