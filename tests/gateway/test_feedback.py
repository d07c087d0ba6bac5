"""A user's feedback on a run (``POST /v1/runs/{id}/feedback``) on a live gateway with keys:
only the key that started the run scores it; each score is chained in the audit trail
beside the run's record, measured by route and cohort, and handed to the observers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.telemetry.scrape import families, sample
from tokenwire.audit import audit_from_settings
from tokenwire.config import Settings
from tokenwire.gateway import Feedback, Gateway, Hooks
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.security.principal import Role
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import ScriptedChatModel, collect, poll_until, text_turn

KEYS = {
    "web": ApiKey("web", hash_key("sk-web")),
    "other": ApiKey("other", hash_key("sk-other")),
    "mod": ApiKey("mod", hash_key("sk-mod"), roles=frozenset({Role.MODERATOR})),
    "audit": ApiKey("audit", hash_key("sk-audit"), roles=frozenset({Role.AUDITOR})),
}


@dataclass
class Live:
    gateway: Gateway
    url: str
    observed: list[Feedback]

    def client(self, alias: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer sk-{alias}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    observed: list[Feedback] = []
    routes = [
        Route("chat", ScriptedChatModel(turns=[text_turn("Hello", " there")] * 20)),
        Route(
            "support",
            ScriptedChatModel(turns=[text_turn("Sure")] * 5),
            guardrails=Guardrails.from_config({"pii": True}),
        ),
    ]
    settings = Settings(data_dir=str(tmp_path))
    gateway = Gateway(
        routes,
        settings,
        audit=audit_from_settings(settings),
        credentials=Credentials(list(KEYS.values())),
        hooks=Hooks(feedback=(observed.append,)),
    )
    with BackgroundServer(create_app(gateway)) as server:
        yield Live(gateway, server.url, observed)


def _run(client: httpx.Client, route: str = "chat") -> str:
    events = collect(client, route, {"input": "hi"})
    assert events[-1].data["status"] == "completed"
    return str(events[0].data["run_id"])


def _entries(live: Live, run_id: str, count: int) -> list[dict[str, Any]]:
    """The run's audit entries once ``count`` of them are written (writing is queued)."""

    def probe() -> list[dict[str, Any]] | None:
        with live.client("audit") as auditor:
            found = auditor.get("/v1/audit/records", params={"run_id": run_id}).json()
        records: list[dict[str, Any]] = found["records"]
        return records if len(records) >= count else None

    return poll_until(probe, timeout=10)


def test_the_owners_score_is_chained_after_the_run_record_measured_and_observed(
    live: Live,
) -> None:
    with live.client("web") as web:
        run_id = _run(web)
        given = web.post(f"/v1/runs/{run_id}/feedback", json={"score": 1, "comment": " great "})
        again = web.post(f"/v1/runs/{run_id}/feedback", json={"score": 0.25})
        assert (given.status_code, again.status_code) == (202, 202), given.text
        assert given.json()["score"] == 1.0 and given.json()["comment"] == "great"
        assert given.json()["cohort"] == "stream" and given.json()["key_alias"] == "web"
        record, first, second = _entries(live, run_id, 3)
        metrics = families(web)
    assert "kind" not in record and record["status"] == "completed"
    assert first["kind"] == second["kind"] == "feedback" and first["status"] == "feedback"
    assert (first["score"], first["comment"], second["score"], second["comment"]) == (
        1.0,
        "great",
        0.25,
        None,
    )
    assert first["trace_id"] == record["trace_id"] and first["cohort"] == "stream"
    assert first["sequence"] > record["sequence"] and second["prev_hash"] == first["hash"]
    # Chained entries: the whole trail still verifies.
    with live.client("audit") as auditor:
        verified = auditor.get("/v1/audit/verify").json()
    assert verified["ok"] and verified["checked"] == 3, verified
    labels = {"route": "chat", "cohort": "stream"}
    assert sample(metrics, "tokenwire_feedback_score_count", **labels) == 2
    assert sample(metrics, "tokenwire_feedback_score_sum", **labels) == 1.25
    assert sample(metrics, "tokenwire_feedback_score_bucket", le="0.3", **labels) == 1
    assert [(f.run_id, f.score, f.cohort) for f in live.observed] == [
        (run_id, 1.0, "stream"),
        (run_id, 0.25, "stream"),
    ]


def test_only_the_key_that_started_the_run_scores_it(live: Live) -> None:
    with live.client("web") as web, live.client("other") as other, live.client("mod") as mod:
        run_id = _run(web)
        body = {"score": 0}
        assert other.post(f"/v1/runs/{run_id}/feedback", json=body).status_code == 403
        # A moderator reads and halts anyone's run, but does not speak for its user.
        refused = mod.post(f"/v1/runs/{run_id}/feedback", json=body)
        assert refused.status_code == 403 and "another key" in refused.json()["detail"]
        assert web.post("/v1/runs/0123abcd/feedback", json=body).status_code == 404
        assert web.post(f"/v1/runs/{run_id}/feedback", json=body).status_code == 202
    assert [f.key_alias for f in live.observed] == ["web"]


@pytest.mark.parametrize(
    "body",
    [
        {"score": 1.5},
        {"score": -0.1},
        {"score": "0.5"},
        {"score": True},
        {"score": None},
        {"comment": "no score"},
        {"score": 1, "rating": 5},
        {"score": 1, "comment": 7},
        {"score": 1, "comment": "x" * 2001},
        [1],
    ],
)
def test_a_bad_score_is_a_422_and_nothing_is_kept(live: Live, body: Any) -> None:
    with live.client("web") as web:
        run_id = _run(web)
        refused = web.post(f"/v1/runs/{run_id}/feedback", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        metrics = families(web)
    assert sample(metrics, "tokenwire_feedback_score_count", route="chat") == 0
    assert live.observed == []


def test_a_masking_routes_comment_is_kept_masked(live: Live) -> None:
    with live.client("web") as web:
        run_id = _run(web, "support")
        comment = {"score": 0, "comment": "call me on +14155550134 or jane.doe@example.com"}
        given = web.post(f"/v1/runs/{run_id}/feedback", json=comment)
        assert given.status_code == 202
        _, entry = _entries(live, run_id, 2)
    assert entry["comment"] == given.json()["comment"] == "call me on [PHONE] or [EMAIL]"
