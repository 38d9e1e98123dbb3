"""Optional capabilities, probed once, in one place.

Code that needs CUDA, bf16, fp16 loss scaling or NCCL asks here instead of probing torch itself,
so the answer is consistent across the package and a test can see what the machine offers
(the pattern of ``torch_geometric.typing``'s ``WITH_*`` flags). Importing this module imports
torch; ``import dsgraph`` does not import it.

A missing capability raises :class:`CapabilityError` from :func:`require`, naming what is missing
and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from dsgraph.errors import CapabilityError

__all__ = [
    "WITH_BF16_CPU",
    "WITH_BF16_CUDA",
    "WITH_CUDA",
    "WITH_FP16_CUDA",
    "WITH_GRAD_SCALER",
    "WITH_NCCL",
    "Capabilities",
    "CapabilityError",
    "probe",
    "require",
]


@dataclass(frozen=True)
class Capabilities:
    """What this torch build and machine can do; see :func:`probe`."""

    cuda: bool
    cuda_device_count: int
    bf16_cpu: bool
    bf16_cuda: bool
    fp16_cuda: bool
    grad_scaler: bool
    nccl: bool
    torch_version: str

    def as_dict(self) -> dict[str, bool | int | str]:
        return dict(self.__dict__)


def _bf16_cpu() -> bool:
    # CPU autocast to bf16 exists in every torch >= 1.10; check that a matmul really runs.
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = torch.ones(2, 2) @ torch.ones(2, 2)
        return out.dtype == torch.bfloat16
    except (RuntimeError, TypeError):
        return False


def _nccl() -> bool:
    dist = torch.distributed
    return bool(dist.is_available() and dist.is_nccl_available())


@lru_cache(maxsize=1)
def probe() -> Capabilities:
    """Probe the machine once (cached): CUDA, bf16 on CPU/CUDA, fp16 + GradScaler, NCCL."""
    cuda = torch.cuda.is_available()
    grad_scaler = hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler")
    return Capabilities(
        cuda=cuda,
        cuda_device_count=torch.cuda.device_count() if cuda else 0,
        bf16_cpu=_bf16_cpu(),
        bf16_cuda=bool(cuda and torch.cuda.is_bf16_supported()),
        fp16_cuda=bool(cuda and grad_scaler),
        grad_scaler=grad_scaler,
        nccl=bool(cuda and _nccl()),
        torch_version=torch.__version__,
    )


_CAPS = probe()
WITH_CUDA: bool = _CAPS.cuda
WITH_BF16_CPU: bool = _CAPS.bf16_cpu
WITH_BF16_CUDA: bool = _CAPS.bf16_cuda
WITH_FP16_CUDA: bool = _CAPS.fp16_cuda
WITH_GRAD_SCALER: bool = _CAPS.grad_scaler
WITH_NCCL: bool = _CAPS.nccl

_ADVICE = {
    "cuda": "no CUDA device is visible to torch {version}; run on CPU (device: cpu) or install "
    "a CUDA build of torch",
    "bf16_cpu": "this torch {version} cannot autocast to bf16 on CPU; use precision fp32",
    "bf16_cuda": "the CUDA device does not support bf16; use precision fp16 (with loss scaling) "
    "or fp32",
    "fp16_cuda": "fp16 training needs a CUDA device and torch.amp.GradScaler (torch {version}); "
    "on CPU use precision bf16 or fp32",
    "grad_scaler": "torch {version} has no torch.amp.GradScaler; upgrade torch to >= 2.3",
    "nccl": "NCCL is not available (needs CUDA and a torch build with NCCL); use the gloo backend",
}


def require(capability: str, feature: str) -> None:
    """Raise :class:`CapabilityError` unless ``capability`` (a :class:`Capabilities` field) holds.

    ``feature`` names what needs it, so the message reads "<feature> needs …: <advice>".
    """
    caps = probe()
    if capability not in _ADVICE:
        raise ValueError(f"unknown capability {capability!r} (known: {', '.join(sorted(_ADVICE))})")
    if not getattr(caps, capability):
        advice = _ADVICE[capability].format(version=caps.torch_version)
        raise CapabilityError(f"{feature} needs {capability}: {advice}")
