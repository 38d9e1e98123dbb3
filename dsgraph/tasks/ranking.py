"""Full-ranking evaluation of recommendations with training items masked.

Every user with held-out items is scored against every item; items the user had in training are
excluded; recall@K, NDCG@K and hit-rate@K come from ``torch_geometric.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch_geometric.metrics import (
    LinkPredHitRatio,
    LinkPredMetricCollection,
    LinkPredNDCG,
    LinkPredPrecision,
    LinkPredRecall,
)

_NAMES = {
    "LinkPredRecall": "recall",
    "LinkPredNDCG": "ndcg",
    "LinkPredHitRatio": "hit_rate",
    "LinkPredPrecision": "precision",
}


def _user_csr(users: np.ndarray, items: np.ndarray, num_users: int) -> tuple[np.ndarray, ...]:
    order = np.argsort(users, kind="stable")
    indptr = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=num_users), out=indptr[1:])
    return indptr, items[order].astype(np.int64)


class RankingEvaluator:
    """Scores users against all items and reports metrics at ``k``.

    ``train_users``/``train_items``: local ids (items 0..I-1) to mask; ``test_users``/
    ``test_items``: the held-out interactions. Users without test items are not scored.
    Users are processed in chunks of ``chunk`` rows, so memory is O(chunk · I).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        train_users: np.ndarray,
        train_items: np.ndarray,
        test_users: np.ndarray,
        test_items: np.ndarray,
        k: int = 20,
        chunk: int = 2048,
    ) -> None:
        self.num_users, self.num_items, self.k, self.chunk = num_users, num_items, k, chunk
        self.train_indptr, self.train_cols = _user_csr(train_users, train_items, num_users)
        self.test_indptr, self.test_cols = _user_csr(test_users, test_items, num_users)
        self.eval_users = np.flatnonzero(np.diff(self.test_indptr) > 0)

    def _collection(self) -> LinkPredMetricCollection:
        k = self.k
        return LinkPredMetricCollection(
            [LinkPredRecall(k), LinkPredNDCG(k), LinkPredHitRatio(k), LinkPredPrecision(k)]
        )

    def _rows(self, indptr: np.ndarray, cols: np.ndarray, users: np.ndarray) -> tuple[Tensor, ...]:
        counts = indptr[users + 1] - indptr[users]
        rows = np.repeat(np.arange(users.size), counts)
        starts = np.repeat(indptr[users], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return torch.from_numpy(rows), torch.from_numpy(cols[starts + offsets])

    @torch.no_grad()
    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> dict[str, float]:
        """Metrics for ``score_fn(users: LongTensor) -> float scores [len(users), I]``."""
        metrics = self._collection()
        k = min(self.k, self.num_items)
        for start in range(0, self.eval_users.size, self.chunk):
            users = self.eval_users[start : start + self.chunk]
            scores = score_fn(torch.from_numpy(users)).float().clone()
            rows, cols = self._rows(self.train_indptr, self.train_cols, users)
            scores[rows, cols] = float("-inf")
            top = scores.topk(k, dim=1).indices
            label_rows, label_cols = self._rows(self.test_indptr, self.test_cols, users)
            metrics.update(top, torch.stack([label_rows, label_cols]))
        out = metrics.compute()
        return {f"{_NAMES[name.split('@')[0]]}@{self.k}": float(v) for name, v in out.items()}

    def popularity(self) -> dict[str, float]:
        """The popularity baseline: every user gets items ranked by training interaction count."""
        counts = torch.from_numpy(
            np.bincount(self.train_cols, minlength=self.num_items).astype(np.float32)
        )
        return self.evaluate(lambda users: counts.expand(users.numel(), -1))
