"""TrainStep: compute/apply semantics, guard skips, compression, payload collection."""

from __future__ import annotations

import numpy as np
import torch

from dsgraph.config import ModelConfig, config_from_dict
from dsgraph.models.registry import build_model
from dsgraph.tasks.recommendation import RecommendationTask
from dsgraph.train.compression import GradientCompression
from dsgraph.train.guard import LossGuard
from dsgraph.train.precision import PrecisionPolicy
from dsgraph.train.step import TrainStep


def make(model_name: str = "graphsage"):
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(40), 5)
    items = rng.integers(0, 30, users.size)
    cfg = config_from_dict(
        {
            "version": 1,
            "data": {"path": "unused"},
            "model": {"name": model_name, "embedding_dim": 16, "hidden_dim": 16, "num_layers": 2},
            "train": {"batch_size": 64},
        }
    )
    task = RecommendationTask(40, 30, (users, items), (users[:10], items[:10]), cfg)
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(**cfg.model.model_dump()), num_nodes=task.num_nodes, in_dim=0, out_dim=16
    )
    return task, model


def test_compute_then_apply_updates_parameters() -> None:
    task, model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = TrainStep(model, task, PrecisionPolicy("fp32"))
    before = [p.detach().clone() for p in model.parameters()]
    out = step.compute(task.batch(0, 0), 0, opt)
    assert out.update and np.isfinite(out.loss)
    assert {"forward", "backward"} <= set(out.timings)
    assert step.apply(opt)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_guard_skip_leaves_parameters_and_forces_fp32() -> None:
    task, model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    precision = PrecisionPolicy("bf16")
    step = TrainStep(model, task, precision, LossGuard(warmup_steps=0))
    original = task.loss

    def nan_loss(m, b):  # a deliberately broken loss
        return original(m, b) * float("nan")

    task.loss = nan_loss
    before = [p.detach().clone() for p in model.parameters()]
    out = step.compute(task.batch(0, 0), 0, opt)
    assert out.verdict.action == "skip" and not out.update
    assert not step.apply(opt)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert precision.fp32_steps_remaining > 0
    assert all(p.grad is None for p in model.parameters())


def test_compression_sparsifies_gradients_with_error_feedback() -> None:
    task, model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    comp = GradientCompression(ratio=0.05, error_feedback=True, min_numel=64)
    step = TrainStep(model, task, PrecisionPolicy("fp32"), compression=comp)
    out = step.compute(task.batch(0, 0), 0, opt)
    emb = model.embedding.weight.grad
    nonzero = int((emb != 0).sum())
    assert nonzero <= int(np.ceil(0.05 * emb.numel())) + 1
    assert out.stats["compression/ratio"] < 0.2
    assert out.stats["compression/residual_norm"] > 0


def test_collect_payloads_gives_dense_payloads_and_embedding_rows() -> None:
    task, model = make()
    step = TrainStep(
        model, task, PrecisionPolicy("fp32"), compress_embeddings=False, collect_payloads=True
    )
    batch = task.batch(0, 0)
    out = step.compute(batch, 0)
    ids, rows = out.sparse_rows["embedding.weight"]
    grad = model.embedding.weight.grad
    assert torch.equal(rows, grad[ids])
    untouched = torch.ones(grad.shape[0], dtype=torch.bool)
    untouched[ids] = False
    assert torch.all(grad[untouched] == 0)
    names = {p.name for p in out.payloads}
    assert "embedding.weight" not in names and "convs.0.lin_l.weight" in names
    for payload in out.payloads:
        dense = dict(model.named_parameters())[payload.name].grad
        np.testing.assert_array_equal(payload.to_numpy(), dense.numpy())
