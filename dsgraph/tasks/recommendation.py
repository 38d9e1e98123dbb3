"""Recommendation / link prediction on a user–item graph: BPR loss, full-ranking evaluation.

Users are nodes 0..U-1 and items U..U+I-1 (the dataset contract). Message passing uses only the
training interactions (symmetrised), so held-out interactions never leak into the embeddings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dsgraph.config import RunConfig
from dsgraph.errors import DatasetError
from dsgraph.graph import CSRGraph
from dsgraph.models.base import GraphInput, LayerwiseGNN
from dsgraph.tasks.base import (
    Batch,
    batch_rng,
    epoch_permutation,
    eval_forward,
    prepare_features,
)
from dsgraph.tasks.inputs import InputBuilder
from dsgraph.tasks.negatives import NegativeSampler
from dsgraph.tasks.ranking import RankingEvaluator


class RecommendationTask:
    """BPR on (user, positive item, negative item) triples; metrics at ``task.k``.

    ``train``/``test``: (users, items) with local item ids 0..I-1. Each epoch visits every
    training interaction once in a seeded order; negatives come from
    :class:`~dsgraph.tasks.negatives.NegativeSampler`, and a ``hard_negatives`` fraction of them
    is replaced by the highest-scoring of ``hard_pool`` candidates under the current model.
    """

    kind = "recommendation"

    def __init__(
        self,
        num_users: int,
        num_items: int,
        train: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray],
        config: RunConfig,
        features: Tensor | None = None,
    ) -> None:
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.num_nodes = self.num_users + self.num_items
        users, items = (np.asarray(a, dtype=np.int64) for a in train)
        if users.size == 0:
            raise DatasetError("recommendation needs training interactions (edge split 'train')")
        self.train_users, self.train_items = users, items
        self.test_users, self.test_items = (np.asarray(a, dtype=np.int64) for a in test)
        task = config.task
        self.k, self.l2_reg = task.k, task.l2_reg
        self.hard_fraction, self.hard_pool = task.hard_negatives, task.hard_pool
        self.headline = f"recall@{self.k}"
        self.batch_size = config.train.batch_size
        self.seed = config.train.seed
        self.features = prepare_features(features, config.data.normalize_features)
        self.in_dim = 0 if features is None else int(features.shape[1])
        self.out_dim = config.model.embedding_dim
        self.graph = CSRGraph.from_edges(
            users, items + self.num_users, self.num_nodes, symmetrize=True
        )
        self.negatives = NegativeSampler(
            self.num_items, users, items, task.negatives, task.popularity_alpha
        )
        self.evaluator = RankingEvaluator(
            self.num_users,
            self.num_items,
            users,
            items,
            self.test_users,
            self.test_items,
            k=self.k,
        )
        self.inputs = InputBuilder(self.graph, self.features, config.sampler)

    @classmethod
    def from_dataset(cls, dataset: Any, config: RunConfig) -> RecommendationTask:
        meta = dataset.meta
        where = dataset.path
        if not meta.node_types or meta.num_users is None or meta.num_items is None:
            raise DatasetError(
                f"{where}: recommendation needs a bipartite user–item dataset (meta.json "
                "node_types/num_users/num_items); this one has none"
            )
        edges = dataset.edges
        split = edges.split
        if split is None:
            raise DatasetError(
                f"{where}: edges.parquet has no 'split' column; recommendation needs per-"
                "interaction train/test splits"
            )
        src, dst = np.asarray(edges.src), np.asarray(edges.dst)
        users, items = src, dst - meta.num_users
        if users.size and (users.max() >= meta.num_users or items.min() < 0):
            raise DatasetError(
                f"{where}: edges must go user (0..{meta.num_users - 1}) → item "
                f"({meta.num_users}..{meta.num_users + meta.num_items - 1})"
            )
        split = np.asarray(split)
        train = split == 1
        test = split == 3
        if not test.any():
            test = split == 2
        return cls(
            meta.num_users,
            meta.num_items,
            (users[train], items[train]),
            (users[test], items[test]),
            config,
            features=dataset.features,
        )

    # ------------------------------------------------------------------ batches
    def num_batches(self) -> int:
        return max(1, math.ceil(self.train_users.size / self.batch_size))

    def batch(self, epoch: int, index: int) -> Batch:
        perm = epoch_permutation(self.train_users.size, self.seed, epoch)
        pick = perm[index * self.batch_size : (index + 1) * self.batch_size]
        users, pos = self.train_users[pick], self.train_items[pick]
        rng = batch_rng(self.seed, epoch, index)
        neg = self.negatives.sample(users, rng)
        targets = {
            "users": torch.from_numpy(users),
            "pos": torch.from_numpy(pos + self.num_users),
            "neg": torch.from_numpy(neg + self.num_users),
        }
        n_hard = round(self.hard_fraction * users.size)
        if n_hard:
            cand = self.negatives.sample(users[:n_hard], rng, per_user=self.hard_pool)
            targets["hard_candidates"] = torch.from_numpy(cand + self.num_users)
        if self.inputs.samples_per_batch:
            nodes = torch.cat([targets[k].reshape(-1) for k in targets])
            seeds, inverse = torch.unique(nodes, return_inverse=True)
            graph = self.inputs.sample(seeds.numpy(), epoch)
            offset = 0
            for key in list(targets):
                n = targets[key].numel()
                targets[key] = inverse[offset : offset + n].reshape(targets[key].shape)
                offset += n
        else:
            graph = self.inputs.for_epoch(epoch)
        return Batch(graph, targets, epoch, index)

    # ------------------------------------------------------------------ loss
    def loss(self, model: LayerwiseGNN, batch: Batch) -> Tensor:
        """BPR: −log σ(s(u,p) − s(u,n)), mean over the batch, + l2_reg·‖h⁰‖² of the rows used."""
        out = model(batch.graph).float()
        t = batch.targets
        users, pos, neg = t["users"], t["pos"], t["neg"]
        if "hard_candidates" in t:
            neg = neg.clone()
            with torch.no_grad():
                cand = t["hard_candidates"]
                scores = (out[users[: cand.shape[0]]].unsqueeze(1) * out[cand]).sum(-1)
                neg[: cand.shape[0]] = cand.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)
        u, p, n = out[users], out[pos], out[neg]
        diff = (u * p).sum(-1) - (u * n).sum(-1)
        loss = -torch.nn.functional.logsigmoid(diff).mean()
        if self.l2_reg > 0 and model.embedding is not None:
            ids = batch.graph.node_ids
            rows = [users, pos, neg] if ids is None else [ids[users], ids[pos], ids[neg]]
            ego = [model.embedding(r).float() for r in rows]
            loss = loss + self.l2_reg * 0.5 * sum(e.pow(2).sum() for e in ego) / users.numel()
        return loss

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def embeddings(self, model: LayerwiseGNN) -> Tensor:
        """Final embeddings of all nodes (float32 [U+I, D]) from a full-graph eval forward."""
        return eval_forward(model, self.inputs.for_eval)

    def evaluate(self, model: LayerwiseGNN) -> dict[str, float]:
        emb = self.embeddings(model)
        user_emb, item_emb = emb[: self.num_users], emb[self.num_users :]
        return self.evaluator.evaluate(lambda users: user_emb[users] @ item_emb.T)

    def baseline(self) -> dict[str, float]:
        return self.evaluator.popularity()

    def recommend(self, emb: Tensor, user: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` unseen items of ``user`` (local item ids, scores), best first."""
        scores = emb[self.num_users :] @ emb[user]
        lo, hi = self.evaluator.train_indptr[user], self.evaluator.train_indptr[user + 1]
        scores[torch.from_numpy(self.evaluator.train_cols[lo:hi])] = float("-inf")
        top = scores.topk(min(k, self.num_items))
        return top.indices.numpy(), top.values.numpy()

    def full_input(self) -> GraphInput:
        return self.inputs.for_eval()
