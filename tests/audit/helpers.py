from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.audit.conftest import Backend
from tokenwire.audit import ChainState
from tokenwire.server.cli import main


def entry(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": f"run-{n:04d}",
        "route": "chat",
        "status": "completed",
        "key_alias": "team-a",
        "input": {"question": f"question {n}"},
        "output": f"answer number {n}",
        **extra,
    }


def fill(backend: Backend, count: int, start: int = 1) -> ChainState:
    """``count`` records, appended one per transaction (as the writer does under load)."""

    async def run() -> ChainState:
        store = backend.store()
        try:
            await store.create()
            state = None
            for n in range(start, start + count):
                state = await store.append([entry(n)])
            assert state is not None
            return state
        finally:
            await store.aclose()

    return asyncio.run(run())


def sql(backend: Backend, statement: str, **params: Any) -> list[Any]:
    return asyncio.run(backend.execute(statement, **params))


def audit_cli(backend: Backend, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``tokenwire audit ARGS <location>`` → (exit code, stdout + stderr)."""
    capsys.readouterr()
    code = main(["audit", *args, *backend.cli()])
    out = capsys.readouterr()
    return code, out.out + out.err
