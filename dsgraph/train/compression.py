"""Top-K gradient compression with error feedback (GRACE-style compressor + memory).

Three small parts, as in GRACE (Xu et al., "GRACE: A Compressed Communication Framework for
Distributed Machine Learning", ICDCS 2021):

* :class:`TopKCompressor` keeps the k = ceil(ratio * n) entries of largest magnitude of a tensor
  and packs them as a :class:`TopKPayload` (int32 flat indices + fp32/fp16 values);
* :class:`ErrorFeedback` is the memory: what was not sent is added to the next step's gradient
  (Stich et al., "Sparsified SGD with Memory", 2018), optionally with DGC momentum correction
  and momentum-factor masking (Lin et al., "Deep Gradient Compression", ICLR 2018);
* the communicator is the parameter-server push (``dsgraph.distributed``); locally,
  :class:`GradientCompression` writes the decompressed gradient back into ``p.grad`` before the
  optimizer step, so a single-process run updates exactly as a worker's push would.

Selection is deterministic: the k largest ``|x|``, ties broken by the lower flat index, indices in
ascending order; zeros are never sent (a gradient with fewer than k non-zeros sends them all).
Large tensors take a sampled-threshold fast path (estimate the threshold from a ~1% sample, one
scan, trim to exactly k) that returns the same entries as the exact path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
import torch

from dsgraph.train.precision import all_finite

__all__ = [
    "CompressionResult",
    "ErrorFeedback",
    "GradientCompression",
    "TopKCompressor",
    "TopKPayload",
    "accumulate_topk_sampled",
    "topk_exact",
    "topk_sampled",
]

ValueDtype = Literal["fp32", "fp16"]
_VALUE_DTYPES = {"fp32": np.float32, "fp16": np.float16}
_FP16_MAX = float(np.finfo(np.float16).max)
_INT32_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class TopKPayload:
    """What goes on the wire for one tensor.

    ``indices`` are int32 flat positions into the tensor (row-major), ascending; ``values`` are
    fp32 or fp16 in the same order. ``indices is None`` marks a dense payload: ``values`` is then
    the whole flattened tensor (small tensors and warm-up steps are sent that way, without the
    index overhead). Arrays are read-only by convention (Ray maps them from shared memory).
    """

    name: str
    shape: tuple[int, ...]
    numel: int
    indices: np.ndarray | None
    values: np.ndarray

    @property
    def dense(self) -> bool:
        return self.indices is None

    @property
    def nbytes(self) -> int:
        """Bytes of indices + values (metadata not counted)."""
        return int(self.values.nbytes) + (0 if self.indices is None else int(self.indices.nbytes))

    @property
    def dense_nbytes(self) -> int:
        """Bytes of the same tensor sent dense in fp32."""
        return 4 * self.numel

    def flat_indices(self) -> np.ndarray:
        """int32 positions of ``values`` (``arange(numel)`` for a dense payload)."""
        if self.indices is None:
            return np.arange(self.numel, dtype=np.int32)
        return self.indices

    def to_numpy(self) -> np.ndarray:
        """Dense fp32 array of ``shape`` with the sent entries and zeros elsewhere."""
        if self.indices is None:
            return self.values.astype(np.float32).reshape(self.shape)
        out = np.zeros(self.numel, dtype=np.float32)
        out[self.indices] = self.values
        return out.reshape(self.shape)


# -- selection kernels ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _scan_above(x, threshold, out_idx, out_val):  # pragma: no cover - compiled
    """Write positions/values with |x| >= threshold in index order; return how many there are.

    Stops writing (but keeps counting) when the buffers are full, so the caller can detect an
    overflow from the returned count.
    """
    count = 0
    cap = out_idx.shape[0]
    for i in range(x.shape[0]):
        v = x[i]
        if abs(v) >= threshold:
            if count < cap:
                out_idx[count] = i
                out_val[count] = v
            count += 1
    return count


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _accumulate_scan_above(grad, residual, threshold, out_idx, out_val):  # pragma: no cover
    """``residual += grad`` and, in the same pass, :func:`_scan_above` over the new residual."""
    count = 0
    cap = out_idx.shape[0]
    for i in range(grad.shape[0]):
        v = residual[i] + grad[i]
        residual[i] = v
        if abs(v) >= threshold:
            if count < cap:
                out_idx[count] = i
                out_val[count] = v
            count += 1
    return count


def _keep_top(abs_vals: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest entries of ``abs_vals``; ties go to the lower positions."""
    n = abs_vals.size
    kth = np.partition(abs_vals, n - k)[n - k]
    keep = abs_vals > kth
    need = k - int(np.count_nonzero(keep))
    if need > 0:
        keep[np.flatnonzero(abs_vals == kth)[:need]] = True
    return keep


