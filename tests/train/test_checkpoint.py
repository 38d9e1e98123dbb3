"""Checkpoints: atomic saves that survive crashes, pruning, safe loading, config hash, RNG state."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dsgraph.errors import DsgraphError
from dsgraph.train import checkpoint as checkpoint_module
from dsgraph.train.checkpoint import CheckpointError, CheckpointManager, config_hash
from dsgraph.train.rng import (
    capture_rng_state,
    generator_state,
    restore_generator,
    restore_rng_state,
    seed_everything,
)

HASH = "0123456789abcdef"


def training_state(step: int) -> dict:
    """A state shaped like the trainer's: model, optimizer, scaler, residuals, RNG, step."""
    torch.manual_seed(step)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(3, 6)).sum().backward()
    opt.step()
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "precision": {"mode": "bf16", "scaler": {}, "fp32_remaining": 0},
        "compression": {"residuals": {"0.weight": torch.randn(5, 6)}, "momentum": 0.0},
        "rng": capture_rng_state(),
        "sampler_rng": generator_state(np.random.default_rng(step)),
        "guard": {"events": [{"step": 3, "kind": "spike", "loss": float("inf"), "detail": ""}]},
        "note": None,
        "flags": (True, False),
    }


def assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert a == b or (a != a and b != b)  # NaN equals NaN here


def test_save_load_round_trip(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt", config_hash=HASH)
    assert manager.latest() is None
    state = training_state(10)
    path = manager.save(10, state)
    assert path == manager.latest() == tmp_path / "ckpt" / "ckpt-000000000010.pt"
    assert_same(manager.load(), state)
    assert_same(manager.load(path), state)
    # the file is an ordinary torch file that loads with weights_only
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 10 and raw["config_hash"] == HASH
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["size"] == path.stat().st_size and len(manifest["sha256"]) == 64


def test_keep_last_prunes_oldest(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=3, config_hash=HASH)
    for step in (100, 200, 300, 400, 500):
        manager.save(step, {"step": step})
    assert [c.step for c in manager.checkpoints()] == [300, 400, 500]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"ckpt-{s:012d}.{ext}" for s in (300, 400, 500) for ext in ("json", "pt")]
    assert manager.load()["step"] == 500


def test_resaving_a_step_replaces_it(tmp_path):
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    manager.save(5, {"v": 1})
    manager.save(5, {"v": 2})
    assert manager.load() == {"v": 2} and len(manager.checkpoints()) == 1


def test_discard_after_drops_newer_checkpoints(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=5, config_hash=HASH)
    for step in (1, 2, 3):
        manager.save(step, {"step": step})
    manager.discard_after(1)
    assert [c.step for c in manager.checkpoints()] == [1]


def test_exception_inside_the_atomic_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    manager.save(1, {"step": 1, "w": torch.ones(3)})

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the temp file
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        manager.save(2, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert manager.latest() == manager.path_for(1)
    assert manager.load()["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000000000001.json",
        "ckpt-000000000001.pt",
    ]


CHILD = textwrap.dedent(
    """
    import sys, torch
    from dsgraph.train.checkpoint import CheckpointManager
    manager = CheckpointManager(sys.argv[1], config_hash="{hash}")
    manager.save(1, {{"step": 1, "w": torch.full((1000,), 1.0)}})
    print("saved", flush=True)
    big = torch.rand(40_000_000)  # 160 MB: the save takes long enough to be killed inside it
    print("saving", flush=True)
    manager.save(2, {{"step": 2, "w": big}})
    print("done", flush=True)
    """
).format(hash=HASH)


def test_sigkill_during_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    killed_mid_save = 0
    for attempt, delay in enumerate((0.05, 0.3)):
        directory = tmp_path / f"run{attempt}"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "saved"
            assert child.stdout.readline().strip() == "saving"
            time.sleep(delay)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=60)
            child.stdout.close()
        manager = CheckpointManager(directory, config_hash=HASH)
        state = manager.load()
        assert state["step"] in (1, 2)
        if state["step"] == 1:
            killed_mid_save += 1
            assert torch.equal(state["w"], torch.full((1000,), 1.0))
        # the run can carry on in the same directory; leftovers of the crash are cleaned
        manager.save(3, {"step": 3})
        leftovers = [p.name for p in directory.iterdir() if p.name.startswith(".")]
        assert leftovers == []
        assert manager.load()["step"] == 3
    assert killed_mid_save >= 1, "no kill landed inside a save; the test did not test anything"


