"""The HTTP service on a real (tiny) trained recommender run: events in, fresh top-k out."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from run_fixture import make_run

from dsgraph.serve.app import create_app
from dsgraph.serve.service import InferenceService


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> InferenceService:
    return InferenceService(make_run(tmp_path_factory.mktemp("serve")))


@pytest.fixture(scope="module")
def client(service) -> TestClient:
    return TestClient(create_app(service))


def test_recommend_returns_k_unseen_items_best_first(client, service):
    r = client.get("/recommend/3", params={"k": 7})
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 7
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True)
    seen = set(service.engine.neighbors(3).tolist())
    assert all(200 <= it["item"] < 300 and it["item"] not in seen for it in items)


def test_posted_click_changes_that_users_recommendations(client, service):
    before = [it["item"] for it in client.get("/recommend/4", params={"k": 5}).json()["items"]]
    clicked = before[0]
    r = client.post(
        "/events", json={"events": [{"kind": "add_edge", "src": 4, "dst": clicked}], "k": 5}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == 1 and body["rejected"] == []
    assert body["nodes_recomputed"] > 0 and body["latency_ms"] > 0
    assert "4" in body["recommendations"]
    fresh = [it["item"] for it in body["recommendations"]["4"]]
    assert clicked not in fresh  # now seen, so never recommended again
    assert fresh == [it["item"] for it in client.get("/recommend/4?k=5").json()["items"]]
    log = service.run_dir / "inference" / "events.jsonl"
    assert log.is_file() and f'"dst": {clicked}' in log.read_text()


def test_bad_requests_get_reasons(client):
    r = client.post("/events", json={"events": [{"kind": "add_edge", "src": 0, "dst": 10**6}]})
    assert r.status_code == 200
    assert "unknown node" in r.json()["rejected"][0]["reason"]
    r = client.post(
        "/events", json={"events": [{"kind": "remove_edge", "src": 1, "dst": 2}], "atomic": True}
    )
    assert r.status_code == 422 and "batch refused" in r.json()["detail"]
    r = client.post("/events", json={"events": [{"kind": "teleport", "node": 1}]})
    assert r.status_code == 422 and "unknown kind" in r.json()["detail"]
    assert client.get("/recommend/250").status_code == 404  # an item, not a user
    assert client.get("/recommend/3?k=0").status_code == 422


def test_real_server_on_loopback(service):
    """uvicorn on 127.0.0.1 with an ephemeral port; a few bounded requests, then shutdown."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/health").json()["status"] == "ok"
            assert len(http.get("/recommend/5", params={"k": 3}).json()["items"]) == 3
    finally:
        server.should_exit = True
        thread.join(timeout=10)
