"""Random-number-generator state as plain data, for checkpoints that never execute code.

``capture_rng_state()`` returns the state of Python's ``random``, NumPy's legacy global generator,
torch's CPU generator and (when present) every CUDA generator as tensors, ints, lists and strings
only, so it round-trips through ``torch.save`` / ``torch.load(weights_only=True)``.
``restore_rng_state`` puts it back: the random streams that follow are identical to the ones that
followed the capture. Seeded ``numpy.random.Generator`` objects (what dsgraph's samplers own) are
saved with :func:`generator_state` / :func:`restore_generator`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "capture_rng_state",
    "generator_state",
    "restore_generator",
    "restore_rng_state",
    "seed_everything",
]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global generator is what we seed
    torch.manual_seed(seed)


def capture_rng_state(include_cuda: bool = True) -> dict[str, Any]:
    """State of every global generator as plain data (tensors, ints, lists, strings)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if include_cuda and torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured (CUDA states only when CUDA exists)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"]), py["gauss"]))
    nps = state["numpy"]
    keys = np.asarray(nps["keys"].numpy() if torch.is_tensor(nps["keys"]) else nps["keys"])
    np.random.set_state(  # noqa: NPY002
        (
            nps["kind"],
            keys.astype(np.uint32),
            int(nps["pos"]),
            int(nps["has_gauss"]),
            float(nps["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """A NumPy ``Generator``'s bit-generator state as plain data (big ints are fine for torch)."""
    return _to_plain(gen.bit_generator.state)


def restore_generator(gen: np.random.Generator, state: dict[str, Any]) -> None:
    """Put a state from :func:`generator_state` back into ``gen`` (same bit-generator kind)."""
    expected = type(gen.bit_generator).__name__
    if state.get("bit_generator") != expected:
        raise ValueError(
            f"generator state is for {state.get('bit_generator')!r}, the generator is {expected}"
        )
    gen.bit_generator.state = state


def _to_plain(value: Any) -> Any:
    # Bit-generator states are nested dicts of ints; MT19937 holds a uint32 key array.
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value
