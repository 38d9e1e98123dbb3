"""``dsgraph partition``: partition a dataset into k parts and print the quality table."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dsgraph.cli.app import app
from dsgraph.errors import PartitionError

if TYPE_CHECKING:
    from rich.table import Table

    from partitioning.metrics import PartitionMetrics


@app.command("partition")
def partition_cmd(
    data: Annotated[Path, typer.Argument(help="dataset directory (meta.json, *.parquet)")],
    parts: Annotated[int, typer.Option("--parts", "-k", help="number of parts")] = 8,
    hub_threshold: Annotated[
        int, typer.Option(help="split nodes of degree above this (0: no splitting)")
    ] = 1000,
    balance: Annotated[
        str, typer.Option(help="nodes | edges | nodes+edges (train nodes added when present)")
    ] = "nodes+edges",
    halo_hops: Annotated[int, typer.Option(help="hops of halo nodes kept per part")] = 1,
    ufactor: Annotated[int, typer.Option(help="allowed imbalance in 1/1000 (30 → 3%)")] = 30,
    seed: Annotated[int, typer.Option(help="METIS seed; same seed → same partition")] = 0,
    edge_weights: Annotated[
        bool, typer.Option("--edge-weights", help="METIS minimises cut edge weight")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output directory (default DATA.parts/K)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Partition DATA with METIS (hub splitting, multi-constraint balance) and write the parts."""
    from rich.console import Console
    from rich.progress import Progress

    from partitioning.dataset import partition_dataset

    if hub_threshold < 0:
        raise PartitionError(
            f"--hub-threshold must be ≥ 0 (0 disables splitting), got {hub_threshold}"
        )
    target = out if out is not None else data.with_name(f"{data.name}.parts") / str(parts)
    t0 = time.perf_counter()
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"partitioning into {parts} parts, writing", total=parts)
        _, metrics = partition_dataset(
            data,
            target,
            parts,
            hub_threshold=hub_threshold or None,
            balance=balance,
            halo_hops=halo_hops,
            ufactor=ufactor,
            seed=seed,
            edge_weights=edge_weights,
            on_part=lambda _: bar.advance(task),
        )
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if as_json:
        payload = {**metrics.to_dict(), "total_seconds": seconds, "peak_rss_mb": peak_mb}
        typer.echo(json.dumps({"out": str(target), **payload}, indent=2))
        return
    console = Console()
    console.print(_parts_table(metrics))
    console.print(_totals_table(metrics, seconds, peak_mb))
    typer.echo(f"wrote {target}")


def _parts_table(m: PartitionMetrics) -> Table:
    from rich.table import Table

    table = Table(title=f"{m.num_parts} parts")
    for col in ("part", "owned nodes", "owned edges", "halo nodes", "mirrors", "train nodes"):
        table.add_column(col, justify="right")
    for p in range(m.num_parts):
        train = "-" if m.train_nodes is None else f"{m.train_nodes[p]:,}"
        table.add_row(
            str(p),
            f"{m.owned_nodes[p]:,}",
            f"{m.owned_edges[p]:,}",
            f"{m.halo_nodes[p]:,}",
            f"{m.mirror_nodes[p]:,}",
            train,
        )
    return table


def _totals_table(m: PartitionMetrics, seconds: float, peak_mb: float) -> Table:
    from rich.table import Table

    table = Table(title="totals", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("edge cut", f"{m.edge_cut:,} ({m.edge_cut_fraction:.1%})"),
        ("vertex imbalance (max/mean − 1)", f"{m.vertex_imbalance:.2%}"),
        ("edge imbalance (max/mean − 1)", f"{m.edge_imbalance:.2%}"),
    ]
    if m.train_imbalance is not None:
        rows.append(("train-node imbalance", f"{m.train_imbalance:.2%}"))
    rows += [
        ("hubs split", f"{m.num_hubs:,}"),
        ("replication factor", f"{m.replication_factor:.3f}"),
        ("communication volume (cut edges + mirrors)", f"{m.comm_volume:,}"),
        ("halo volume (halo nodes + mirrors)", f"{m.halo_volume:,}"),
        ("partitioning time", f"{m.seconds:.2f} s"),
        ("total time (read, partition, write)", f"{seconds:.2f} s"),
        ("peak memory", f"{peak_mb:,.0f} MiB"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
