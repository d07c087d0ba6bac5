"""Feedback entries: chained after their run's record by the one writer, read with it by
run id, and as tamper-evident as any record — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import orjson

from tests.audit.conftest import Backend
from tests.audit.helpers import sql
from tests.audit.test_trail import finished_run
from tokenwire.audit import AuditTrail, verify
from tokenwire.audit.feedback import feedback_entry


def _feedback(run_id: str, score: float) -> dict[str, object]:
    return feedback_entry(
        run_id=run_id,
        route="chat",
        key_alias="web",
        trace_id="t" * 32,
        cohort="stream",
        score=score,
        comment="fine",
        given_at=1.0,
    )


def _fill(backend: Backend) -> None:
    async def run() -> None:
        trail = AuditTrail(backend.store(), batch_delay=0)
        await trail.start()
        trail.submit(finished_run("r1"), "hi")
        trail.note(_feedback("r1", 1.0))
        trail.submit(finished_run("r2"), "hi")
        trail.note(_feedback("r1", 0.0))
        await trail.flush()
        entries = await trail.store.records_of("r1")
        assert [(e["run_id"], e.get("kind"), e.get("score")) for e in entries] == [
            ("r1", None, None),
            ("r1", "feedback", 1.0),
            ("r1", "feedback", 0.0),
        ]
        assert [e["sequence"] for e in entries] == [1, 2, 4]
        assert (await verify(trail.store)).ok
        await trail.aclose()

    asyncio.run(run())


def _verify(backend: Backend) -> tuple[bool, int | None]:
    async def run() -> tuple[bool, int | None]:
        store = backend.store()
        try:
            result = await verify(store)
            return result.ok, result.bad_sequence
        finally:
            await store.aclose()

    return asyncio.run(run())


def test_feedback_is_chained_after_its_run_and_read_with_it(backend: Backend) -> None:
    _fill(backend)
    assert sql(backend, "SELECT status FROM audit_records ORDER BY sequence") == [
        ("completed",),
        ("feedback",),
        ("completed",),
        ("feedback",),
    ]


def test_a_changed_score_breaks_the_chain(backend: Backend) -> None:
    _fill(backend)
    [(body,)] = sql(backend, "SELECT body FROM audit_records WHERE sequence = 2")
    edited = orjson.dumps({**orjson.loads(body), "score": 0.0}, option=orjson.OPT_SORT_KEYS)
    sql(backend, "UPDATE audit_records SET body = :b WHERE sequence = 2", b=edited.decode())
    assert _verify(backend) == (False, 2)
