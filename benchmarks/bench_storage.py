"""Parquet dataset I/O and CSR construction on an R-MAT graph, against plain ``np.load``.

Targets (issue 2), on 2**20 nodes × 16 directed edges per node:
- Parquet read → CSR ≤ 1.5 × (np.load of the same src/dst arrays + the same CSR build);
- peak RSS of the Parquet read ≤ 2 × final CSR bytes + raw edge array bytes.
Both arms build the same directed CSR (``read_dataset(...).graph`` vs ``CSRGraph.from_edges``);
timings interleave the arms and take medians; peak RSS (rise of the kernel's high-water mark over
the process after imports) is measured in fresh subprocesses. The same rows read as an undirected
dataset (symmetrised, de-duplicated CSR) are reported for information.

Run: ``flock /tmp/dsgraph-bench.lock .venv/bin/python benchmarks/bench_storage.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report, run_isolated

from dsgraph.datasets.rmat import rmat_edges
from dsgraph.graph import CSRGraph
from dsgraph.storage import read_dataset, write_dataset

_RSS_CODE = """
import json, os, sys, numpy as np
from dsgraph.graph import CSRGraph
from dsgraph.storage import read_dataset
work, arm, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def status_kib(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))

# Warm the (cached) numba kernels on a tiny graph so compilation is not counted, then reset
# the kernel's high-water mark (VmHWM) so the peak covers only the operation measured.
CSRGraph.from_edges(np.array([0, 1]), np.array([1, 0]), 2)
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
base = status_kib("VmRSS:") * 1024
if arm.startswith("parquet"):
    name = "ds" if arm == "parquet" else "ds_undirected"
    g = read_dataset(os.path.join(work, name), load_features=False).graph
else:
    src, dst = np.load(os.path.join(work, "src.npy")), np.load(os.path.join(work, "dst.npy"))
    g = CSRGraph.from_edges(src, dst, n, symmetrize=arm != "npload")
