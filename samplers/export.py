"""Write sampler output to Parquet, chunk by chunk, atomically (temp file + rename).

Chunks pass their position in the run to the samplers (``first_id``), so the file equals the
output of one big call: same seed → same file, whatever the chunk size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dsgraph.storage.atomic import atomic_file
from samplers.neighbor import NeighborSampler
from samplers.pinsage import PinSAGESampler
from samplers.walks import RandomWalkSampler

Progress = Callable[[int, int], None]
CHUNK = 1 << 16


def _fixed_lists(matrix: np.ndarray) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(matrix).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def _tick(on_progress: Progress | None, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(done, total)


def write_walks(
    sampler: RandomWalkSampler,
    out: str | os.PathLike[str],
    starts: np.ndarray | None = None,
    *,
    walks_per_node: int = 1,
    epoch: int = 0,
    chunk: int = CHUNK,
    on_progress: Progress | None = None,
) -> Path:
    """Walks to Parquet: ``walk`` int64 (walk number), ``start`` int64, ``nodes``
    fixed_size_list<int64>[walk_length + 1] (−1 after a stop). Repetition r of start i is walk
    number r · len(starts) + i."""
    starts = sampler.default_starts() if starts is None else np.asarray(starts, dtype=np.int64)
    total = starts.size * walks_per_node
    schema = pa.schema(
        [
            ("walk", pa.int64()),
            ("start", pa.int64()),
            ("nodes", pa.list_(pa.int64(), sampler.walk_length + 1)),
        ]
    )
    with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        done = 0
        for rep in range(walks_per_node):
            for lo in range(0, starts.size, chunk):
                part = starts[lo : lo + chunk]
                first = rep * starts.size + lo
                walks = sampler.walk(part, epoch, first_id=first)
                ids = np.arange(first, first + part.size, dtype=np.int64)
                table = pa.table([ids, part, _fixed_lists(walks)], schema=schema)
                writer.write_table(table)
                done += part.size
                _tick(on_progress, done, total)
        if total == 0:
            writer.write_table(schema.empty_table())
    return Path(out)


def write_pinsage(
    sampler: PinSAGESampler,
    out: str | os.PathLike[str],
    seeds: np.ndarray,
    *,
    epoch: int = 0,
    chunk: int = CHUNK,
    on_progress: Progress | None = None,
) -> Path:
    """Importance neighbours to Parquet: ``node`` int64, ``neighbors``
    fixed_size_list<int64>[T] (−1 padded), ``weights`` fixed_size_list<float32>[T]."""
    seeds = np.asarray(seeds, dtype=np.int64)
    t = sampler.top_t
    schema = pa.schema(
        [
            ("node", pa.int64()),
            ("neighbors", pa.list_(pa.int64(), t)),
            ("weights", pa.list_(pa.float32(), t)),
        ]
    )
    with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for lo in range(0, seeds.size, chunk):
            part = seeds[lo : lo + chunk]
            res = sampler.sample(part, epoch, first_id=lo)
            cols = [part, _fixed_lists(res.neighbors), _fixed_lists(res.weights)]
            writer.write_table(pa.table(cols, schema=schema))
            _tick(on_progress, lo + part.size, seeds.size)
        if seeds.size == 0:
            writer.write_table(schema.empty_table())
    return Path(out)


def write_neighbor_samples(
    sampler: NeighborSampler,
    out: str | os.PathLike[str],
    seeds: np.ndarray,
    *,
    batch_size: int = 1024,
    epoch: int = 0,
    on_progress: Progress | None = None,
) -> Path:
    """Sampled message-flow edges of consecutive seed batches to Parquet: ``batch`` int64,
    ``hop`` int8 (0 = edges into the seeds), ``src`` / ``dst`` int64 global ids (messages flow
    src → dst; dst is the node sampled from), ``edge`` int64 CSR position. Batch b uses epoch
    ``epoch · 2**20 + b``."""
    seeds = np.asarray(seeds, dtype=np.int64)
    schema = pa.schema(
        [
            ("batch", pa.int64()),
            ("hop", pa.int8()),
            ("src", pa.int64()),
            ("dst", pa.int64()),
            ("edge", pa.int64()),
        ]
    )
    with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for b, lo in enumerate(range(0, seeds.size, batch_size)):
            part = seeds[lo : lo + batch_size]
            sub = sampler.sample(part, epoch * 2**20 + b)
            hops = np.repeat(
                np.arange(len(sub.num_sampled_edges), dtype=np.int8), sub.num_sampled_edges
            )
            cols = [
                np.full(sub.num_edges, b, dtype=np.int64),
                hops,
                sub.nodes[sub.row],
                sub.nodes[sub.col],
                sub.edge,
            ]
            writer.write_table(pa.table(cols, schema=schema))
            _tick(on_progress, lo + part.size, seeds.size)
        if seeds.size == 0:
            writer.write_table(schema.empty_table())
    return Path(out)