def test_truncated_and_corrupt_checkpoints_are_refused_or_skipped(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=5, config_hash=HASH)
    manager.save(1, {"step": 1})
    manager.save(2, {"step": 2, "w": torch.arange(1000.0)})
    newest = manager.path_for(2)
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    newest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt: SHA-256"):
        manager.load()
    assert manager.load(fallback=True)["step"] == 1
    newest.write_bytes(bytes(data[:100]))  # truncated: no longer counts as complete
    assert manager.latest() == manager.path_for(1)
    with pytest.raises(CheckpointError, match="truncated"):
        manager.load(newest)


def test_checkpoint_without_manifest_is_incomplete(tmp_path):
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    manager.save(1, {"step": 1})
    torch.save({"format": 1, "step": 2, "config_hash": HASH, "state": {}}, manager.path_for(2))
    assert manager.latest() == manager.path_for(1)
    with pytest.raises(CheckpointError, match="no valid manifest"):
        manager.load(manager.path_for(2))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        CheckpointManager(tmp_path / "empty", config_hash=HASH).load()


def test_checkpoint_of_another_config_is_refused(tmp_path):
    CheckpointManager(tmp_path, config_hash="aaaaaaaaaaaaaaaa").save(1, {"step": 1})
    other = CheckpointManager(tmp_path, config_hash="bbbbbbbbbbbbbbbb")
    with pytest.raises(CheckpointError, match=r"another configuration.*aaaa.*bbbb") as info:
        other.load(fallback=True)  # a foreign config is never skipped silently
    assert isinstance(info.value, DsgraphError)


