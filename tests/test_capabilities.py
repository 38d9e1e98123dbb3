"""Optional capabilities are probed once and reported consistently with torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dsgraph import capabilities
from dsgraph.capabilities import CapabilityError, probe, require
from dsgraph.errors import DsgraphError


def test_probe_is_cached_and_matches_torch():
    caps = probe()
    assert probe() is caps
    assert caps.cuda == torch.cuda.is_available() == capabilities.WITH_CUDA
    assert caps.torch_version == torch.__version__
    assert caps.grad_scaler == hasattr(torch.amp, "GradScaler")
    if not caps.cuda:
        assert caps.cuda_device_count == 0
        assert not (caps.bf16_cuda or caps.fp16_cuda or caps.nccl)
    assert set(caps.as_dict()) >= {"cuda", "bf16_cpu", "fp16_cuda", "nccl"}


def test_bf16_cpu_flag_is_true_only_if_autocast_really_gives_bf16():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        works = (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert capabilities.WITH_BF16_CPU == works


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_capability_raises_an_actionable_error():
    with pytest.raises(
        CapabilityError, match=r"precision fp16 needs fp16_cuda.*use precision bf16"
    ):
        require("fp16_cuda", "precision fp16")
    with pytest.raises(DsgraphError):
        require("nccl", "multi-GPU training")
    with pytest.raises(ImportError):  # CapabilityError is an ImportError, like PyG's
        require("cuda", "device cuda")


def test_present_capability_passes_and_unknown_name_is_a_bug():
    require("grad_scaler", "loss scaling")
    with pytest.raises(ValueError, match="unknown capability 'tpu'"):
        require("tpu", "anything")


def test_import_dsgraph_does_not_probe_torch():
    code = (
        "import sys, dsgraph; print('torch' in sys.modules, 'dsgraph.capabilities' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
