"""Server-side optimizers: dense (flat fp32 shard) and row-wise sparse (embedding tables).

Dense optimizers accept a full gradient or a Top-K one (positions + values); with Top-K they
update only the touched positions and their state (lazy, as torch.optim.SparseAdam), which is what
makes a 5% push cost 5% of a dense one. ``weight`` scales a gradient (staleness down-weighting).
State is plain numpy arrays and scalars (``state_dict``) so shard checkpoints are ``.npz`` files.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dsgraph.distributed import _kernels as K
from dsgraph.errors import ConfigError


def _f32(values: np.ndarray) -> np.ndarray:
    return values if values.dtype == np.float32 else values.astype(np.float32)


class DenseOptimizer(Protocol):
    def apply(
        self, params: np.ndarray, grad: np.ndarray, indices: np.ndarray | None, weight: float
    ) -> None: ...
    def state_dict(self) -> dict[str, np.ndarray]: ...
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


class RowOptimizer(Protocol):
    def apply(
        self, table: np.ndarray, rows: np.ndarray, grads: np.ndarray, weight: float
    ) -> None: ...
    def state_dict(self) -> dict[str, np.ndarray]: ...
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


class DenseSGD:
    """SGD with optional (heavy-ball) momentum; with Top-K, momentum decays only where touched."""

    def __init__(self, numel: int, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr, self.momentum = float(lr), float(momentum)
        self.mom = np.zeros(numel, np.float32) if momentum > 0 else np.zeros(0, np.float32)

    def apply(
        self, params: np.ndarray, grad: np.ndarray, indices: np.ndarray | None, weight: float
    ) -> None:
        grad = _f32(grad)
        if self.momentum == 0.0:
            if indices is None:
                params -= np.float32(self.lr * weight) * grad
            else:
                K.sgd_sparse(params, indices, grad, np.float32(self.lr * weight))
        elif indices is None:
            K.momentum_dense(params, self.mom, grad, self.lr, self.momentum, weight)
        else:
            K.momentum_sparse(params, self.mom, indices, grad, self.lr, self.momentum, weight)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"mom": self.mom}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.mom = np.array(state["mom"], dtype=np.float32)


class DenseAdam:
    """Adam (Kingma & Ba 2015); lazy on Top-K positions, bias correction by the shard's step."""

    def __init__(
        self,
        numel: int,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), eps
        self.m = np.zeros(numel, np.float32)
        self.v = np.zeros(numel, np.float32)
        self.t = 0

    def apply(
        self, params: np.ndarray, grad: np.ndarray, indices: np.ndarray | None, weight: float
    ) -> None:
        self.t += 1
        bc1, bc2 = 1.0 - self.b1**self.t, 1.0 - self.b2**self.t
        args = (self.lr, self.b1, self.b2, self.eps, bc1, bc2, weight)
        if indices is None:
            K.adam_dense(params, self.m, self.v, _f32(grad), *args)
        else:
            K.adam_sparse(params, self.m, self.v, indices, _f32(grad), *args)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"m": self.m, "v": self.v, "t": np.asarray(self.t, np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.m = np.array(state["m"], np.float32)
        self.v = np.array(state["v"], np.float32)
        self.t = int(state["t"])


class RowAdagrad:
    """Row-wise Adagrad: one fp32 accumulator per embedding row (memory ≈ rows, not rows×dim)."""

    def __init__(self, num_rows: int, dim: int, lr: float = 0.05, eps: float = 1e-8) -> None:
        self.lr, self.eps = float(lr), float(eps)
        self.acc = np.zeros(num_rows, np.float32)

    def apply(self, table: np.ndarray, rows: np.ndarray, grads: np.ndarray, weight: float) -> None:
        K.row_adagrad(table, self.acc, rows, _f32(grads), self.lr, self.eps, weight)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"acc": self.acc}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.acc = np.array(state["acc"], np.float32)


class RowAdam:
    """Row-wise Adam: element-wise first moment, row-wise second moment, per-row step counts."""

    def __init__(
        self,
        num_rows: int,
        dim: int,
        lr: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr, self.b1, self.b2, self.eps = float(lr), float(betas[0]), float(betas[1]), eps
        self.m = np.zeros((num_rows, dim), np.float32)
        self.v = np.zeros(num_rows, np.float32)
        self.steps = np.zeros(num_rows, np.int64)

    def apply(self, table: np.ndarray, rows: np.ndarray, grads: np.ndarray, weight: float) -> None:
        K.row_adam(
            table, self.m, self.v, self.steps, rows, _f32(grads),
            self.lr, self.b1, self.b2, self.eps, weight,
        )  # fmt: skip

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"m": self.m, "v": self.v, "steps": self.steps}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.m = np.array(state["m"], np.float32)
        self.v = np.array(state["v"], np.float32)
        self.steps = np.array(state["steps"], np.int64)


DENSE_OPTIMIZERS = ("sgd", "adam")
ROW_OPTIMIZERS = ("adagrad", "adam", "sgd")


def make_dense_optimizer(name: str, numel: int, lr: float, momentum: float = 0.0):
    """Build a dense optimizer by config name ("sgd" | "adam")."""
    if name == "sgd":
        return DenseSGD(numel, lr=lr, momentum=momentum)
    if name == "adam":
        return DenseAdam(numel, lr=lr)
    raise ConfigError(f"dense optimizer {name!r} is not supported (allowed: {DENSE_OPTIMIZERS})")


class RowSGD:
    """Plain SGD on rows (no state); the baseline of the sparse optimizers."""

    def __init__(self, num_rows: int, dim: int, lr: float = 0.05) -> None:
        self.lr = float(lr)

    def apply(self, table: np.ndarray, rows: np.ndarray, grads: np.ndarray, weight: float) -> None:
        table[rows] -= np.float32(self.lr * weight) * _f32(grads)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        return None


def make_row_optimizer(name: str, num_rows: int, dim: int, lr: float):
    """Build a row-wise optimizer by config name ("adagrad" | "adam" | "sgd")."""
    if name == "adagrad":
        return RowAdagrad(num_rows, dim, lr=lr)
    if name == "adam":
        return RowAdam(num_rows, dim, lr=lr)
    if name == "sgd":
        return RowSGD(num_rows, dim, lr=lr)
    raise ConfigError(f"embedding optimizer {name!r} is not supported (allowed: {ROW_OPTIMIZERS})")
