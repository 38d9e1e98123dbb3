"""Precision policy: fp32, bf16 autocast (CPU, CUDA), fp16 autocast + dynamic loss scaling (CUDA).

One object owns everything a training step needs to know about numeric precision, so the trainer
uses the same verbs in every mode::

    with policy.autocast():
        loss = model_loss(batch)          # dense transforms in bf16/fp16, loss in fp32
    policy.scale(loss).backward()
    policy.unscale_(optimizer)            # grads now true-scale; inf/NaN recorded
    ...                                   # clip / compress gradients here
    stepped = policy.step(optimizer)      # False: the update was skipped (inf/NaN grads)
    policy.update()                       # adjust the loss scale, count fp32 steps down

fp16 uses ``torch.amp.GradScaler`` (dynamic loss scale: halve on overflow, double after
``growth_interval`` clean steps). bf16 has fp32's exponent range, so it needs no scaling: its scaler
is a no-op with scale 1.0 that still checks gradients and skips non-finite updates. The loss-anomaly
guard calls :meth:`PrecisionPolicy.backoff` and :meth:`PrecisionPolicy.force_fp32` after a spike.

Sparse aggregation goes through :func:`sparse_aggregate`, which runs in fp32 under any autocast:
torch's CSR ``sparse_mm_reduce`` rejects bf16 operands, and fp16 sums over high-degree nodes
overflow (the scatter overflow PyG and DGL users hit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Literal

import torch

from dsgraph.errors import ConfigError

__all__ = [
    "PRECISION_MODES",
    "PrecisionPolicy",
    "all_finite",
    "fp32_region",
    "resolve_mode",
    "sparse_aggregate",
]

PRECISION_MODES = ("fp32", "bf16", "fp16", "auto")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_mode(mode: str, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    """Turn ``auto`` into a concrete mode (fp16 on CUDA, bf16 on CPU) and validate the others."""
    if mode not in PRECISION_MODES:
        raise ConfigError(
            f"train.precision: {mode!r} is not a precision mode (allowed: "
            f"{', '.join(PRECISION_MODES)})"
        )
    if mode == "auto":
        return "fp16" if device.type == "cuda" else "bf16"
    return mode  # type: ignore[return-value]


@contextlib.contextmanager
def fp32_region(device_type: str = "cpu") -> Iterator[None]:
    """Disable autocast inside the block: ops run in the dtype of their (fp32) inputs."""
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def sparse_aggregate(
    adj_t: torch.Tensor, x: torch.Tensor, reduce: Literal["sum", "mean"] = "sum"
) -> torch.Tensor:
    """Aggregate neighbour features ``adj_t @ x`` in fp32, whatever autocast is active.

    ``adj_t`` is a ``torch.sparse_csr`` matrix [num_targets, num_sources] (row = target node,
    values = edge weights, any float dtype); ``x`` is dense [num_sources, F] in any float dtype.
    Returns fp32 [num_targets, F] (fp64 for fp64 ``x``): the weighted sum, or for ``mean`` the
    sum divided by the row's number of stored entries (rows without entries give 0).
    Differentiable in ``x``.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    if adj_t.layout != torch.sparse_csr:
        raise TypeError(f"adj_t must be a torch.sparse_csr tensor, got layout {adj_t.layout}")
    if adj_t.dim() != 2 or x.dim() != 2 or adj_t.shape[1] != x.shape[0]:
        raise ValueError(
            f"shape mismatch: adj_t {tuple(adj_t.shape)} cannot aggregate x {tuple(x.shape)} "
            "(need adj_t [targets, sources] and x [sources, F])"
        )
    # fp64 inputs stay fp64 (gradient checks); everything else is computed in fp32.
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    with fp32_region(x.device.type):
        if adj_t.dtype != dtype:
            adj_t = adj_t.to(dtype)
        return torch.sparse.mm(adj_t, x.to(dtype), reduce)


