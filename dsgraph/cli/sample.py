"""``dsgraph sample``: random walks, PinSAGE neighbourhoods or fan-out samples to Parquet."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dsgraph.cli.app import app
from dsgraph.errors import SamplerError


class SampleMode(StrEnum):
    walk = "walk"
    pinsage = "pinsage"
    neighbor = "neighbor"


class WalkMode(StrEnum):
    uniform = "uniform"
    degree = "degree"
    weighted = "weighted"


def _parse_fanouts(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SamplerError(
            f"--fanouts must be comma-separated integers like 15,10, got {text!r}"
        ) from None


@app.command()
def sample(
    data: Annotated[Path, typer.Argument(help="dataset directory (see dsgraph info)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write")],
    mode: Annotated[SampleMode, typer.Option(help="what to sample")] = SampleMode.walk,
    seed: Annotated[int, typer.Option(help="run seed; same seed → same file")] = 0,
    epoch: Annotated[int, typer.Option(help="epoch (a fresh, reproducible draw)")] = 0,
    limit: Annotated[int | None, typer.Option(help="only the first N start/seed nodes")] = None,
    threads: Annotated[int | None, typer.Option(help="Numba threads (default: all)")] = None,
    walk_length: Annotated[int, typer.Option(help="walk: steps per walk")] = 20,
    walk_mode: Annotated[WalkMode, typer.Option(help="walk: transition rule")] = WalkMode.uniform,
    alpha: Annotated[float, typer.Option(help="walk: degree exponent (degree mode)")] = -1.0,
    p: Annotated[float, typer.Option(help="walk: node2vec return parameter")] = 1.0,
    q: Annotated[float, typer.Option(help="walk: node2vec in-out parameter")] = 1.0,
    restart_prob: Annotated[float, typer.Option(help="walk/pinsage: restart probability")] = 0.0,
    dead_end: Annotated[str, typer.Option(help="walk: stop | restart")] = "stop",
    table: Annotated[str, typer.Option(help="walk: alias | cdf tables")] = "alias",
    walks_per_node: Annotated[int, typer.Option(help="walk: walks per start node")] = 1,
    num_walks: Annotated[int, typer.Option(help="pinsage: walks per seed")] = 50,
    top_t: Annotated[int, typer.Option(help="pinsage: neighbours kept per seed")] = 10,
    fanouts: Annotated[str, typer.Option(help="neighbor: per-hop fan-out, e.g. 15,10")] = "15,10",
    batch_size: Annotated[int, typer.Option(help="neighbor: seeds per batch")] = 1024,
    replace: Annotated[bool, typer.Option(help="neighbor: sample with replacement")] = False,
    weighted: Annotated[bool, typer.Option(help="neighbor: draw ∝ edge weight")] = False,
) -> None:
    """Sample DATA's graph and write the result to a Parquet file (atomically)."""
    import numpy as np
    from rich.progress import Progress

    from dsgraph.storage import read_dataset
    from samplers import export

    if limit is not None and limit < 0:
        raise SamplerError(f"--limit must be ≥ 0, got {limit}")
    if threads is not None:
        import numba

        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise SamplerError(
                f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}], got {threads}"
            )
        numba.set_num_threads(threads)
    graph = read_dataset(data, load_features=False).graph
    with Progress(transient=True) as bar:
        task = bar.add_task(f"sampling ({mode.value})", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if mode is SampleMode.walk:
            from samplers.walks import RandomWalkSampler

            sampler = RandomWalkSampler(
                graph,
                walk_length,
                mode=walk_mode.value,
                alpha=alpha,
                p=p,
                q=q,
                restart_prob=restart_prob,
                dead_end=dead_end,
                table=table,
                seed=seed,
            )
            if walks_per_node < 1:
                raise SamplerError(f"--walks-per-node must be ≥ 1, got {walks_per_node}")
            starts = sampler.default_starts()[:limit]
            path = export.write_walks(
                sampler,
                out,
                starts,
                walks_per_node=walks_per_node,
                epoch=epoch,
                on_progress=on_progress,
            )
        elif mode is SampleMode.pinsage:
            from samplers.pinsage import PinSAGESampler

            sampler = PinSAGESampler(graph, num_walks, walk_length, restart_prob, top_t, seed)
            seeds = np.arange(graph.num_nodes, dtype=np.int64)[:limit]
            path = export.write_pinsage(sampler, out, seeds, epoch=epoch, on_progress=on_progress)
        else:
            from samplers.neighbor import NeighborSampler

            if batch_size < 1:
                raise SamplerError(f"--batch-size must be ≥ 1, got {batch_size}")
            sampler = NeighborSampler(
                graph, _parse_fanouts(fanouts), replace=replace, weighted=weighted, seed=seed
            )
            seeds = np.arange(graph.num_nodes, dtype=np.int64)[:limit]
            path = export.write_neighbor_samples(
                sampler, out, seeds, batch_size=batch_size, epoch=epoch, on_progress=on_progress
            )
    typer.echo(f"wrote {path}")
