"""Server-side optimizers against torch's reference implementations and the lazy-update promise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsgraph.distributed.optimizers import (
    DenseAdam,
    DenseSGD,
    RowAdagrad,
    RowAdam,
    make_dense_optimizer,
    make_row_optimizer,
)
from dsgraph.errors import ConfigError


def _grads(n: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for _ in range(steps)]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_dense_sgd_matches_torch(momentum: float) -> None:
    x0 = np.random.default_rng(1).standard_normal(50).astype(np.float32)
    p = x0.copy()
    opt = DenseSGD(p.size, lr=0.1, momentum=momentum)
    t = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    ref = torch.optim.SGD([t], lr=0.1, momentum=momentum)
    for g in _grads(p.size, 5):
        opt.apply(p, g, None, 1.0)
        t.grad = torch.from_numpy(g)
        ref.step()
    np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dense_adam_matches_torch() -> None:
    x0 = np.random.default_rng(2).standard_normal(64).astype(np.float32)
    p = x0.copy()
    opt = DenseAdam(p.size, lr=0.01)
    t = torch.nn.Parameter(torch.from_numpy(x0.copy()))
    ref = torch.optim.Adam([t], lr=0.01)
    for g in _grads(p.size, 6):
        opt.apply(p, g, None, 1.0)
        t.grad = torch.from_numpy(g)
        ref.step()
    np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_sparse_update_touches_only_given_positions(name: str) -> None:
    p = np.ones(1000, np.float32)
    opt = make_dense_optimizer(name, p.size, lr=0.1, momentum=0.5)
    idx = np.array([3, 500, 999], np.int32)
    opt.apply(p, np.array([1.0, -2.0, 0.5], np.float16), idx, 1.0)
    changed = np.flatnonzero(p != 1.0)
    np.testing.assert_array_equal(changed, idx)


def test_sparse_equals_dense_with_zeros_for_sgd() -> None:
    rng = np.random.default_rng(3)
    g = np.zeros(200, np.float32)
    idx = np.sort(rng.choice(200, 20, replace=False)).astype(np.int32)
    g[idx] = rng.standard_normal(20)
    a = np.zeros(200, np.float32)
    b = np.zeros(200, np.float32)
    DenseSGD(200, lr=0.3).apply(a, g, None, 0.5)
    DenseSGD(200, lr=0.3).apply(b, g[idx], idx, 0.5)
    np.testing.assert_allclose(a, b)


def test_row_adagrad_scales_by_row_accumulator() -> None:
    table = np.zeros((4, 3), np.float32)
    opt = RowAdagrad(4, 3, lr=1.0, eps=0.0)
    g = np.array([[3.0, 4.0, 0.0]], np.float32)
    opt.apply(table, np.array([2]), g, 1.0)
    acc = (9 + 16) / 3
    np.testing.assert_allclose(opt.acc, [0, 0, acc, 0], rtol=1e-6)
    np.testing.assert_allclose(table[2], -g[0] / np.sqrt(acc), rtol=1e-6)
    assert not table[[0, 1, 3]].any()


def test_row_adam_first_step_is_sign_like() -> None:
    table = np.zeros((3, 2), np.float32)
    opt = RowAdam(3, 2, lr=0.1)
    opt.apply(table, np.array([1]), np.array([[2.0, 2.0]], np.float32), 1.0)
    # first bias-corrected Adam step with equal entries moves each by lr
    np.testing.assert_allclose(table[1], [-0.1, -0.1], rtol=1e-4)
    assert opt.steps.tolist() == [0, 1, 0]


def test_state_round_trip_continues_identically() -> None:
    grads = _grads(30, 6, seed=4)
    p1 = np.zeros(30, np.float32)
    o1 = DenseAdam(30, lr=0.05)
    for g in grads:
        o1.apply(p1, g, None, 1.0)
    p2 = np.zeros(30, np.float32)
    o2 = DenseAdam(30, lr=0.05)
    for g in grads[:3]:
        o2.apply(p2, g, None, 1.0)
    o3 = DenseAdam(30, lr=0.05)
    o3.load_state_dict({k: np.array(v) for k, v in o2.state_dict().items()})
    for g in grads[3:]:
        o3.apply(p2, g, None, 1.0)
    np.testing.assert_array_equal(p1, p2)


def test_unknown_optimizer_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="allowed"):
        make_dense_optimizer("lamb", 3, 0.1)
    with pytest.raises(ConfigError, match="allowed"):
        make_row_optimizer("rmsprop", 3, 2, 0.1)
