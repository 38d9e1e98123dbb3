"""Recommendation task: leak-free message passing, negatives, deterministic batches, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.config import config_from_dict
from dsgraph.tasks.negatives import NegativeSampler
from dsgraph.tasks.ranking import RankingEvaluator
from dsgraph.tasks.recommendation import RecommendationTask


def interactions(num_users: int = 30, num_items: int = 20, per_user: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(num_users):
        chosen = rng.choice(num_items, per_user, replace=False)
        users += [u] * per_user
        items += list(chosen)
    users, items = np.array(users), np.array(items)
    test = rng.random(users.size) < 0.25
    return (users[~test], items[~test]), (users[test], items[test])


def make_task(**train: object) -> RecommendationTask:
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": "unused"},
            "model": {"name": "lightgcn", "embedding_dim": 8, "num_layers": 2},
            "train": {"batch_size": 16, **train},
            "task": {"k": 5},
        }
    )
    train_pairs, test_pairs = interactions()
    return RecommendationTask(30, 20, train_pairs, test_pairs, cfg)


def test_message_passing_graph_has_only_training_edges() -> None:
    task = make_task()
    g = task.graph
    assert g.is_symmetric()
    for u, i in zip(task.test_users, task.test_items, strict=True):
        if not task.negatives.is_positive(np.array([u]), np.array([i]))[0]:
            assert not g.has_edge(int(u), int(i) + task.num_users)
    for u, i in zip(task.train_users, task.train_items, strict=True):
        assert g.has_edge(int(u), int(i) + task.num_users)


def test_batches_are_deterministic_and_cover_the_epoch() -> None:
    task = make_task()
    a = [task.batch(3, b).targets for b in range(task.num_batches())]
    b = [task.batch(3, b).targets for b in range(task.num_batches())]
    for x, y in zip(a, b, strict=True):
        for key in x:
            assert torch.equal(x[key], y[key])
    pairs = sorted((int(u), int(p)) for t in a for u, p in zip(t["users"], t["pos"], strict=True))
    expected = sorted(
        zip(task.train_users.tolist(), (task.train_items + task.num_users).tolist(), strict=True)
    )
    assert pairs == expected
    assert not torch.equal(task.batch(4, 0).targets["users"], a[0]["users"])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), mode=st.sampled_from(["uniform", "popularity"]))
def test_negatives_avoid_training_positives(seed: int, mode: str) -> None:
    (users, items), _ = interactions(seed=seed % 1000)
    sampler = NegativeSampler(20, users, items, mode=mode, max_retries=30)
    neg = sampler.sample(users, np.random.default_rng(seed))
    assert neg.shape == users.shape and neg.min() >= 0 and neg.max() < 20
    assert sampler.is_positive(users, neg).mean() < 0.01


def test_popularity_negatives_follow_degree() -> None:
    users = np.zeros(1000, dtype=np.int64)
    items = np.r_[np.zeros(900), np.ones(100)].astype(np.int64)  # item 0 nine times as popular
    sampler = NegativeSampler(3, users + 1, items, mode="popularity", alpha=1.0)
    draws = sampler.sample(np.zeros(20000, dtype=np.int64), np.random.default_rng(0))
    share = np.bincount(draws, minlength=3) / draws.size
    assert share[0] == pytest.approx(0.9, abs=0.02) and share[2] < 0.001


def test_ranking_metrics_match_hand_computation() -> None:
    # 2 users, 4 items. User 0 trained on item 0, test item 1; user 1 test items 2, 3.
    ev = RankingEvaluator(
        2, 4, np.array([0]), np.array([0]), np.array([0, 1, 1]), np.array([1, 2, 3]), k=2
    )
    scores = torch.tensor([[9.0, 1.0, 2.0, 0.0], [0.0, 5.0, 4.0, 1.0]])
    out = ev.evaluate(lambda users: scores[users])
    # user 0: item 0 masked → top-2 = [2, 1] → recall 1, ndcg = (1/log2(3)) / 1
    # user 1: top-2 = [1, 2] → recall 1/2, ndcg = (1/log2(3)) / (1 + 1/log2(3))
    ndcg0 = 1 / np.log2(3)
    ndcg1 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert out["recall@2"] == pytest.approx(0.75)
    assert out["ndcg@2"] == pytest.approx((ndcg0 + ndcg1) / 2, rel=1e-5)
    assert out["hit_rate@2"] == pytest.approx(1.0)


def test_bpr_loss_prefers_positives_and_hard_negatives_are_used() -> None:
    task = make_task()
    from dsgraph.config import ModelConfig
    from dsgraph.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(
        ModelConfig(name="lightgcn", embedding_dim=8, num_layers=2),
        num_nodes=task.num_nodes,
        in_dim=0,
        out_dim=8,
    )
    batch = task.batch(0, 0)
    loss = task.loss(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.embedding.weight.grad.abs().sum() > 0
    hard = make_task()
    hard.hard_fraction = 0.5
    assert "hard_candidates" in hard.batch(0, 0).targets
    assert torch.isfinite(hard.loss(model, hard.batch(0, 0)))


def test_popularity_baseline_is_reported() -> None:
    base = make_task().baseline()
    assert set(base) == {"recall@5", "ndcg@5", "hit_rate@5", "precision@5"}
    assert 0.0 <= base["recall@5"] <= 1.0