class _NoOpScaler:
    """Scale 1.0 and no growth; the policy still skips steps whose gradients are not finite."""

    def get_scale(self) -> float:
        return 1.0

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class PrecisionPolicy:
    """Autocast + loss scaling for one device; see the module docstring for the step protocol.

    Args:
        mode: ``fp32`` | ``bf16`` | ``fp16`` | ``auto`` (fp16 on CUDA, bf16 on CPU).
        device: where the model runs; fp16 needs CUDA (checked via ``dsgraph.capabilities``).
        init_scale, growth_factor, backoff_factor, growth_interval: ``torch.amp.GradScaler``
            settings for fp16. The defaults suit most models; lower ``growth_interval`` when the
            scale backs off often early in training.
        allow_cpu_fp16: run fp16 autocast + GradScaler on CPU. Slow and only meant for exercising
            the loss-scaling logic without a GPU.
    """

    __slots__ = ("_found_inf", "_fp32_remaining", "_scaler", "device", "dtype", "mode")

    def __init__(
        self,
        mode: str,
        device: torch.device | str = "cpu",
        *,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        allow_cpu_fp16: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.mode = resolve_mode(mode, self.device)
        self.dtype: torch.dtype = _DTYPES.get(self.mode, torch.float32)
        self._fp32_remaining = 0
        self._found_inf: dict[int, bool] = {}
        if self.mode == "fp16":
            if self.device.type == "cuda":
                from dsgraph.capabilities import require

                require("fp16_cuda", "precision fp16")
            elif not allow_cpu_fp16:
                raise ConfigError(
                    f"train.precision: fp16 needs a CUDA device, the device is {self.device}; "
                    "use bf16 (or fp32) on CPU"
                )
            self._scaler: Any = torch.amp.GradScaler(
                self.device.type,
                init_scale=init_scale,
                growth_factor=growth_factor,
                backoff_factor=backoff_factor,
                growth_interval=growth_interval,
            )
        else:
            if self.mode == "bf16" and self.device.type == "cuda":
                from dsgraph.capabilities import require

                require("bf16_cuda", "precision bf16")
            self._scaler = _NoOpScaler()

    # -- forward -------------------------------------------------------------------------------
    @property
    def fp32_steps_remaining(self) -> int:
        """Steps still forced to fp32 by :meth:`force_fp32`."""
        return self._fp32_remaining

    @property
    def compute_dtype(self) -> torch.dtype:
        """dtype autocast uses for dense ops this step (fp32 while forced or in fp32 mode)."""
        return torch.float32 if self._fp32_remaining > 0 else self.dtype

    def autocast(self) -> AbstractContextManager[Any]:
        """``torch.autocast`` in bf16/fp16; a no-op context in fp32 or while forced to fp32."""
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def fp32(self) -> AbstractContextManager[None]:
        """Autocast disabled: wrap the loss (and anything overflow-prone) computed in fp32."""
        return fp32_region(self.device.type)

    # -- backward and step ---------------------------------------------------------------------
    @property
    def loss_scale(self) -> float:
        """Current loss scale (1.0 unless fp16)."""
        return float(self._scaler.get_scale())

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to call ``backward()`` on (multiplied by the loss scale in fp16)."""
        if self.mode == "fp16":
            return self._scaler.scale(loss)
        return loss

    def unscale_(self, optimizer: torch.optim.Optimizer) -> bool:
        """Divide the optimizer's grads by the loss scale (fp16) and record inf/NaN.

        Call at most once per step, after backward and before clipping or compressing the
        gradients. Returns True when every gradient is finite.
        """
        key = id(optimizer)
        if key in self._found_inf:
            raise RuntimeError("unscale_() was already called for this optimizer in this step")
        if self.mode == "fp16":
            self._scaler.unscale_(optimizer)
        finite = _grads_finite(_params_of(optimizer))
        self._found_inf[key] = not finite
        return finite

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Apply the update unless some gradient is inf/NaN; returns whether it was applied."""
        key = id(optimizer)
        if key not in self._found_inf:
            self.unscale_(optimizer)
        skipped = self._found_inf[key]
        if self.mode == "fp16":
            # GradScaler decides from its own record made in unscale_; both see the same grads.
            self._scaler.step(optimizer)
        elif not skipped:
            optimizer.step()
        return not skipped

    def update(self) -> None:
        """End of step: adjust the fp16 loss scale, count forced-fp32 steps down."""
        if self.mode == "fp16" and self._found_inf:
            self._scaler.update()
        self._found_inf.clear()
        if self._fp32_remaining > 0:
            self._fp32_remaining -= 1

    # -- guard hooks ---------------------------------------------------------------------------
    def backoff(self) -> None:
        """Multiply the fp16 loss scale by ``backoff_factor`` now; a no-op in fp32/bf16.

        Call it between steps or before ``backward`` (as the guard's skip does), not between
        :meth:`unscale_` and :meth:`step`.
        """
        if self.mode != "fp16":
            return
        scaler = self._scaler
        new_scale = scaler.get_scale() * scaler.get_backoff_factor()
        if scaler._scale is None:
            # No step has run yet: the scale tensor is created lazily from init_scale.
            scaler._init_scale = new_scale
        else:
            scaler.update(new_scale)

    def force_fp32(self, steps: int) -> None:
        """Run the next ``steps`` steps without autocast (extends, never shortens, a window)."""
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self._fp32_remaining = max(self._fp32_remaining, int(steps))

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data: mode, loss-scaler state, remaining forced-fp32 steps."""
        return {
            "mode": self.mode,
            "scaler": dict(self._scaler.state_dict()),
            "fp32_remaining": self._fp32_remaining,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the saved mode must equal this policy's."""
        if state.get("mode") != self.mode:
            raise ConfigError(
                f"precision state is for mode {state.get('mode')!r}, this run uses {self.mode!r}"
            )
        if state.get("scaler"):
            self._scaler.load_state_dict(state["scaler"])
        self._fp32_remaining = int(state.get("fp32_remaining", 0))
        self._found_inf.clear()

    def log_stats(self) -> dict[str, float]:
        """Numbers worth logging every step."""
        return {
            "loss_scale": self.loss_scale,
            "fp32_forced": float(self._fp32_remaining > 0),
        }

    def __repr__(self) -> str:
        return (
            f"PrecisionPolicy(mode={self.mode!r}, device={self.device}, "
            f"loss_scale={self.loss_scale:g}, fp32_remaining={self._fp32_remaining})"
        )


def _params_of(optimizer: torch.optim.Optimizer) -> Iterable[torch.Tensor]:
    for group in optimizer.param_groups:
        yield from group["params"]


def _grads_finite(params: Iterable[torch.Tensor]) -> bool:
    return all_finite([p.grad for p in params if p.grad is not None])


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """True when no tensor holds inf/NaN (sparse tensors: their stored values).

    Fast path: one sum per tensor (no temporaries; inf/NaN propagate into the sum); only a
    non-finite sum, which an overflow of huge finite values can also cause, is checked exactly.
    """
    dense = [t.coalesce().values() if t.is_sparse else t for t in tensors]
    if not dense:
        return True
    sums = torch.stack([t.sum().float() for t in dense])
    if bool(torch.isfinite(sums).all()):
        return True
    return all(bool(torch.isfinite(t).all()) for t in dense)
