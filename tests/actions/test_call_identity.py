"""What makes two action calls the same call: their own arguments — not what LangChain or
LangGraph inject — or what ``@action(key=...)`` makes of them; and the key that identity
becomes, an HMAC under the gateway's secret."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Annotated, Any

import httpx
import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import InjectedToolCallId
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import InjectedState
from langgraph.types import interrupt
from pydantic import SecretStr
from typing_extensions import TypedDict

from tests.actions.crm import Crm
from tokenwire import Route
from tokenwire.actions import ActionScope, MemoryLedger, action, action_scope, current_key, keys
from tokenwire.actions.keys import call_identity, idempotency_key, key_secret
from tokenwire.config import Settings
from tokenwire.testing import collect, iter_sse, serve, start_stream


async def _redone(*calls: Any) -> MemoryLedger:
    """Each call in a run of its own, on one lineage: the same work redone, if the same."""
    ledger = MemoryLedger()
    loop = asyncio.get_running_loop()
    for n, call in enumerate(calls):
        with action_scope(ActionScope("thread:t", f"run-{n}", ledger, loop)):
            await call()
    return ledger


async def test_a_plain_argument_named_state_or_config_is_part_of_the_call() -> None:
    executions: list[tuple[str, str]] = []

    @action
    async def notify(state: str, config: str) -> str:
        executions.append((state, config))
        return "sent"

    await _redone(lambda: notify("CA", "a"), lambda: notify("NY", "a"), lambda: notify("NY", "b"))
    assert executions == [("CA", "a"), ("NY", "a"), ("NY", "b")]


async def test_what_langchain_and_langgraph_inject_is_not_part_of_the_call() -> None:
    """Told by annotation, whatever the parameters are named."""
    executions: list[str] = []

    @action
    async def refund(
        order: str,
        call_id: Annotated[str, InjectedToolCallId],
        graph: Annotated[dict[str, Any], InjectedState],
        settings: RunnableConfig | None = None,
    ) -> str:
        executions.append(order)
        return "refunded"

    # The work redone: a regenerated tool call, with a new id, other state, another config.
    ledger = await _redone(
        lambda: refund("A", "call-1", {"n": 1}, {"tags": ["1"]}),
        lambda: refund("A", "call-2", {"n": 2}, {"tags": ["2"]}),
    )
    assert executions == ["A"]
    (entry,) = await ledger.entries()
    assert entry.args == {"order": "A"}


def test_the_key_is_an_hmac_under_the_secret() -> None:
    call = call_identity("", "notify", {"email": "jane.doe@example.com"})
    unsalted = idempotency_key("run:r", call, 1)
    salted = idempotency_key("run:r", call, 1, b"s3cret")
    assert unsalted == hashlib.sha256(f"run:r\x00{call}\x001".encode()).hexdigest()
    assert salted != unsalted
    assert salted == idempotency_key("run:r", call, 1, b"s3cret")  # stable for the secret
    assert salted != idempotency_key("run:r", call, 1, b"other")


def test_the_secret_is_the_setting_else_derived_from_a_key_every_replica_has(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cryptography.fernet import Fernet

    fernet = SecretStr(Fernet.generate_key().decode())
    own = Settings(action_key_secret=SecretStr("s3cret"), audit_input_key=fernet)
    assert key_secret(own) == b"s3cret"
    derived = key_secret(Settings(audit_input_key=fernet))
    assert derived is not None and derived == key_secret(Settings(audit_input_key=fernet))
    assert (
        derived != fernet.get_secret_value().encode()
    )  # a derivation, one-way: it gives the key away nowhere
    checkpoints = key_secret(Settings(checkpoint_encryption_key=fernet))
    assert checkpoints == derived
    keys._warned.clear()
    with caplog.at_level(logging.WARNING, logger="tokenwire.actions"):
        assert key_secret(Settings()) is None
        assert key_secret(Settings()) is None
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "TOKENWIRE_ACTION_KEY_SECRET" in warning


def test_the_system_of_record_gets_a_key_salted_the_same_across_restarts(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm

    @action(name="notify")
    def notify(email: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": current_key() or ""}
        body = {"title": email}
        created: dict[str, Any] = httpx.post(f"{url}/tickets", json=body, headers=headers).json()
        return created

    def call(payload: dict[str, Any]) -> Any:
        return notify(payload["email"])

    routes = [Route("file", RunnableLambda(call), mode="events")]
    # Unsalted, then salted, then the same secret after a restart (a fresh gateway).
    for n, secret in enumerate(["", "s3cret", "s3cret"]):
        with serve(routes, data_dir=str(tmp_path / str(n)), action_key_secret=secret) as client:
            body = {"input": {"email": "jane.doe@example.com"}}
            with start_stream(client, "file", body, **{"Idempotency-Key": "order-9"}) as response:
                assert list(iter_sse(response))[-1].data["status"] == "completed"
    unsalted, salted, restarted = (t["key"] for t in records.tickets)
    assert salted != unsalted and salted == restarted


class _Refund(TypedDict, total=False):
    order_id: str
    refund: Any
    confirmed: Any


def test_a_key_callable_keeps_a_reworded_call_the_same(crm: tuple[Crm, str], tmp_path: Any) -> None:
    """The node re-runs on resume and the agent words its note anew: ``key=`` says the
    order is what the refund is, so the refund is replayed, not made twice."""
    records, url = crm
    wordings: list[str] = []

    @action(key=lambda order_id, **_: order_id)
    async def refund(order_id: str, note: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            body = {"title": f"{order_id}: {note}"}
            response = await client.post(f"{url}/tickets", json=body)
        created: dict[str, Any] = response.json()
        return created

    async def file(state: _Refund) -> _Refund:
        wordings.append(f"refund, take {len(wordings) + 1}")
        made = await refund(state["order_id"], note=wordings[-1])
        return {"refund": made, "confirmed": interrupt({"refund": made})}

    builder = StateGraph(_Refund)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    builder.add_edge("file", END)
    with serve([Route("file", builder.compile())], data_dir=str(tmp_path)) as client:
        body = {"input": {"order_id": "A-1"}, "thread_id": "t"}
        assert collect(client, "file", body)[-1].data["status"] == "interrupted"
        resumed = collect(client, "file", {"thread_id": "t", "command": {"resume": "ok"}})
        assert resumed[-1].data["status"] == "completed"
        (entry,) = client.get("/v1/actions", params={"thread_id": "t"}).json()["actions"]
    assert wordings == ["refund, take 1", "refund, take 2"]
    assert [t["title"] for t in records.tickets] == ["A-1: refund, take 1"]
    assert entry["args"] == {"order_id": "A-1", "note": "refund, take 1"}  # shown in full