def topk_exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of a flat float array by magnitude: (int32 ascending indices, values).

    Zeros are never selected (they carry nothing), so an array with fewer than k non-zeros gives
    all of them; NaN entries are never selected either. Costs one partition of the magnitudes
    (of the non-zero ones only when the array is mostly zeros, as embedding gradients are).
    """
    if k <= 0:
        return np.empty(0, np.int32), np.empty(0, x.dtype)
    abs_vals = np.abs(x)
    nonzero_mask = abs_vals > 0  # NaN > 0 is False
    nnz = int(np.count_nonzero(nonzero_mask))
    if nnz <= k:
        idx = np.flatnonzero(nonzero_mask)
    elif 2 * nnz <= x.size:
        nonzero = np.flatnonzero(nonzero_mask)
        idx = nonzero[_keep_top(abs_vals[nonzero], k)]
    else:
        # nnz > k, so the k-th largest magnitude is > 0 and zeros/NaN (as -1) never make the cut
        abs_vals[np.isnan(abs_vals)] = -1.0
        idx = np.flatnonzero(_keep_top(abs_vals, k))
    idx = idx.astype(np.int32)
    return idx, x[idx]


def topk_sampled(
    x: np.ndarray, k: int, sample_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Top-k via a threshold estimated from ``x[sample_positions]``; None when it cannot decide.

    The threshold is set ~3 standard deviations (binomial) below the sample's k/n quantile, so
    one scan almost always catches at least k entries; the surplus is trimmed by a partition of
    the caught values only. The result equals :func:`topk_exact`'s. Returns None (caller falls
    back to the exact path) when the scan caught fewer than k entries or overflowed its buffer
    (heavy ties, e.g. mostly-zero gradients).
    """
    if not 0 < k < x.size:
        return None
    plan = _sampled_threshold(np.abs(x[sample_positions]), x.size, k)
    if plan is None:
        return None
    threshold, capacity = plan
    idx = np.empty(capacity, dtype=np.int32)
    vals = np.empty(capacity, dtype=x.dtype)
    caught = int(_scan_above(x, x.dtype.type(threshold), idx, vals))
    return _trim_caught(idx, vals, caught, k)


