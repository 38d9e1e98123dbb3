"""A run SIGKILLed mid-way and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, data: Path) -> Path:
    raw = {
        "version": 1,
        "data": {"path": str(data)},
        "model": {
            "name": "graphsage",
            "embedding_dim": 16,
            "hidden_dim": 16,
            "num_layers": 2,
            "dropout": 0.2,
        },
        "task": {"kind": "recommendation", "negatives": "popularity", "hard_negatives": 0.25},
        "train": {
            "epochs": 12,
            "batch_size": 256,
            "lr": 0.01,
            "precision": "fp32",
            "threads": 1,
            "seed": 7,
            "checkpoint_every": 4,
            "compression": {"enabled": True, "ratio": 0.05, "min_numel": 64},
        },
        "output": {"plots": False},
    }
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from dsgraph.cli import main; main()",
            "train",
            *args,
            "--no-progress",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def final_state(run: Path) -> dict:
    ckpts = sorted((run / "checkpoints").glob("ckpt-*.pt"))
    return torch.load(ckpts[-1], weights_only=True)["state"]


def test_sigkill_then_resume_is_bit_identical(tmp_path: Path) -> None:
    from dsgraph.datasets import generate_user_item

    data = generate_user_item(tmp_path / "ui", 200, 100, seed=1)
    config = write_config(tmp_path, data)

    full = run_cli(str(config), "--out", str(tmp_path / "full"))
    assert full.wait(timeout=600) == 0, full.stderr.read()

    victim = run_cli(str(config), "--out", str(tmp_path / "killed"))
    manifests = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 600
    while time.time() < deadline and victim.poll() is None:
        if len(list(manifests.glob("ckpt-*.json"))) >= 2:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = max(int(p.stem.split("-")[1]) for p in manifests.glob("ckpt-*.json"))
    full_steps = final_state(tmp_path / "full")["step"]
    assert killed_at < full_steps

    resumed = run_cli(str(config), "--out", str(tmp_path / "killed"), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()

    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "killed")
    assert a["step"] == b["step"] == full_steps
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for pid, st in a["optimizer"]["state"].items():
        for name, value in st.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][name]), (pid, name)
    ra, rb = a["compression"]["memory"], b["compression"]["memory"]
    assert ra.keys() == rb.keys()
    steps_logged = [
        line
        for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
        if '"kind": "step"' in line
    ]
    assert len(steps_logged) == full_steps


@pytest.mark.parametrize("flag", ["--resume"])
def test_resume_without_checkpoints_is_a_clear_error(tmp_path: Path, flag: str) -> None:
    from dsgraph.datasets import generate_user_item

    data = generate_user_item(tmp_path / "ui", 50, 20, seed=1)
    proc = run_cli(str(write_config(tmp_path, data)), "--out", str(tmp_path / "none"), flag)
    assert proc.wait(timeout=300) == 2
    err = proc.stderr.read().strip().splitlines()
    assert len(err) == 1 and "no checkpoints" in err[0]
    assert not (tmp_path / "none").exists()
