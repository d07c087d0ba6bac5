"""``@action(commit="after_validation")``: executed only when its run completes — a run a
guardrail stops commits nothing — and the audit record shows what was committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableLambda

from tokenwire import Guardrails, Route
from tokenwire.actions import action
from tokenwire.testing import collect, poll_until, serve


def _route(name: str, calls: list[str], guarded: bool) -> Route:
    @action(commit="after_validation")
    async def send_refund(order: str) -> dict[str, Any]:
        calls.append(order)
        return {"refunded": order}

    async def answer(payload: dict[str, Any]) -> AsyncIterator[str]:
        placeholder = await send_refund(payload["order"])
        assert placeholder["status"] == "pending_commit"  # the agent goes on meanwhile
        for piece in payload["say"].split():
            yield piece + " "

    rails = Guardrails.from_config(
        {"deny": [{"name": "leak", "keywords": ["secret"], "action": "halt"}]}
    )
    return Route(name, RunnableLambda(answer), guardrails=rails if guarded else None)


def test_a_completed_run_commits_and_a_blocked_one_commits_nothing(tmp_path: Any) -> None:
    calls: list[str] = []
    routes = [_route("refund", calls, guarded=True)]
    with serve(routes, data_dir=str(tmp_path)) as client:
        blocked = collect(client, "refund", {"input": {"order": "A", "say": "the secret is"}})
        assert blocked[-1].data["status"] == "blocked"
        assert [e.data["key"] for e in blocked if e.event == "action.discarded"]
        assert calls == []

        done = collect(client, "refund", {"input": {"order": "B", "say": "refund sent"}})
        kinds = [e.event for e in done]
        assert kinds.index("action.committed") < kinds.index("run.end")
        (committed,) = [e.data for e in done if e.event == "action.committed"]
        assert committed["result"] == {"refunded": "B"} and calls == ["B"]

        run_id = done[0].data["run_id"]

        def record() -> Any:
            records = client.get("/v1/audit/records").json()["records"]
            return next((r for r in records if r["run_id"] == run_id), None)

        audited = poll_until(record, timeout=30)
        assert [a["event"] for a in audited["actions"]] == ["action.committed"]
        assert audited["actions"][0]["result"] == {"refunded": "B"}
        ledger = client.get("/v1/actions", params={"status": "discarded"}).json()["actions"]
        assert [e["args"] for e in ledger] == [{"order": "A"}]
