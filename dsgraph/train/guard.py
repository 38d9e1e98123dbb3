"""Loss-anomaly guard: skip a step whose loss is NaN/inf or spikes, roll back after repeated ones.

The guard watches one scalar per step, before the update is applied. It keeps an exponential
moving mean and variance of the accepted losses; after ``warmup_steps`` accepted losses, a loss
above ``mean + k_sigma · σ`` is a spike. NaN/inf is always an anomaly. The caller acts on the
verdict::

    verdict = guard.check(step, loss.item())
    if verdict.action == "skip":        # do not apply this update
        precision.backoff(); precision.force_fp32(verdict.fp32_steps)
    elif verdict.action == "rollback":  # restore the last good checkpoint, lower the lr
        ...; scale_learning_rate(optimizer, verdict.lr_factor)

``max_anomalies`` anomalies within ``window`` steps turn into one "rollback" instead of a skip;
the window then starts afresh. Every anomaly and rollback is kept in :attr:`LossGuard.events`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["GuardEvent", "GuardVerdict", "LossGuard", "scale_learning_rate"]

Action = Literal["ok", "skip", "rollback"]
EventKind = Literal["nonfinite", "spike", "rollback"]


@dataclass(frozen=True)
class GuardEvent:
    """One anomaly or rollback: the step it happened at, what, the loss, and a readable detail."""

    step: int
    kind: EventKind
    loss: float
    detail: str


@dataclass(frozen=True)
class GuardVerdict:
    """What the caller should do with this step's update.

    ``fp32_steps`` (on skip/rollback) is how many steps to run in fp32; ``lr_factor`` (on
    rollback) multiplies the learning rate; ``event`` is the anomaly that caused the verdict.
    """

    action: Action
    event: GuardEvent | None = None
    fp32_steps: int = 0
    lr_factor: float = 1.0

    @property
    def ok(self) -> bool:
        return self.action == "ok"


class LossGuard:
    """EMA band detector of loss anomalies with skip / rollback verdicts.

    Args:
        ema_decay: weight of history in the moving mean/variance (0.98 ≈ last 50 steps).
        k_sigma: spike threshold in standard deviations above the moving mean. Lower catches
            more spikes and raises false alarms on noisy mini-batch losses.
        warmup_steps: accepted losses before spike detection starts (early losses move fast).
        fp32_steps: how many steps the caller should run in fp32 after an anomaly.
        max_anomalies: anomalies within ``window`` steps that trigger a rollback.
        window: length, in steps, of the rollback window.
        lr_backoff: factor applied to the learning rate on rollback.
        rel_floor: σ is never taken below ``rel_floor · |mean|``, so a loss that has become
            almost constant does not flag tiny wiggles.
    """

    __slots__ = (
        "_anomaly_steps",
        "count",
        "ema_decay",
        "events",
        "fp32_steps",
        "k_sigma",
        "lr_backoff",
        "max_anomalies",
        "mean",
        "rel_floor",
        "rollbacks",
        "var",
        "warmup_steps",
        "window",
    )

    def __init__(
        self,
        ema_decay: float = 0.98,
        k_sigma: float = 6.0,
        warmup_steps: int = 20,
        fp32_steps: int = 50,
        max_anomalies: int = 3,
        window: int = 200,
        *,
        lr_backoff: float = 0.5,
        rel_floor: float = 0.01,
    ) -> None:
        if not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay}")
        if k_sigma <= 0:
            raise ValueError(f"k_sigma must be > 0, got {k_sigma}")
        if max_anomalies < 1 or window < 1:
            raise ValueError(
                f"max_anomalies and window must be >= 1, got {max_anomalies}, {window}"
            )
        if not 0.0 < lr_backoff <= 1.0:
            raise ValueError(f"lr_backoff must be in (0, 1], got {lr_backoff}")
        self.ema_decay = float(ema_decay)
        self.k_sigma = float(k_sigma)
        self.warmup_steps = int(warmup_steps)
        self.fp32_steps = int(fp32_steps)
        self.max_anomalies = int(max_anomalies)
        self.window = int(window)
        self.lr_backoff = float(lr_backoff)
        self.rel_floor = float(rel_floor)
        self.mean = 0.0
        self.var = 0.0
        self.count = 0
        self.rollbacks = 0
        self.events: list[GuardEvent] = []
        self._anomaly_steps: list[int] = []

    @property
    def sigma(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    @property
    def upper_band(self) -> float:
        """Losses above this are spikes (inf during warm-up)."""
        if self.count < max(self.warmup_steps, 1):
            return math.inf
        return self.mean + self.k_sigma * max(self.sigma, self.rel_floor * abs(self.mean))

    def check(self, step: int, loss: float) -> GuardVerdict:
        """Judge ``loss`` of ``step``; accepted losses update the moving statistics."""
        loss = float(loss)
        if not math.isfinite(loss):
            return self._anomaly(step, "nonfinite", loss, f"loss is {loss}")
        band = self.upper_band
        if loss > band:
            detail = (
                f"loss {loss:.6g} above band {band:.6g} "
                f"(mean {self.mean:.6g} + {self.k_sigma:g}σ, σ {self.sigma:.3g})"
            )
            return self._anomaly(step, "spike", loss, detail)
        self._accept(loss)
        return GuardVerdict("ok")

    def _accept(self, loss: float) -> None:
        if self.count == 0:
            self.mean, self.var = loss, 0.0
        else:
            # Exponentially weighted mean and variance (West's incremental form).
            diff = loss - self.mean
            incr = (1.0 - self.ema_decay) * diff
            self.mean += incr
            self.var = self.ema_decay * (self.var + diff * incr)
        self.count += 1

    def _anomaly(self, step: int, kind: EventKind, loss: float, detail: str) -> GuardVerdict:
        event = GuardEvent(int(step), kind, loss, detail)
        self.events.append(event)
        # Steps can go backwards after a rollback; only anomalies since the last one are kept.
        self._anomaly_steps = [s for s in self._anomaly_steps if abs(step - s) < self.window]
        self._anomaly_steps.append(int(step))
        if len(self._anomaly_steps) >= self.max_anomalies:
            self._anomaly_steps.clear()
            self.rollbacks += 1
            self.events.append(
                GuardEvent(
                    int(step),
                    "rollback",
                    loss,
                    f"{self.max_anomalies} anomalies within {self.window} steps; "
                    f"lr x{self.lr_backoff:g}",
                )
            )
            return GuardVerdict("rollback", event, self.fp32_steps, self.lr_backoff)
        return GuardVerdict("skip", event, self.fp32_steps, 1.0)

    def log_stats(self) -> dict[str, float]:
        return {
            "guard/loss_ema": self.mean,
            "guard/loss_sigma": self.sigma,
            "guard/anomalies": float(sum(e.kind != "rollback" for e in self.events)),
            "guard/rollbacks": float(self.rollbacks),
        }

    def state_dict(self) -> dict[str, Any]:
        """Plain data: moving statistics, pending window, every event."""
        return {
            "mean": self.mean,
            "var": self.var,
            "count": self.count,
            "rollbacks": self.rollbacks,
            "anomaly_steps": list(self._anomaly_steps),
            "events": [asdict(e) for e in self.events],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = float(state["mean"])
        self.var = float(state["var"])
        self.count = int(state["count"])
        self.rollbacks = int(state["rollbacks"])
        self._anomaly_steps = [int(s) for s in state["anomaly_steps"]]
        self.events = [GuardEvent(**e) for e in state["events"]]


def scale_learning_rate(optimizer: Any, factor: float, groups: Iterable[int] | None = None) -> None:
    """Multiply the ``lr`` of the optimizer's param groups (all, or the given indices)."""
    chosen = range(len(optimizer.param_groups)) if groups is None else groups
    for i in chosen:
        optimizer.param_groups[i]["lr"] *= factor