def accumulate_topk_sampled(
    grad: np.ndarray, residual: np.ndarray, k: int, sample_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """``residual += grad`` in place, fused with :func:`topk_sampled` of the new residual.

    One pass over memory instead of two (error feedback's add, then the scan). The add always
    completes; None means the caller should select from ``residual`` with :func:`topk_exact`.
    Both arrays are flat float32 of the same size.
    """
    n = grad.size
    plan = None
    if 0 < k < n:
        sample = np.abs(residual[sample_positions] + grad[sample_positions])
        plan = _sampled_threshold(sample, n, k)
    if plan is None:
        np.add(residual, grad, out=residual)
        return None
    threshold, capacity = plan
    idx = np.empty(capacity, dtype=np.int32)
    vals = np.empty(capacity, dtype=np.float32)
    caught = int(_accumulate_scan_above(grad, residual, np.float32(threshold), idx, vals))
    return _trim_caught(idx, vals, caught, k)


def _sampled_threshold(sample: np.ndarray, n: int, k: int) -> tuple[float, int] | None:
    """(threshold, buffer capacity) for a scan that should catch a little over k of n entries."""
    m = sample.size
    if m == 0:
        return None
    expected = m * k / n
    rank = math.ceil(expected + 3.0 * math.sqrt(expected)) + 1
    if rank >= m:
        return None
    threshold = np.partition(sample, m - rank)[m - rank]
    if not threshold > 0:  # zero or NaN: the scan would catch (almost) everything
        return None
    # The caught share is a Beta(rank, m - rank) draw: its std is about sqrt(rank) / m.
    capacity = min(n, math.ceil(n * (rank + 6.0 * math.sqrt(rank)) / m) + 64)
    return float(threshold), capacity


def _trim_caught(
    idx: np.ndarray, vals: np.ndarray, caught: int, k: int
) -> tuple[np.ndarray, np.ndarray] | None:
    if caught < k or caught > idx.size:
        return None
    idx, vals = idx[:caught], vals[:caught]
    if caught > k:
        keep = _keep_top(np.abs(vals), k)
        idx, vals = idx[keep], vals[keep]
    return idx, vals


# -- compressor ----------------------------------------------------------------------------------


def _flat_fp32(tensor: torch.Tensor) -> np.ndarray:
    t = tensor.detach()
    if t.dtype != torch.float32:
        t = t.float()
    return t.reshape(-1).cpu().numpy()


class TopKCompressor:
    """Keep the k = ceil(ratio * n) largest-magnitude non-zero entries of a tensor.

    Args:
        ratio: fraction of entries sent (0 < ratio <= 1). 0.01–0.05 is typical; with error
            feedback convergence is close to dense even at 1%.
        value_dtype: ``fp32`` or ``fp16`` values on the wire (fp16 halves value bytes; values are
            clipped to ±65504 and the rounding error stays in the error-feedback residual).
        sample_fraction: share of entries sampled to estimate the threshold on the fast path
            (at least 10,000 samples are drawn). Larger is steadier, smaller is faster.
        exact_below: tensors with fewer entries use the exact partition (it is cheap there).
        seed: seeds the sample positions (fixed per tensor size, so results are reproducible).
    """

    __slots__ = ("_samples", "exact_below", "ratio", "sample_fraction", "seed", "value_dtype")

    MIN_SAMPLES = 10_000

    def __init__(
        self,
        ratio: float = 0.05,
        value_dtype: ValueDtype = "fp32",
        sample_fraction: float = 0.01,
        exact_below: int = 1_000_000,
        *,
        seed: int = 0,
    ) -> None:
        _check_ratio(ratio)
        if value_dtype not in _VALUE_DTYPES:
            raise ValueError(f"value_dtype must be 'fp32' or 'fp16', got {value_dtype!r}")
        if not 0.0 < sample_fraction <= 1.0:
            raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
        self.ratio = float(ratio)
        self.value_dtype: ValueDtype = value_dtype
        self.sample_fraction = float(sample_fraction)
        self.exact_below = int(exact_below)
        self.seed = int(seed)
        self._samples: dict[int, np.ndarray] = {}

    def k_for(self, numel: int, ratio: float | None = None) -> int:
        """Entries kept for a tensor of ``numel`` entries: ceil(ratio · numel) (fewer if zeros)."""
        r = self.ratio if ratio is None else ratio
        return min(numel, max(1, math.ceil(r * numel))) if numel else 0

    def select(self, flat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(int32 ascending indices, values) of the k largest |flat|; picks the path by size."""
        if flat.size >= self.exact_below and 0 < k < flat.size:
            picked = topk_sampled(flat, k, self.sample_positions(flat.size))
            if picked is not None:
                return picked
        return topk_exact(flat, k)

    def compress(self, name: str, tensor: torch.Tensor, ratio: float | None = None) -> TopKPayload:
        """Top-k payload of ``tensor`` (any float dtype/device; read, never modified).

        ``ratio`` overrides the compressor's ratio for this call (warm-up schedules); a ratio of
        1 gives a dense payload.
        """
        if ratio is not None:
            _check_ratio(ratio)
        numel = tensor.numel()
        if numel > _INT32_LIMIT:
            raise ValueError(f"{name}: {numel} entries exceed the int32 index range")
        flat = _flat_fp32(tensor)
        k = self.k_for(numel, ratio)
        if k >= numel:
            return self.dense_payload(name, tensor)
        idx, vals = self.select(flat, k)
        return TopKPayload(name, tuple(tensor.shape), numel, idx, self._wire_values(vals))

    def dense_payload(self, name: str, tensor: torch.Tensor) -> TopKPayload:
        """The whole tensor as a payload (``indices`` None), values in the wire dtype."""
        flat = _flat_fp32(tensor)
        return TopKPayload(name, tuple(tensor.shape), flat.size, None, self._wire_values(flat))

    def decompress(self, payload: TopKPayload) -> torch.Tensor:
        """Dense fp32 tensor of ``payload.shape``: sent entries, zeros elsewhere."""
        return torch.from_numpy(payload.to_numpy())

    @staticmethod
    def decompress_into(payload: TopKPayload, out: torch.Tensor) -> torch.Tensor:
        """Write the payload densely into ``out`` (numel must match; any float dtype) in place."""
        if out.numel() != payload.numel:
            raise ValueError(f"{payload.name}: out has {out.numel()} entries, not {payload.numel}")
        if not out.is_contiguous():
            return out.copy_(torch.from_numpy(payload.to_numpy()).view_as(out))
        flat = out.view(-1)
        values = torch.from_numpy(payload.values).to(flat.device, flat.dtype)
        if payload.indices is None:
            flat.copy_(values)
        else:
            flat.zero_()
            flat[torch.from_numpy(payload.indices).to(flat.device, torch.int64)] = values
        return out

    def _wire_values(self, vals: np.ndarray) -> np.ndarray:
        if self.value_dtype == "fp16":
            return np.clip(vals, -_FP16_MAX, _FP16_MAX).astype(np.float16)
        return np.array(vals, dtype=np.float32, copy=True)

    def sample_positions(self, n: int) -> np.ndarray:
        """Sorted int64 positions sampled to estimate the threshold of an n-entry tensor.

        min(n, max(MIN_SAMPLES, ceil(sample_fraction · n))) positions, drawn with replacement
        once per size from ``seed`` and cached.
        """
        positions = self._samples.get(n)
        if positions is None:
            m = min(n, max(self.MIN_SAMPLES, math.ceil(n * self.sample_fraction)))
            rng = np.random.default_rng([self.seed, n])
            # Sorted positions make the gather walk memory forward.
            positions = np.sort(rng.integers(0, n, size=m, dtype=np.int64))
            self._samples[n] = positions
        return positions


def _check_ratio(ratio: float) -> None:
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")


# -- memory --------------------------------------------------------------------------------------


class ErrorFeedback:
    """Residual memory: what a payload did not carry is added to the next gradient.

    ``compensate`` returns ``grad + residual`` (with momentum correction:
    ``u = momentum·u + grad``, then ``u + residual``); ``update`` stores
    ``compensated − decompress(payload)`` as the new residual and, with momentum, zeroes the
    velocity at the sent positions (DGC momentum-factor masking; a dense payload keeps its
    velocity, which makes it plain momentum SGD). With momentum correction the
    optimizer itself should run without momentum (plain SGD), as in DGC.
    Residuals are fp32 tensors on the gradient's device, keyed by parameter name.
    """

    __slots__ = ("momentum", "residuals", "velocities")

    def __init__(self, momentum: float = 0.0) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.residuals: dict[str, torch.Tensor] = {}
        self.velocities: dict[str, torch.Tensor] = {}

    def compensate(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        """``grad (+ momentum correction) + residual`` as fp32 of grad's shape.

        The result is the memory's own residual buffer, updated in place (no per-step
        allocation of model-sized temporaries): read it, compress it, then pass it to
        :meth:`update` before the next ``compensate`` of the same name.
        """
        g = grad.detach()
        if self.momentum > 0.0:
            u = self.velocities.get(name)
            if u is None or u.shape != g.shape:
                u = torch.zeros(g.shape, dtype=torch.float32, device=g.device)
                self.velocities[name] = u
            g = u.mul_(self.momentum).add_(g)
        residual = self.residuals.get(name)
        if residual is None or residual.shape != g.shape:
            residual = g.to(torch.float32, copy=True)
            self.residuals[name] = residual
            return residual
        return residual.add_(g)

    def update(self, name: str, compensated: torch.Tensor, payload: TopKPayload) -> None:
        """residual = compensated − decompress(payload); mask the velocity where sent."""
        residual = self.residuals.get(name)
        if residual is None or compensated is not residual:
            residual = compensated.detach().to(torch.float32, copy=True)
            self.residuals[name] = residual
        flat = residual.view(-1)
        values = torch.from_numpy(payload.values.astype(np.float32, copy=False)).to(flat.device)
        if payload.indices is None:
            flat.sub_(values)
        else:
            idx = torch.from_numpy(payload.indices).to(flat.device, torch.int64)
            flat.index_add_(0, idx, values, alpha=-1.0)
            if name in self.velocities:
                self.velocities[name].view(-1).index_fill_(0, idx, 0.0)

    def residual_norm(self) -> float:
        """L2 norm over all residuals (how much gradient is still waiting to be sent)."""
        if not self.residuals:
            return 0.0
        # dot (BLAS) is several times faster than norm() on large fp32 vectors
        squares = [torch.dot(r.view(-1), r.view(-1)) for r in self.residuals.values()]
        return float(torch.stack(squares).sum().sqrt())

    def reset(self) -> None:
        self.residuals.clear()
        self.velocities.clear()

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain data: momentum, residuals and velocities by name."""
        return {
            "momentum": self.momentum,
            "residuals": {k: v.detach().cpu().clone() for k, v in self.residuals.items()},
            "velocities": {k: v.detach().cpu().clone() for k, v in self.velocities.items()},
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.momentum = float(state["momentum"])
        self.residuals = {k: v.to(device) for k, v in state["residuals"].items()}
        self.velocities = {k: v.to(device) for k, v in state["velocities"].items()}


# -- glue for the trainer ------------------------------------------------------------------------


@dataclass
class CompressionResult:
    """Payloads of one step plus the numbers worth logging.

    ``skipped`` means some gradient was inf/NaN: nothing was compressed, residuals and grads were
    left untouched (the precision policy will skip the update).
    """

    payloads: list[TopKPayload] = field(default_factory=list)
    bytes_sent: int = 0
    dense_bytes: int = 0
    selected: int = 0
    numel: int = 0
    target_ratio: float = 1.0
    seconds: float = 0.0
    residual_norm: float = 0.0
    skipped: bool = False

    @property
    def ratio(self) -> float:
        """Bytes sent / bytes of the dense fp32 gradients (1.0 when nothing was sent)."""
        return self.bytes_sent / self.dense_bytes if self.dense_bytes else 1.0

    @property
    def density(self) -> float:
        """Share of gradient entries sent."""
        return self.selected / self.numel if self.numel else 1.0

    def log_stats(self) -> dict[str, float]:
        return {
            "compression/bytes_sent": float(self.bytes_sent),
            "compression/dense_bytes": float(self.dense_bytes),
            "compression/ratio": self.ratio,
            "compression/density": self.density,
            "compression/k_ratio": self.target_ratio,
            "compression/seconds": self.seconds,
            "compression/residual_norm": self.residual_norm,
            "compression/skipped": float(self.skipped),
        }


class GradientCompression:
    """Top-K + error feedback over a model's gradients, in place, once per step.

    For every parameter with a dense gradient: compensate (add the residual) → select top-k →
    update the residual → replace ``p.grad`` by the decompressed sparse gradient. Row-sparse
    gradients (``nn.Embedding(sparse=True)``) are left as they are: they travel as row updates.
    Large fp32 CPU gradients without momentum fuse the residual add into the selection scan
    (same result, one pass less). Any inf/NaN gradient skips the whole step untouched.

    Args:
        ratio: target fraction of entries sent per tensor (default 5%).
        error_feedback: keep the residual memory; without it the unsent mass is dropped and
            convergence suffers (reported in ``benchmarks/bench_quality.py``).
        momentum: DGC momentum correction (e.g. 0.9, use with a momentum-free optimizer); 0 = off.
        warmup_steps: DGC warm-up: the ratio decays geometrically from 1 (dense) at step 0 to
            ``ratio`` at ``warmup_steps``, which protects the first, fast-changing steps.
        value_dtype: ``fp32`` or ``fp16`` values on the wire.
        min_numel: tensors smaller than this are sent dense (indices would cost more than they
            save; biases and norms are tiny).
        sample_fraction, exact_below, seed: see :class:`TopKCompressor`.
    """

    __slots__ = ("compressor", "memory", "min_numel", "warmup_steps")

    def __init__(
        self,
        ratio: float = 0.05,
        error_feedback: bool = True,
        momentum: float = 0.0,
        warmup_steps: int = 0,
        value_dtype: ValueDtype = "fp32",
        min_numel: int = 1024,
        *,
        sample_fraction: float = 0.01,
        exact_below: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        if momentum and not error_feedback:
            raise ValueError("momentum correction needs error_feedback=True")
        self.compressor = TopKCompressor(
            ratio, value_dtype, sample_fraction, exact_below, seed=seed
        )
        self.memory: ErrorFeedback | None = ErrorFeedback(momentum) if error_feedback else None
        self.warmup_steps = int(warmup_steps)
        self.min_numel = int(min_numel)

    @property
    def ratio(self) -> float:
        return self.compressor.ratio

    def ratio_at(self, step: int) -> float:
        """Top-k ratio used at ``step`` (warm-up: geometric from 1 to ``ratio``)."""
        if self.warmup_steps <= 0 or step >= self.warmup_steps:
            return self.ratio
        return float(self.ratio ** (max(step, 0) / self.warmup_steps))

    def compress_model(
        self, named_params: Iterable[tuple[str, torch.nn.Parameter]], step: int
    ) -> CompressionResult:
        """Compress every gradient of ``named_params`` in place; see the class docstring."""
        t0 = time.perf_counter()
        ratio = self.ratio_at(step)
        params = [(n, p) for n, p in named_params if p.grad is not None and not p.grad.is_sparse]
        result = CompressionResult(target_ratio=ratio)
        grads = [p.grad for _, p in params]
        if grads and not all_finite(grads):
            result.skipped = True
            result.seconds = time.perf_counter() - t0
            return result
        for name, p in params:
            grad = p.grad
            if self._fusable(grad, ratio):
                payload = self._compress_fused(name, grad, ratio)
            else:
                sent = self.memory.compensate(name, grad) if self.memory is not None else grad
                if grad.numel() < self.min_numel:
                    payload = self.compressor.dense_payload(name, sent)
                else:
                    payload = self.compressor.compress(name, sent, ratio=ratio)
                if self.memory is not None:
                    self.memory.update(name, sent, payload)
            self.compressor.decompress_into(payload, grad)
            result.payloads.append(payload)
            result.bytes_sent += payload.nbytes
            result.dense_bytes += payload.dense_nbytes
            result.selected += payload.values.size
            result.numel += payload.numel
        if self.memory is not None:
            result.residual_norm = self.memory.residual_norm()
        result.seconds = time.perf_counter() - t0
        return result

    def _fusable(self, grad: torch.Tensor, ratio: float) -> bool:
        """Large fp32 CPU gradient with plain error feedback: add and select in one pass."""
        memory, n = self.memory, grad.numel()
        return (
            memory is not None
            and memory.momentum == 0.0
            and grad.dtype == torch.float32
            and grad.device.type == "cpu"
            and grad.is_contiguous()
            and n >= max(self.min_numel, self.compressor.exact_below)
            and self.compressor.k_for(n, ratio) < n
        )

    def _compress_fused(self, name: str, grad: torch.Tensor, ratio: float) -> TopKPayload:
        """Same result as compensate → compress → update, with the add fused into the scan."""
        memory, compressor = self.memory, self.compressor
        assert memory is not None
        residual = memory.residuals.get(name)
        if residual is None or residual.shape != grad.shape:
            residual = torch.zeros(grad.shape, dtype=torch.float32)
            memory.residuals[name] = residual
        n = grad.numel()
        k = compressor.k_for(n, ratio)
        flat_residual = residual.view(-1).numpy()
        picked = accumulate_topk_sampled(
            grad.detach().view(-1).numpy(), flat_residual, k, compressor.sample_positions(n)
        )
        idx, vals = picked if picked is not None else topk_exact(flat_residual, k)
        payload = TopKPayload(name, tuple(grad.shape), n, idx, compressor._wire_values(vals))
        memory.update(name, residual, payload)
        return payload

    def state_dict(self) -> dict[str, Any]:
        """Plain data + tensors: settings and the error-feedback memory."""
        c = self.compressor
        return {
            "ratio": c.ratio,
            "value_dtype": c.value_dtype,
            "warmup_steps": self.warmup_steps,
            "min_numel": self.min_numel,
            "memory": None if self.memory is None else self.memory.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        """Restore the error-feedback memory (settings come from the constructor)."""
        if (state["memory"] is None) != (self.memory is None):
            raise ValueError(
                "error_feedback setting differs between the checkpoint and this compression"
            )
        if self.memory is not None:
            self.memory.load_state_dict(state["memory"], device)
