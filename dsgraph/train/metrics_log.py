"""Metrics as JSON lines: one object per training step or evaluation, appended and flushed.

Every record has ``kind`` ("step" | "eval" | "event" | "baseline"), ``step`` and its numbers.
On resume the log is cut back to the checkpoint's step, so it reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dsgraph.storage.atomic import atomic_file


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf; keep them readable as strings rather than invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLog:
    """Appends records to ``path`` (JSON lines), one flush per record so a kill loses nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, kind: str, step: int, **values: Any) -> None:
        record = {"kind": kind, "step": int(step), **{k: _clean(v) for k, v in values.items()}}
        self._fh.write(json.dumps(record, sort_keys=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line from a kill is ignored)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(path: str | Path, step: int) -> None:
    """Keep only records up to ``step`` (atomic rewrite), e.g. when resuming from a checkpoint."""
    path = Path(path)
    records = [r for r in read_metrics(path) if r.get("step", 0) <= step]
    with atomic_file(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
