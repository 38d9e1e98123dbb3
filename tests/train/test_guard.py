"""Loss-anomaly guard: EMA band, skip and rollback verdicts, events, state."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsgraph.train.guard import GuardEvent, LossGuard, scale_learning_rate


def noisy_losses(n: int, seed: int, start: float = 2.0, end: float = 0.5, noise: float = 0.05):
    """A decaying training-loss curve with mini-batch noise."""
    rng = np.random.default_rng(seed)
    base = end + (start - end) * np.exp(-np.arange(n) / (n / 5))
    return base * (1.0 + noise * rng.standard_normal(n))


@pytest.mark.parametrize("seed", range(5))
def test_no_false_alarms_on_a_normal_noisy_curve(seed):
    guard = LossGuard()
    verdicts = [guard.check(step, loss) for step, loss in enumerate(noisy_losses(3000, seed))]
    assert all(v.ok for v in verdicts)
    assert guard.events == []


def test_nan_and_inf_are_anomalies_even_during_warmup():
    guard = LossGuard(warmup_steps=20)
    assert guard.check(0, 1.0).ok
    for step, bad in ((1, float("nan")), (2, float("inf"))):
        verdict = guard.check(step, bad)
        assert verdict.action == "skip" and verdict.event.kind == "nonfinite"
    assert [e.step for e in guard.events] == [1, 2]
    assert guard.count == 1  # anomalies never enter the statistics


def test_spikes_are_ignored_during_warmup_then_caught():
    guard = LossGuard(warmup_steps=20, fp32_steps=50)
    for step in range(10):
        guard.check(step, 1.0 + 0.01 * (step % 3))
    assert guard.check(10, 50.0).ok  # still warming up: large early moves are normal
    guard = LossGuard(warmup_steps=20, fp32_steps=50)
    losses = noisy_losses(100, seed=1)
    for step, loss in enumerate(losses):
        assert guard.check(step, loss).ok
    mean_before = guard.mean
    verdict = guard.check(100, 10 * losses[-1])
    assert verdict.action == "skip" and verdict.fp32_steps == 50 and verdict.lr_factor == 1.0
    event = verdict.event
    assert event == guard.events[-1]
    assert event.step == 100 and event.kind == "spike" and event.loss == 10 * losses[-1]
    assert "above band" in event.detail
    assert guard.mean == mean_before  # the spike did not move the band
    assert guard.check(101, losses[-1]).ok


def test_band_is_mean_plus_k_sigma_with_a_relative_floor():
    guard = LossGuard(warmup_steps=5, k_sigma=6.0, rel_floor=0.01)
    for step in range(50):
        guard.check(step, 1.0)  # constant loss: sigma 0, the floor decides
    assert guard.sigma == 0.0
    assert guard.upper_band == pytest.approx(1.06)
    assert guard.check(50, 1.05).ok
    assert guard.check(51, 1.07).action == "skip"


def test_repeated_anomalies_within_the_window_roll_back():
    guard = LossGuard(warmup_steps=5, max_anomalies=3, window=100, lr_backoff=0.25)
    for step in range(30):
        guard.check(step, 1.0 + 0.01 * math.sin(step))
    assert guard.check(40, float("nan")).action == "skip"
    assert guard.check(60, 100.0).action == "skip"
    verdict = guard.check(80, float("inf"))
    assert verdict.action == "rollback" and verdict.lr_factor == 0.25
    assert [e.kind for e in guard.events] == ["nonfinite", "spike", "nonfinite", "rollback"]
    assert guard.events[-1].step == 80 and guard.rollbacks == 1
    # the window starts afresh after a rollback, even when steps are replayed from a checkpoint
    assert guard.check(35, float("nan")).action == "skip"


def test_anomalies_spread_beyond_the_window_only_skip():
    guard = LossGuard(warmup_steps=5, max_anomalies=3, window=50)
    for step in range(10):
        guard.check(step, 1.0)
    actions = [guard.check(step, float("nan")).action for step in (100, 160, 220, 280)]
    assert actions == ["skip"] * 4 and guard.rollbacks == 0


@settings(max_examples=50, deadline=None)
@given(
    losses=st.lists(
        st.one_of(
            st.floats(0.01, 10.0),
            st.sampled_from([float("nan"), float("inf"), 1e6]),
        ),
        min_size=2,
        max_size=150,
    ),
    cut=st.integers(0, 149),
)
def test_restored_guard_continues_identically(losses, cut):
    cut = min(cut, len(losses) - 1)
    straight = LossGuard(warmup_steps=5, max_anomalies=2, window=30)
    first = [straight.check(s, v) for s, v in enumerate(losses)]
    resumed = LossGuard(warmup_steps=5, max_anomalies=2, window=30)
    head = [resumed.check(s, v) for s, v in enumerate(losses[:cut])]
    buf = io.BytesIO()
    torch.save(resumed.state_dict(), buf)
    buf.seek(0)
    restored = LossGuard(warmup_steps=5, max_anomalies=2, window=30)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    tail = [restored.check(s, v) for s, v in enumerate(losses[cut:], start=cut)]
    assert [v.action for v in first] == [v.action for v in head + tail]
    assert _events(straight.events) == _events(restored.events)
    # every anomaly is recorded with its step; every non-ok verdict has an anomaly event
    anomalies = [e for e in straight.events if e.kind != "rollback"]
    assert [e.step for e in anomalies] == [s for s, v in enumerate(first) if not v.ok]
    assert all(not math.isfinite(e.loss) or e.kind == "spike" for e in anomalies)


def _events(events: list[GuardEvent]) -> list[tuple]:
    # NaN != NaN, so compare losses through their repr
    return [(e.step, e.kind, repr(e.loss), e.detail) for e in events]


def test_invalid_settings_are_rejected():
    for kwargs in (
        {"ema_decay": 1.0},
        {"k_sigma": 0},
        {"max_anomalies": 0},
        {"lr_backoff": 0.0},
    ):
        with pytest.raises(ValueError):
            LossGuard(**kwargs)


def test_scale_learning_rate_and_log_stats():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(
        [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.4}]
    )
    scale_learning_rate(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.2]
    scale_learning_rate(opt, 0.5, groups=[1])
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.1]
    guard = LossGuard()
    guard.check(0, 1.0)
    guard.check(1, float("nan"))
    stats = guard.log_stats()
    assert stats["guard/anomalies"] == 1.0 and stats["guard/loss_ema"] == 1.0
