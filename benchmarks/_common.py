"""Shared benchmark plumbing: timing (medians of repeats), peak RSS, machine info, JSON + table.

Every ``benchmarks/bench_*.py`` prints a rich table and writes ``benchmarks/results/<name>.json``
with the rows and the machine they were measured on.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    """CPU, core count, memory, Python and key package versions, git commit."""
    import numpy

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": numpy.__version__,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["mem_total_kb"] = int(fh.readline().split()[1])
    except OSError:
        pass
    for mod in ("torch", "numba", "pyarrow", "ray", "torch_geometric", "pymetis"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # a missing optional package is not an error here
            continue
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        pass
    return info


def time_median(
    fn: Callable[[], Any], repeats: int = 5, warmup: int = 1
) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(code: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``code`` in a fresh Python process; it must print one JSON object on its last line.

    Used to measure peak RSS of one operation without the rest of the benchmark's memory.
    """
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(
    name: str, rows: Sequence[dict[str, Any]], title: str, extra: dict | None = None
) -> Path:
    """Print ``rows`` as a rich table and write them with machine info to results/<name>.json."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_fmt(row.get(c, "")) for c in columns])
    # A pipe is 80 columns by default, which folds wide result tables into unreadable cells.
    Console(width=max(160, shutil.get_terminal_size((160, 24)).columns)).print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), "rows": list(rows), **(extra or {})}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
