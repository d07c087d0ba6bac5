"""Against a real Arize Phoenix on 127.0.0.1: it shows a gateway run with its masked input
and output, tokens (counted once), model, TTFT and child spans.

Optional and not part of ``make test`` (marker ``phoenix``): Phoenix is a large install
with its own dependency pins, so it lives in a venv of its own. ``make test-phoenix``
creates it (``.phoenix-venv``) and runs this module with ``TOKENWIRE_TEST_PHOENIX`` pointing at
its ``phoenix`` command.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.telemetry.support_agent import (
    CALL_USAGE,
    EMAIL,
    MASKED_ANSWER,
    MASKED_QUESTION,
    MASKED_TOOL_INPUT,
    QUESTION,
    support_agent,
)
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.testing import collect, free_port, poll_until, serve

pytestmark = [pytest.mark.phoenix, pytest.mark.timeout(300)]

PROJECT = "tokenwire-test"


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``phoenix serve`` on free 127.0.0.1 ports, in a working directory of its own (its
    SQLite database), making no outside requests; its base URL."""
    command = os.environ.get("TOKENWIRE_TEST_PHOENIX")
    assert command, "set TOKENWIRE_TEST_PHOENIX to a `phoenix` command (make test-phoenix does)"
    workdir = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log = workdir / "phoenix.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [command, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll_until(
            lambda: _healthy(url, process, log),
            timeout=180,
            interval=0.5,
            message="phoenix did not start",
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    assert process.poll() is None, log.read_text(errors="replace")[-4000:]
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _spans(phoenix: str, count: int) -> list[dict[str, Any]]:
    """The project's spans, once Phoenix has ingested at least ``count`` (it inserts in
    batches, after answering the export)."""

    def probe() -> list[dict[str, Any]] | None:
        answer = httpx.get(f"{phoenix}/v1/projects/{PROJECT}/spans", params={"limit": 100})
        if answer.status_code != 200:
            return None
        spans: list[dict[str, Any]] = answer.json()["data"]
        return spans if len(spans) >= count else None

    return poll_until(probe, timeout=30, interval=0.25, message="phoenix has not the spans")


def _cumulative_tokens(phoenix: str, span_gid: str) -> dict[str, Any]:
    query = """query ($id: ID!) { node(id: $id) { ... on Span {
        cumulativeTokenCountTotal } } }"""
    answer = httpx.post(f"{phoenix}/graphql", json={"query": query, "variables": {"id": span_gid}})
    answer.raise_for_status()
    node: dict[str, Any] = answer.json()["data"]["node"]
    return node


def test_phoenix_shows_the_run_masked_with_tokens_model_ttft_and_child_spans(
    phoenix: str,
) -> None:
    # The premise of otlp_metrics = false: Phoenix takes traces only.
    assert httpx.post(f"{phoenix}/v1/metrics", content=b"").status_code == 405
    route = Route("agent", support_agent(), guardrails=Guardrails.from_config({"pii": True}))
    with serve(
        [route],
        otlp_endpoint=phoenix,
        otlp_metrics=False,
        otlp_capture_io=True,
        otlp_project=PROJECT,
    ) as client:
        events = collect(client, "agent", {"input": QUESTION})
        metrics = client.get("/metrics").text
    # Leaving ``serve`` stopped the gateway, which flushed its exporter.
    end = events[-1].data
    assert end["status"] == "completed"
    spans = _spans(phoenix, 5)
    assert EMAIL not in json.dumps(spans)
    (run,) = [s for s in spans if s["parent_id"] is None]
    values = run["attributes"]
    assert run["context"]["trace_id"] == events[0].data["trace_id"]
    assert values["tokenwire.run_id"] == events[0].data["run_id"]
    assert run["span_kind"] == "CHAIN"
    assert json.loads(values["input.value"])["messages"][0]["content"] == MASKED_QUESTION
    assert values["output.value"] == MASKED_ANSWER
    assert values["llm.model_name"] == "scripted-1"
    assert values["llm.token_count.prompt"] == end["usage"]["input_tokens"]
    assert values["llm.token_count.completion"] == end["usage"]["output_tokens"]
    assert values["gen_ai.response.time_to_first_chunk"] * 1000 == pytest.approx(
        end["timings"]["ttft_ms"], abs=0.01
    )

    children = [s for s in spans if s["parent_id"] == run["context"]["span_id"]]
    assert sorted(s["span_kind"] for s in children) == ["LLM", "LLM", "TOOL"]
    (tool,) = [s for s in children if s["span_kind"] == "TOOL"]
    (retriever,) = [s for s in spans if s["span_kind"] == "RETRIEVER"]
    assert retriever["parent_id"] == tool["context"]["span_id"]
    assert json.loads(tool["attributes"]["input.value"]) == MASKED_TOOL_INPUT
    assert tool["attributes"]["tool.name"] == "lookup_policy"
    calls = sorted((s for s in children if s["span_kind"] == "LLM"), key=lambda s: s["start_time"])
    assert [
        (c["attributes"]["llm.token_count.prompt"],
         c["attributes"]["llm.token_count.completion"]) for c in calls
    ] == CALL_USAGE  # fmt: skip
    assert calls[0]["end_time"] <= tool["start_time"] <= tool["end_time"] <= calls[1]["start_time"]

    # Phoenix's trace total (its cumulative count over the run's spans) counts each token once.
    tokens = _cumulative_tokens(phoenix, run["id"])
    total = end["usage"]["input_tokens"] + end["usage"]["output_tokens"]
    assert tokens["cumulativeTokenCountTotal"] == total
    assert 'tokenwire_telemetry_dropped_total{exporter="otlp' not in metrics
