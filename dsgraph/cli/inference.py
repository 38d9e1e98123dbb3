"""``dsgraph embed | update | serve``: full-graph and incremental inference of a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsgraph.cli.app import app

PARTS_HELP = (
    "distributed over PartitionActors (Ray): a partitioned dataset folder (DATA.parts/K) or a "
    "number of parts to split the run's graph into with METIS"
)


@app.command("embed")
def embed_cmd(
    run_dir: Annotated[Path, typer.Argument(help="training run folder (dsgraph train)")],
    parts: Annotated[str | None, typer.Option("--parts", help=PARTS_HELP)] = None,
) -> None:
    """Compute every node's embedding layer-wise and write RUN_DIR/embeddings.parquet.

    Updates applied earlier with ``dsgraph update`` (the run's event log) are included.
    """
    from rich.console import Console

    from dsgraph.serve.service import InferenceService

    console = Console()
    with console.status("loading the run and running layer-wise full-graph inference"):
        service = InferenceService(run_dir, parts=parts, log=False)
    path = service.write_embeddings()
    emb = service.engine.embeddings()
    where = "1 process" if parts is None else f"{service.engine.num_parts} PartitionActors"
    replayed = f", {service.replayed} logged events re-applied" if service.replayed else ""
    console.print(
        f"embedded {emb.shape[0]:,} nodes × {emb.shape[1]} in {service.full_seconds:.2f}s "
        f"({where}{replayed}) → {path}"
    )
    if parts is not None:
        service.engine.shutdown()


@app.command("update")
def update_cmd(
    run_dir: Annotated[Path, typer.Argument(help="training run folder (dsgraph train)")],
    events: Annotated[Path, typer.Option("--events", help="Parquet event file (see docs)")],
    parts: Annotated[str | None, typer.Option("--parts", help=PARTS_HELP)] = None,
    atomic: Annotated[
        bool, typer.Option("--atomic", help="refuse the whole batch if any event is invalid")
    ] = False,
    k: Annotated[int, typer.Option("--k", help="top-k refreshed for affected users")] = 20,
    show: Annotated[int, typer.Option(help="affected users to print")] = 5,
) -> None:
    """Apply EVENTS incrementally, update embeddings.parquet, print latency and top-k."""
    from rich.console import Console
    from rich.table import Table

    from dsgraph.inference.events import read_events
    from dsgraph.serve.service import InferenceService

    batch = read_events(events)
    console = Console()
    with console.status("loading the run and computing the current embeddings"):
        service = InferenceService(run_dir, parts=parts)
    result = service.apply(batch, atomic=atomic, k=k)
    path = service.write_embeddings()
    table = Table(title=f"update seq {result.seq}: {events}")
    for col in ("applied", "rejected", "latency ms", "nodes recomputed", "messages"):
        table.add_column(col, justify="right")
    table.add_row(
        str(result.applied),
        str(len(result.rejected)),
        f"{result.latency_ms:.2f}",
        f"{result.nodes_recomputed:,}",
        f"{result.messages_sent:,}",
    )
    console.print(table)
    for r in result.rejected:
        console.print(f"[yellow]rejected event {r.index}[/]: {r.reason}")
    for user, items in list((result.recommendations or {}).items())[:show]:
        top = ", ".join(f"{i} ({s:.3f})" for i, s in items[:10])
        console.print(f"user {user}: {top}")
    console.print(f"{result.node_ids.size:,} embeddings updated → {path}")
    if parts is not None:
        service.engine.shutdown()


@app.command("serve")
def serve_cmd(
    run_dir: Annotated[Path, typer.Argument(help="training run folder (dsgraph train)")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    parts: Annotated[str | None, typer.Option("--parts", help=PARTS_HELP)] = None,
) -> None:
    """Serve POST /events and GET /recommend/{user}?k=20 over HTTP (FastAPI + uvicorn)."""
    import uvicorn

    from dsgraph.serve.app import create_app
    from dsgraph.serve.service import InferenceService

    service = InferenceService(run_dir, parts=parts)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")
