"""Refreshed top-k recommendations for the users an update affected.

Scores are dot products of final embeddings, user · item, over every item node; items the user
already interacted with (current out-neighbours) are excluded. The affected users of an update
are the users whose final embedding was recomputed plus the user endpoints of its events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

USER, ITEM = 0, 1


def affected_users(node_ids: np.ndarray, node_type: np.ndarray) -> np.ndarray:
    """Sorted user ids (type 0) among ``node_ids``."""
    ids = np.asarray(node_ids, dtype=np.int64)
    return np.unique(ids[node_type[ids] == USER])


def top_k(
    emb: torch.Tensor,
    users: Iterable[int],
    node_type: np.ndarray,
    neighbors: Callable[[int], np.ndarray],
    k: int = 20,
) -> dict[int, list[tuple[int, float]]]:
    """``{user: [(item node id, score), …]}`` best first, ``k`` unseen items per user."""
    items = np.flatnonzero(node_type[: emb.shape[0]] == ITEM)
    item_emb = emb[torch.from_numpy(items)]
    pos = np.full(emb.shape[0], -1, dtype=np.int64)
    pos[items] = np.arange(items.size)
    out: dict[int, list[tuple[int, float]]] = {}
    users = [int(u) for u in users]
    for start in range(0, len(users), 1024):  # chunks keep the score matrix small
        chunk = users[start : start + 1024]
        scores = emb[torch.tensor(chunk, dtype=torch.long)] @ item_emb.T
        for row, u in enumerate(chunk):
            seen = pos[neighbors(u)]
            seen = seen[seen >= 0]
            if seen.size:
                scores[row, torch.from_numpy(seen)] = float("-inf")
        kk = min(k, items.size)
        top = scores.topk(kk, dim=1)
        for row, u in enumerate(chunk):
            vals = top.values[row].tolist()
            idx = top.indices[row].tolist()
            out[u] = [
                (int(items[i]), float(s)) for i, s in zip(idx, vals, strict=True) if s > -np.inf
            ]
    return out


def refresh_for_update(engine, node_ids: np.ndarray, events: Iterable, k: int):
    """Top-k of the users an update touched (recomputed users + user endpoints of events)."""
    node_type = engine.node_type
    if node_type is None:
        return None
    ends = []
    for ev in events:
        for attr in ("src", "dst", "node"):
            v = getattr(ev, attr, None)
            if v is not None and v < node_type.size:
                ends.append(int(v))
    first = affected_users(np.array(ends, dtype=np.int64), node_type)
    rest = np.setdiff1d(affected_users(node_ids, node_type), first)
    # the users named by the events come first, then the others whose embedding changed
    users = np.concatenate([first, rest])
    return top_k(engine.embeddings(), users, node_type, engine.neighbors, k)
