"""Run PecanPy in its own virtualenv (benchmarks/.venv-pecanpy) and report walk throughput.

PecanPy pins numpy < 2, which breaks pyarrow and Ray, so it never enters the project's
environment. :func:`ensure_env` creates the side environment once; :func:`run_pecanpy` writes
nothing itself but runs this file *inside* that environment (``--worker``), where it imports
only numpy, numba and pecanpy, and reads back one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PECANPY_VERSION = "2.0.9"
ENV_DIR = Path(__file__).resolve().parent / ".venv-pecanpy"
MODES = ("FirstOrderUnweighted", "PreCompFirstOrder", "SparseOTF")


def env_python() -> Path:
    return ENV_DIR / "bin" / "python"


def ensure_env() -> Path:
    """Create the side virtualenv with pecanpy if it is missing; return its interpreter."""
    py = env_python()
    probe = [str(py), "-c", "import pecanpy"]
    if py.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return py
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base), "-m", "venv", str(ENV_DIR)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", f"pecanpy=={PECANPY_VERSION}"], check=True
    )
    return py


def run_pecanpy(
    npz_path: Path,
    *,
    walk_length: int,
    threads: tuple[int, ...],
    repeats: int,
    max_walks: dict[str, int] | None = None,
    timeout: float = 3600,
) -> list[dict]:
    """Time PecanPy's walk kernel for every mode in :data:`MODES` on the CSR in ``npz_path``.

    ``npz_path`` holds ``indptr``, ``indices``, ``data`` (edge weights). One walk starts at every
    node with an edge (or the first ``max_walks[mode]`` of them, shuffled, for slow modes).
    Each mode is timed at every thread count in ``threads`` (one process, so Numba compiles
    once). Returns rows with steps/s (median of ``repeats``), warm preprocessing seconds, and the
    first-call (compile-including) seconds of preprocessing and walking.
    """
    py = ensure_env()
    cmd = [
        str(py),
        str(Path(__file__).resolve()),
        "--worker",
        str(npz_path),
        str(walk_length),
        ",".join(map(str, threads)),
        str(repeats),
        json.dumps(max_walks or {}),
    ]
    env = {**os.environ, "NUMBA_NUM_THREADS": str(max(threads))}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"pecanpy worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _worker(npz: str, walk_length: int, threads: list[int], repeats: int, max_walks: dict) -> None:
    """Inside the pecanpy env: load the CSR, warm up, time preprocessing and walks."""
    import statistics

    import numba
    import numpy as np
    from numba_progress import ProgressBar
    from pecanpy import pecanpy as pp

    raw = np.load(npz)
    rows = []
    for mode in MODES:
        cls = getattr(pp, mode)
        p, q = (0.5, 2.0) if mode == "SparseOTF" else (1.0, 1.0)
        g = cls(p=p, q=q, workers=threads, random_state=0)
        g.indptr = raw["indptr"].astype(np.uint32)
        g.indices = raw["indices"].astype(np.uint32)
        g.data = raw["data"].astype(np.float32)
        if mode != "PreCompFirstOrder":
            g.data[:] = 1.0
        n = g.indptr.size - 1
        g.set_node_ids(None, implicit_ids=True, num_nodes=n)
        # The first call includes Numba compilation of the preprocessing; the second is warm.
        t0 = time.perf_counter()
        g.preprocess_transition_probs()
        t_pre_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        g.preprocess_transition_probs()
        g._preprocessed = True
        t_pre = time.perf_counter() - t0
        starts = np.flatnonzero(np.diff(g.indptr.astype(np.int64)) > 0).astype(np.uint32)
        np.random.default_rng(0).shuffle(starts)
        limit = int(max_walks.get(mode, starts.size))
        starts = starts[:limit]
        move_forward = g.get_move_forward()
        has_nbrs = g.get_has_nbrs()

        def run(s, g=g, move_forward=move_forward, has_nbrs=has_nbrs):
            with ProgressBar(total=s.size, disable=True) as bar:
                return g._random_walks(s.size, walk_length, 0, s, has_nbrs, move_forward, bar)

        t0 = time.perf_counter()
        run(starts[:16])
        t_jit = time.perf_counter() - t0
        for t in threads:
            numba.set_num_threads(t)
            run(starts[:1000])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                run(starts)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rows.append(
                {
                    "mode": mode,
                    "threads": t,
                    "walks": int(starts.size),
                    "walk_length": walk_length,
                    "seconds": med,
                    "steps_per_s": starts.size * walk_length / med,
                    "preprocess_s": t_pre,
                    "preprocess_first_call_s": t_pre_first,
                    "first_call_s": t_jit,
                }
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        _worker(
            sys.argv[2],
            int(sys.argv[3]),
            [int(t) for t in sys.argv[4].split(",")],
            int(sys.argv[5]),
            json.loads(sys.argv[6]),
        )
    else:
        print(ensure_env())
