"""Top-K selection on a 10M-entry gradient: torch.topk vs np.argpartition vs dsgraph's paths.

For k = 5% and 1% of 10M fp32 entries this measures (median of several runs, one thread):
``torch.topk``, ``np.argpartition``, dsgraph's exact partition, dsgraph's sampled-threshold path,
the full ``TopKCompressor.compress`` (payload with fp32 / fp16 values) and one
``GradientCompression`` step with error feedback. Each row reports the selected count, the overlap
with the exact top-k, and bytes on the wire vs dense fp32. Target: sampled path ≤ 40 ms.

    flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_compression.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numba
import numpy as np
import torch
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report, time_median

from dsgraph.train.compression import (
    GradientCompression,
    TopKCompressor,
    topk_exact,
    topk_sampled,
)

TARGET_MS = 40.0


def gradient_like(n: int, seed: int) -> np.ndarray:
    """Gaussian entries with per-row scales spanning two decades (rows of a weight matrix)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n, dtype=np.float32)
    rows = max(1, n // 1000)
    scales = np.exp(rng.uniform(np.log(0.1), np.log(10.0), rows)).astype(np.float32)
    x *= np.repeat(scales, math.ceil(n / rows))[:n]
    return x


def measure_ratio(x: np.ndarray, ratio: float, repeats: int, seed: int, advance) -> list[dict]:
    """One row per method for k = ceil(ratio · n)."""
    n = x.size
    xt = torch.from_numpy(x)
    k = math.ceil(ratio * n)
    exact_idx, _ = topk_exact(x, k)
    rows: list[dict] = []

    def add(method: str, times: tuple[float, list[float]], idx: np.ndarray, wire: int) -> None:
        median, runs = times
        overlap = np.intersect1d(np.asarray(idx), exact_idx, assume_unique=True).size / k
        rows.append(
            {
                "ratio": ratio,
                "method": method,
                "median_ms": 1e3 * median,
                "min_ms": 1e3 * min(runs),
                "selected": int(np.asarray(idx).size),
                "k": k,
                "overlap_exact": float(overlap),
                "wire_bytes": wire,
                "dense_bytes": 4 * n,
                "wire_over_dense": wire / (4 * n),
            }
        )
        advance()

    t = time_median(lambda: torch.topk(xt.abs(), k, sorted=False), repeats)
    add("torch.topk", t, torch.topk(xt.abs(), k, sorted=False).indices.numpy(), 8 * k)

    t = time_median(lambda: np.argpartition(np.abs(x), n - k)[n - k :], repeats)
    add("np.argpartition", t, np.argpartition(np.abs(x), n - k)[n - k :], 8 * k)

    add("exact (partition)", time_median(lambda: topk_exact(x, k), repeats), exact_idx, 8 * k)

    positions = TopKCompressor(ratio, seed=seed).sample_positions(n)
    picked = topk_sampled(x, k, positions)
    if picked is None:
        raise SystemExit("the sampled path fell back to the exact partition on this input")
    t = time_median(lambda: topk_sampled(x, k, positions), repeats)
    add("sampled threshold", t, picked[0], 8 * k)

    for value_dtype in ("fp32", "fp16"):
        comp = TopKCompressor(ratio, value_dtype, seed=seed)
        payload = comp.compress("w", xt)
        t = time_median(lambda c=comp: c.compress("w", xt), repeats)
        add(f"compress {value_dtype}", t, payload.indices, payload.nbytes)

    # One trainer step's compression as the trainer logs it (CompressionResult.seconds): finite
    # check, residual add, selection, residual update, sparse gradient written back.
    param = torch.nn.Parameter(torch.zeros(n))
    glue = GradientCompression(ratio=ratio, seed=seed)
    seconds, first = [], None
    for _ in range(repeats + 1):
        param.grad = xt.clone()
        result = glue.compress_model([("w", param)], step=0)
        seconds.append(result.seconds)
        first = first or result
    seconds = seconds[1:]  # the first step allocates the residual buffer
    idx = first.payloads[0].indices  # first step: no residual yet, so comparable to exact
    add("EF step (compress_model)", (float(np.median(seconds)), seconds), idx, first.bytes_sent)
    baseline = rows[0]["median_ms"]  # torch.topk
    for r in rows:
        r["speedup_vs_torch_topk"] = baseline / r["median_ms"]
    return rows


def measure(n: int, ratios: list[float], repeats: int, seed: int) -> list[dict]:
    x = gradient_like(n, seed)
    rows: list[dict] = []
    with Progress() as progress:
        task = progress.add_task("top-k methods", total=len(ratios) * 7)
        for ratio in ratios:
            rows += measure_ratio(x, ratio, repeats, seed, lambda: progress.advance(task))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2M entries, 3 repeats (< 1 min)")
    parser.add_argument("--n", type=int, default=None, help="entries (default 10M, quick 2M)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch / numba threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.n or (2_000_000 if args.quick else 10_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    # compile the kernel outside any timing
    warm = gradient_like(50_000, 1)
    topk_sampled(warm, 500, TopKCompressor(0.01).sample_positions(warm.size))
    rows = measure(n, [0.05, 0.01], repeats, args.seed)
    sampled = {r["ratio"]: r["median_ms"] for r in rows if r["method"] == "sampled threshold"}
    scale = 10_000_000 / n
    extra = {
        "n": n,
        "repeats": repeats,
        "threads": args.threads,
        "quick": args.quick,
        "target_ms_per_10M": TARGET_MS,
        "sampled_ms_per_10M": {str(r): ms * scale for r, ms in sampled.items()},
        "meets_target": all(ms * scale <= TARGET_MS for ms in sampled.values()),
    }
    name = "bench_compression_quick" if args.quick else "bench_compression"
    report(name, rows, f"Top-K on {n:,} fp32 entries ({args.threads} thread)", extra)


if __name__ == "__main__":
    main()
