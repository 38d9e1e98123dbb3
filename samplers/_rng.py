"""Counter-based random streams for Numba kernels (SplitMix64).

Every walk (or seed, or frontier node) owns a stream whose start is a hash of (run seed, epoch,
stream id). A kernel therefore produces the same numbers whatever thread runs which walk, and
however many walks it interleaves: output depends only on (seed, epoch, inputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_M32 = 1.0 / 4294967296.0


@njit(cache=True, nogil=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche hash of a 64-bit word."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, nogil=True)
def run_key(seed: np.uint64, epoch: np.uint64) -> np.uint64:
    """Key of one (run seed, epoch) pair; streams of different keys are unrelated."""
    return mix64(mix64(seed + GOLDEN) ^ (epoch * _M1 + _M2))


@njit(cache=True, nogil=True, inline="always")
def stream_start(key: np.uint64, stream_id: np.int64) -> np.uint64:
    """Initial state of stream ``stream_id`` under ``key``."""
    return mix64(key ^ mix64(np.uint64(stream_id) * GOLDEN + _M2))


@njit(cache=True, nogil=True, inline="always")
def next_word(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Advance a stream: returns (new state, 64 random bits)."""
    state = state + GOLDEN
    return state, mix64(state)


@njit(cache=True, nogil=True, inline="always")
def below(word: np.uint64, n: np.int64) -> np.int64:
    """Uniform integer in [0, n) from the high 32 bits of ``word`` (n < 2**32; Lemire's method)."""
    return np.int64(((word >> _S32) * np.uint64(n)) >> _S32)


@njit(cache=True, nogil=True, inline="always")
def low_unit(word: np.uint64) -> float:
    """Uniform float in [0, 1) from the low 32 bits (independent of :func:`below`'s bits)."""
    return np.float64(word & _LOW32) * _TWO_M32


@njit(cache=True, nogil=True, inline="always")
def unit(word: np.uint64) -> float:
    """Uniform float in [0, 1) with 53 random bits."""
    return np.float64(word >> _S11) * _TWO_M53


def key_for(seed: int, epoch: int) -> np.uint64:
    """Python-side helper: the kernel key of (seed, epoch); both must be ≥ 0."""
    return np.uint64(run_key(np.uint64(seed), np.uint64(epoch)))