peak = status_kib("VmHWM:") * 1024
print(json.dumps({"base": base, "peak": peak, "csr_bytes": g.nbytes, "edges": g.num_edges}))
"""


def measure_rss(work: Path, arm: str, num_nodes: int) -> dict:
    code = _RSS_CODE.replace(
        "sys.argv[1], sys.argv[2], int(sys.argv[3])", f"{str(work)!r}, {arm!r}, {num_nodes}"
    )
    return run_isolated(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="scale 16, 3 repeats (< 1 min)")
    parser.add_argument("--scale", type=int, default=None)
    parser.add_argument("--edge-factor", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    scale = args.scale or (16 if args.quick else 20)
    repeats = args.repeats or (3 if args.quick else 5)
    threads = os.cpu_count() or 1
    numba.set_num_threads(threads)
    n = 1 << scale

    work = Path(tempfile.mkdtemp(prefix="dsgraph-bench-storage-"))
    try:
        t0 = time.perf_counter()
        src, dst = rmat_edges(scale, args.edge_factor, seed=0)
        gen_s = time.perf_counter() - t0
        raw_bytes = src.nbytes + dst.nbytes
        num_rows = src.size

        write_pq, write_np = [], []
        for _ in range(max(1, repeats // 2)):
            t0 = time.perf_counter()
            write_dataset(work / "ds", src=src, dst=dst, num_nodes=n, directed=True, name="bench")
            write_pq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            np.save(work / "src.npy", src)
            np.save(work / "dst.npy", dst)
            write_np.append(time.perf_counter() - t0)

        # Warm-up: JIT cache load and page cache for both arms.
        CSRGraph.from_edges(src[:1000], dst[:1000], n)
        read_dataset(work / "ds", load_features=False)
        np.load(work / "src.npy")
        del src, dst

        t_pq, t_np, t_load, t_build = [], [], [], []
        for _ in range(repeats):  # interleaved so machine noise hits both arms alike
            t0 = time.perf_counter()
            g_pq = read_dataset(work / "ds", load_features=False).graph
            t_pq.append(time.perf_counter() - t0)
            del g_pq
            t0 = time.perf_counter()
            s, d = np.load(work / "src.npy"), np.load(work / "dst.npy")
            t1 = time.perf_counter()
            g_np = CSRGraph.from_edges(s, d, n)
            t2 = time.perf_counter()
            t_np.append(t2 - t0)
            t_load.append(t1 - t0)
            t_build.append(t2 - t1)
            del s, d
        csr_bytes = g_np.nbytes
        num_edges = g_np.num_edges
        del g_np

        # Undirected: the same rows read as an undirected dataset → symmetrised, de-duplicated
        # CSR, against np.load + from_edges(symmetrize=True).
        write_dataset(
            work / "ds_undirected",
            src=np.load(work / "src.npy"),
            dst=np.load(work / "dst.npy"),
            num_nodes=n,
            directed=False,
            name="bench-undirected",
        )
        t_pq_u, t_np_u = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            g_u = read_dataset(work / "ds_undirected", load_features=False).graph
            t_pq_u.append(time.perf_counter() - t0)
            del g_u
            t0 = time.perf_counter()
            s, d = np.load(work / "src.npy"), np.load(work / "dst.npy")
            g_u = CSRGraph.from_edges(s, d, n, symmetrize=True)
            t_np_u.append(time.perf_counter() - t0)
            del s, d
        csr_bytes_u, num_edges_u = g_u.nbytes, g_u.num_edges
        del g_u

        rss_pq = measure_rss(work, "parquet", n)
        rss_np = measure_rss(work, "npload", n)
        rss_pq_u = measure_rss(work, "parquet_undirected", n)
        rss_np_u = measure_rss(work, "npload_undirected", n)
        disk_pq = sum(f.stat().st_size for f in (work / "ds").iterdir())
        disk_np = (work / "src.npy").stat().st_size + (work / "dst.npy").stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    mib = 2**20
    rss_target = 2 * csr_bytes + raw_bytes
    ratio = med(t_pq) / med(t_np)
    rows = [
        {
            "arm": "parquet → CSR",
            "write_s": med(write_pq),
            "read_to_csr_s": med(t_pq),
            "edges_per_s": num_rows / med(t_pq),
            "peak_rss_mib": rss_pq["peak"] / mib,
            "process_rss_before_mib": rss_pq["base"] / mib,
            "rss_increase_mib": (rss_pq["peak"] - rss_pq["base"]) / mib,
            "disk_mib": disk_pq / mib,
        },
        {
            "arm": "np.load + from_edges",
            "write_s": med(write_np),
            "read_to_csr_s": med(t_np),
            "edges_per_s": num_rows / med(t_np),
            "peak_rss_mib": rss_np["peak"] / mib,
            "process_rss_before_mib": rss_np["base"] / mib,
            "rss_increase_mib": (rss_np["peak"] - rss_np["base"]) / mib,
            "disk_mib": disk_np / mib,
        },
        {
            "arm": "CSR build alone",
            "read_to_csr_s": med(t_build),
            "edges_per_s": num_rows / med(t_build),
        },
        {"arm": "np.load alone", "read_to_csr_s": med(t_load)},
        {
            "arm": "undirected: parquet → symmetrised CSR",
            "read_to_csr_s": med(t_pq_u),
            "edges_per_s": num_rows / med(t_pq_u),
            "peak_rss_mib": rss_pq_u["peak"] / mib,
            "process_rss_before_mib": rss_pq_u["base"] / mib,
            "rss_increase_mib": (rss_pq_u["peak"] - rss_pq_u["base"]) / mib,
        },
        {
            "arm": "undirected: np.load + from_edges(symmetrize)",
            "read_to_csr_s": med(t_np_u),
            "edges_per_s": num_rows / med(t_np_u),
            "peak_rss_mib": rss_np_u["peak"] / mib,
            "process_rss_before_mib": rss_np_u["base"] / mib,
            "rss_increase_mib": (rss_np_u["peak"] - rss_np_u["base"]) / mib,
        },
    ]
    rss_increase = rss_pq["peak"] - rss_pq["base"]
    extra = {
        "graph": {
            "generator": "rmat",
            "scale": scale,
            "edge_factor": args.edge_factor,
            "num_nodes": n,
            "edge_rows": num_rows,
            "csr_edges": num_edges,
            "generate_s": gen_s,
        },
        "threads": threads,
        "runs_s": {
            "parquet": t_pq,
            "npload_csr": t_np,
            "build": t_build,
            "npload": t_load,
            "parquet_undirected": t_pq_u,
            "npload_csr_undirected": t_np_u,
        },
        "undirected": {
            "csr_edges": num_edges_u,
            "csr_mib": csr_bytes_u / mib,
            "read_ratio": med(t_pq_u) / med(t_np_u),
            "rss_increase_over_csr": (rss_pq_u["peak"] - rss_pq_u["base"]) / csr_bytes_u,
        },
        "repeats": repeats,
        "quick": args.quick,
        "targets": {
            "read_ratio": ratio,
            "read_ratio_target": 1.5,
            "read_ratio_met": ratio <= 1.5,
            "rss_increase_mib": rss_increase / mib,
            "rss_target_mib": rss_target / mib,
            "rss_met": rss_increase <= rss_target,
            "csr_mib": csr_bytes / mib,
            "raw_edges_mib": raw_bytes / mib,
        },
    }
    name = "bench_storage_quick" if args.quick else "bench_storage"
    report(name, rows, f"Parquet vs np.load → CSR, R-MAT scale {scale} ({num_rows:,} edges)", extra)
    print(
        f"read ratio {ratio:.2f} (target ≤ 1.5: {'met' if ratio <= 1.5 else 'MISSED'}); "
        f"peak RSS increase {rss_increase / mib:.0f} MiB vs target {rss_target / mib:.0f} MiB "
        f"(2×CSR + raw arrays: {'met' if rss_increase <= rss_target else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
