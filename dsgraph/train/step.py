"""One training step, the same object in the local loop and inside a Ray worker actor.

``TrainStep.compute(batch, step)`` runs forward under the precision policy's autocast, the loss,
the anomaly guard's verdict, the scaled backward and Top-K compression with error feedback, and
returns a :class:`StepOutput` (loss, verdict, payloads, embedding-row gradients, timings).
``apply(optimizer)`` performs the local update; a worker instead ships the payloads. Nothing here
knows which of the two it is doing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from dsgraph.train.compression import GradientCompression, TopKPayload
from dsgraph.train.guard import GuardVerdict, LossGuard
from dsgraph.train.precision import PrecisionPolicy

_OK = GuardVerdict("ok")


@dataclass
class StepOutput:
    """What one step produced.

    ``loss``: float (NaN/inf when the guard saw one); ``verdict``: the guard's decision (an
    update happens only when ``verdict.ok`` and the gradients were finite); ``payloads``: one
    :class:`TopKPayload` per dense parameter (Top-K or dense when compression is off, filled
    only when ``collect_payloads``); ``sparse_rows``: per embedding table, (row ids int64 [r],
    rows float32 [r, D]) of the rows with a non-zero gradient (``collect_payloads`` only);
    ``stats``: log-friendly numbers; ``timings``: seconds of forward/backward/compression.
    """

    loss: float
    verdict: GuardVerdict
    payloads: list[TopKPayload] = field(default_factory=list)
    sparse_rows: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    finite_grads: bool = True

    @property
    def update(self) -> bool:
        """Whether this step's gradients should be applied."""
        return self.verdict.ok and self.finite_grads


class TrainStep:
    """Forward → loss → guard → backward → compression for ``model`` on ``task`` batches.

    ``precision``: a :class:`PrecisionPolicy`; ``guard``/``compression``: optional. When
    ``optimizer`` is given its gradients are unscaled through the policy (fp16 loss scaling);
    ``apply`` accepts the same optimizer. Embedding tables (``model.embedding_parameter_names``)
    are compressed like any other gradient unless ``compress_embeddings`` is False (then they
    travel as row-sparse updates).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        task: Any,
        precision: PrecisionPolicy,
        guard: LossGuard | None = None,
        compression: GradientCompression | None = None,
        *,
        compress_embeddings: bool = True,
        collect_payloads: bool = False,
    ) -> None:
        self.model = model
        self.task = task
        self.precision = precision
        self.guard = guard
        self.compression = compression
        self.compress_embeddings = compress_embeddings
        self.collect_payloads = collect_payloads
        self._last: StepOutput | None = None
        self._embedding_names = set(getattr(model, "embedding_parameter_names", list)())

    def compute(
        self, batch: Any, step: int, optimizer: torch.optim.Optimizer | None = None
    ) -> StepOutput:
        """Run one step's computation (no parameter update); see the class docstring."""
        model = self.model
        model.train()
        for p in model.parameters():
            p.grad = None
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with self.precision.autocast():
            loss = self.task.loss(model, batch)
        loss_value = float(loss.detach())
        timings["forward"] = time.perf_counter() - t0
        verdict = self.guard.check(step, loss_value) if self.guard is not None else _OK
        if not verdict.ok:
            # Skip: no backward; back off the loss scale and run the next steps in fp32.
            self.precision.backoff()
            self.precision.force_fp32(verdict.fp32_steps)
            out = StepOutput(loss_value, verdict, timings=timings, finite_grads=False)
            out.stats = self._stats(out, None)
            self._last = out
            return out
        t0 = time.perf_counter()
        self.precision.scale(loss).backward()
        finite = True
        if optimizer is not None:
            finite = self.precision.unscale_(optimizer)
        timings["backward"] = time.perf_counter() - t0
        result = None
        payloads: list[TopKPayload] = []
        if self.compression is not None and finite:
            named = [
                (n, p)
                for n, p in model.named_parameters()
                if self.compress_embeddings or n not in self._embedding_names
            ]
            result = self.compression.compress_model(named, step)
            timings["compression"] = result.seconds
            finite = finite and not result.skipped
            payloads = list(result.payloads)
        out = StepOutput(loss_value, verdict, timings=timings, finite_grads=finite)
        if self.collect_payloads and finite:
            out.payloads, out.sparse_rows = self._collect(payloads)
        out.stats = self._stats(out, result)
        self._last = out
        return out

    def apply(self, optimizer: torch.optim.Optimizer) -> bool:
        """Apply the last computed step locally; returns whether the parameters changed."""
        out = self._last
        self._last = None
        if out is None or not out.verdict.ok:
            self.precision.update()
            return False
        t0 = time.perf_counter()
        stepped = self.precision.step(optimizer)
        self.precision.update()
        out.timings["optimizer"] = time.perf_counter() - t0
        return stepped

    # ------------------------------------------------------------------ helpers
    def _collect(
        self, payloads: list[TopKPayload]
    ) -> tuple[list[TopKPayload], dict[str, tuple[Tensor, Tensor]]]:
        sent = {p.name for p in payloads}
        rows: dict[str, tuple[Tensor, Tensor]] = {}
        dense: list[TopKPayload] = list(payloads)
        for name, p in self.model.named_parameters():
            if p.grad is None:
                continue
            if name in self._embedding_names and name not in sent:
                grad = p.grad.detach()
                ids = torch.nonzero(grad.abs().sum(dim=1) > 0).squeeze(1)
                rows[name] = (ids, grad[ids].float().clone())
            elif name not in sent:
                dense.append(_dense_payload(name, p.grad))
        return dense, rows

    def _stats(self, out: StepOutput, result: Any) -> dict[str, float]:
        stats = {"loss": out.loss, "skipped": float(not out.update)}
        stats.update(self.precision.log_stats())
        if result is not None:
            stats.update(result.log_stats())
        if self.guard is not None:
            stats.update(self.guard.log_stats())
        return stats


def _dense_payload(name: str, grad: Tensor) -> TopKPayload:
    values = grad.detach().float().reshape(-1).cpu().numpy().copy()
    return TopKPayload(name, tuple(grad.shape), grad.numel(), None, values)