class Exploit:
    """Unpickling this would run code: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_weights_only_refuses_a_pickled_object(tmp_path):
    marker = tmp_path / "pwned"
    manager = CheckpointManager(tmp_path / "ckpt", config_hash=HASH)
    manager.save(1, {"step": 1})
    path = manager.path_for(1)
    # forge a checkpoint with a valid manifest around a malicious payload
    torch.save({"format": 1, "step": 1, "config_hash": HASH, "state": {"x": Exploit(marker)}}, path)
    manifest_path = path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text())
    manifest["size"] = path.stat().st_size
    manifest["sha256"] = checkpoint_module._sha256(path)
    manifest_path.write_text(json.dumps(manifest))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="weights_only refused"):
        manager.load()
    assert not marker.exists()


@pytest.mark.parametrize(
    "bad,where",
    [
        ({"a": np.zeros(3)}, r"state\['a'\]: numpy.ndarray.*torch.from_numpy"),
        ({"a": [1, np.float64(2.0)]}, r"state\['a'\]\[1\]: numpy.float64"),
        ({"a": {"b": object()}}, r"state\['a'\]\['b'\]: builtins.object"),
        ({"a": {(1, 2): 3}}, r"key \(1, 2\)"),
    ],
)
def test_save_refuses_anything_but_tensors_and_plain_data(tmp_path, bad, where):
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    with pytest.raises(CheckpointError, match=where):
        manager.save(1, bad)
    assert manager.latest() is None and not any(tmp_path.iterdir())


def test_config_hash_is_canonical():
    a = {"train": {"lr": 0.01, "steps": 100}, "data": {"path": Path("/d")}, "tags": ("x", "y")}
    b = {"data": {"path": "/d"}, "tags": ["x", "y"], "train": {"steps": 100, "lr": 0.01}}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 16
    c = {**b, "train": {"steps": 100, "lr": 0.02}}
    assert config_hash(c) != config_hash(b)
    assert config_hash({"x": np.int64(3)}) == config_hash({"x": 3})


# -- RNG state ---------------------------------------------------------------------------------


def draw_all() -> tuple:
    return (
        [random.random() for _ in range(5)],
        np.random.rand(5).tolist(),  # noqa: NPY002 - the legacy global stream is under test
        np.random.randn(3).tolist(),  # noqa: NPY002 - exercises the cached Gaussian
        torch.rand(5).tolist(),
        torch.randint(0, 1000, (5,)).tolist(),
    )


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    seed_everything(123)
    draw_all()
    np.random.randn(1)  # noqa: NPY002 - leaves a cached Gaussian in the state
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    manager.save(1, {"rng": capture_rng_state()})
    expected = draw_all()
    seed_everything(999)  # scramble every stream
    draw_all()
    restore_rng_state(manager.load()["rng"])
    assert draw_all() == expected


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_numpy_generator_state_round_trip(tmp_path, bit_generator):
    gen = np.random.Generator(bit_generator(42))
    gen.random(7)
    manager = CheckpointManager(tmp_path, config_hash=HASH)
    manager.save(1, {"sampler": generator_state(gen)})
    expected = gen.integers(0, 2**62, 10)
    fresh = np.random.Generator(bit_generator(0))
    restore_generator(fresh, manager.load()["sampler"])
    assert np.array_equal(fresh.integers(0, 2**62, 10), expected)


def test_restore_generator_rejects_another_kind():
    state = generator_state(np.random.Generator(np.random.PCG64(1)))
    with pytest.raises(ValueError, match="PCG64"):
        restore_generator(np.random.Generator(np.random.MT19937(1)), state)


# -- the components together: a resumed run equals an uninterrupted one -----------------------


class Run:
    """A small training loop wired like the trainer: bf16, guard, Top-K + EF, checkpoints."""

    def __init__(self, directory: Path) -> None:
        from dsgraph.train.compression import GradientCompression
        from dsgraph.train.guard import LossGuard
        from dsgraph.train.precision import PrecisionPolicy

        torch.manual_seed(0)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)
        )
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        self.precision = PrecisionPolicy("bf16", "cpu")
        self.guard = LossGuard(warmup_steps=3)
        self.compression = GradientCompression(ratio=0.05, momentum=0.5, min_numel=256)
        self.sampler = np.random.default_rng(7)
        self.manager = CheckpointManager(directory, config_hash=HASH)
        self.step = 0

    def train(self, until: int, every: int) -> None:
        while self.step < until:
            rows = torch.from_numpy(self.sampler.integers(0, 256, 16))
            gen = torch.Generator().manual_seed(1000)
            x = torch.randn(256, 32, generator=gen)[rows] + 0.1 * torch.randn(16, 32)
            y = rows % 4
            self.opt.zero_grad()
            with self.precision.autocast():
                logits = self.model(x)
            with self.precision.fp32():
                loss = torch.nn.functional.cross_entropy(logits.float(), y)
            if self.step == 6:  # an injected anomaly: the guard must skip it identically
                loss = loss * float("nan")
            verdict = self.guard.check(self.step, loss.item())
            if verdict.ok:
                self.precision.scale(loss).backward()
                self.precision.unscale_(self.opt)
                self.compression.compress_model(self.model.named_parameters(), self.step)
                self.precision.step(self.opt)
            else:
                self.precision.backoff()
                self.precision.force_fp32(verdict.fp32_steps)
            self.precision.update()
            self.step += 1
            if self.step % every == 0:
                self.manager.save(self.step, self.state())

    def state(self) -> dict:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "precision": self.precision.state_dict(),
            "guard": self.guard.state_dict(),
            "compression": self.compression.state_dict(),
            "sampler": generator_state(self.sampler),
            "rng": capture_rng_state(),
        }

    def restore(self) -> None:
        state = self.manager.load()
        self.step = state["step"]
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.precision.load_state_dict(state["precision"])
        self.guard.load_state_dict(state["guard"])
        self.compression.load_state_dict(state["compression"])
        restore_generator(self.sampler, state["sampler"])
        restore_rng_state(state["rng"])


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight = Run(tmp_path / "straight")
        straight.train(until=24, every=8)
        interrupted = Run(tmp_path / "interrupted")
        interrupted.train(until=13, every=8)  # dies after step 13; last checkpoint at 8
        seed_everything(12345)  # whatever happened in between must not matter
        resumed = Run(tmp_path / "interrupted")
        resumed.restore()
        assert resumed.step == 8
        resumed.train(until=24, every=8)
    finally:
        torch.set_num_threads(before)
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert resumed.guard.events[0].step == 6 and resumed.guard.events[0].kind == "nonfinite"
    assert list(map(repr, resumed.guard.events)) == list(map(repr, straight.guard.events))
    assert_same(straight.compression.state_dict(), resumed.compression.state_dict())
