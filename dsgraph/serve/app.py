"""FastAPI application: ``POST /events``, ``GET /recommend/{user}?k=20``, ``GET /health``.

Why FastAPI (see docs/serving.md): the service is one stateful engine in one process; FastAPI +
uvicorn serve it with a few milliseconds of overhead and no cluster, while Ray Serve would add
a controller, a proxy and a replica actor around the same engine on a 2-core machine.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from dsgraph.errors import DsgraphError
from dsgraph.inference.events import EventError, event_from_dict
from dsgraph.serve.service import InferenceService


class EventsRequest(BaseModel):
    """A batch of events, applied in order as one wave."""

    events: list[dict[str, Any]] = Field(
        ..., description="e.g. {'kind': 'add_edge', 'src': 3, 'dst': 950}", max_length=100_000
    )
    atomic: bool = Field(False, description="refuse the whole batch if any event is invalid")
    k: int = Field(20, ge=1, le=1000, description="top-k refreshed for the affected users")


def create_app(service: InferenceService) -> FastAPI:
    """The HTTP API over ``service`` (one engine; batches serialised by its lock)."""
    app = FastAPI(title="dsgraph inference", version="1")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "nodes": int(service.engine.num_nodes), "seq": service.engine.seq}

    @app.post("/events")
    def post_events(req: EventsRequest) -> dict[str, Any]:
        try:
            events = [event_from_dict(d) for d in req.events]
            result = service.apply(events, atomic=req.atomic, k=req.k)
        except EventError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        recs = result.recommendations or {}
        return {
            "seq": result.seq,
            "applied": result.applied,
            "rejected": [{"index": r.index, "reason": r.reason} for r in result.rejected],
            "latency_ms": result.latency_ms,
            "nodes_recomputed": result.nodes_recomputed,
            "messages_sent": result.messages_sent,
            "updated_nodes": int(result.node_ids.size),
            "recommendations": {
                str(u): [{"item": i, "score": s} for i, s in items] for u, items in recs.items()
            },
        }

    @app.get("/recommend/{user}")
    def recommend(user: int, k: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        try:
            items = service.recommend(user, k)
        except DsgraphError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return {"user": user, "k": k, "items": [{"item": i, "score": s} for i, s in items]}

    return app
