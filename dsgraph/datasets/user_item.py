"""Synthetic user–item interactions with latent tastes and power-law item popularity.

Each user has a taste vector near one of a few taste clusters; each item has a latent vector and a
popularity bias drawn from a Zipf law. A user's interactions are drawn without replacement with
probability ∝ exp(taste · item / temperature + popularity), using the Gumbel top-k trick. The
latest interactions of each user (by synthetic timestamp) are held out as test: they come from the
same preference model as the training ones, so a model that learns tastes from the graph beats
popularity ranking on them, while popularity alone is a fair but weaker baseline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dsgraph.errors import GraphFormatError

# Users are processed in blocks so the [block, num_items] score matrix stays small.
_USER_BLOCK = 1024


def user_item_interactions(
    num_users: int,
    num_items: int,
    interactions_per_user: float = 25.0,
    *,
    latent_dim: int = 16,
    num_taste_clusters: int = 8,
    temperature: float = 0.1,
    popularity_exponent: float = 0.7,
    popularity_weight: float = 1.0,
    min_interactions: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Arrays of a bipartite interaction graph; users are ids 0..U-1, items U..U+I-1.

    Returns ``src`` (user id), ``dst`` (item node id), ``timestamp`` (int64, increasing per user),
    ``edge_split`` (int8: 1 train, 3 test), one row per (user, item) pair, no duplicates.
    Interaction counts per user are log-normal around ``interactions_per_user``, clipped to
    [min_interactions, num_items // 2]. Deterministic in its arguments.
    """
    if num_users < 1 or num_items < 2:
        raise GraphFormatError(f"need ≥ 1 user and ≥ 2 items, got {num_users}, {num_items}")
    if not 0 < test_fraction < 1:
        raise GraphFormatError(f"test_fraction must be in (0, 1), got {test_fraction}")
    max_per_user = max(min_interactions, num_items // 2)
    if min_interactions < 2 or min_interactions > num_items // 2:
        raise GraphFormatError(
            f"min_interactions must be in [2, num_items // 2 = {num_items // 2}], "
            f"got {min_interactions}"
        )
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((num_taste_clusters, latent_dim))
    cluster = rng.integers(0, num_taste_clusters, num_users)
    users = centers[cluster] + 0.5 * rng.standard_normal((num_users, latent_dim))
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    items = rng.standard_normal((num_items, latent_dim))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    # Zipf popularity: item of popularity rank r gets bias −exponent·log(r), ranks shuffled.
    ranks = rng.permutation(num_items) + 1
    pop_bias = -popularity_exponent * np.log(ranks) * popularity_weight
    sigma = 0.6
    counts = rng.lognormal(np.log(interactions_per_user) - sigma**2 / 2, sigma, num_users)
    counts = np.clip(np.rint(counts), min_interactions, max_per_user).astype(np.int64)

    src_parts, dst_parts = [], []
    for lo in range(0, num_users, _USER_BLOCK):
        hi = min(lo + _USER_BLOCK, num_users)
        logits = users[lo:hi] @ items.T / temperature + pop_bias
        keys = logits + rng.gumbel(size=logits.shape)
        order = np.argsort(-keys, axis=1)
        for row, u in enumerate(range(lo, hi)):
            chosen = order[row, : counts[u]]
            src_parts.append(np.full(chosen.size, u, np.int64))
            dst_parts.append(chosen.astype(np.int64))
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts) + num_users
    # Synthetic time: each user's interactions in a random order over a year; the latest
    # test_fraction of each user's history is the held-out test set.
    timestamp = 1_600_000_000 + rng.integers(0, 365 * 86_400, src.size)
    from dsgraph.storage.converters.movielens import temporal_split

    split = temporal_split(src, timestamp, test_fraction)
    return dict(src=src, dst=dst, timestamp=timestamp, edge_split=split)


def generate_user_item(
    path: str | os.PathLike[str],
    num_users: int,
    num_items: int,
    interactions_per_user: float = 25.0,
    *,
    seed: int = 0,
    name: str | None = None,
    **model: float,
) -> Path:
    """Write :func:`user_item_interactions` as a bipartite dataset (undirected, no features)."""
    from dsgraph.storage.writer import write_dataset

    arrays = user_item_interactions(num_users, num_items, interactions_per_user, seed=seed, **model)
    num_nodes = num_users + num_items
    return write_dataset(
        path,
        num_nodes=num_nodes,
        directed=False,
        name=name or f"user-item-u{num_users}-i{num_items}",
        node_type=np.r_[np.zeros(num_users, np.int8), np.ones(num_items, np.int8)],
        node_types={"user": (0, num_users), "item": (num_users, num_nodes)},
        extra_meta={
            "generator": {
                "kind": "user-item",
                "num_users": num_users,
                "num_items": num_items,
                "interactions_per_user": interactions_per_user,
                "seed": seed,
                **model,
            }
        },
        **arrays,
    )
