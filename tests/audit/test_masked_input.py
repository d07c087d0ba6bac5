"""On a route that masks its input the audit trail keeps it masked, not at all, or masked and
encrypted for an auditor who holds the key (``audit_input``) — on both backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from langchain_core.runnables import RunnableLambda
from pydantic import SecretStr

from tests.audit.conftest import Backend
from tests.audit.helpers import audit_cli
from tests.audit.test_gateway_audit import _records
from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.testing import collect

Serve = Callable[..., httpx.Client]
RAW = {"question": "I am jöhn.doe@example.com", "phone": "+14155550134"}
MASKED = {"question": "I am [EMAIL]", "phone": "[PHONE]"}


async def _answer(_: Any) -> AsyncIterator[str]:
    yield "noted"


def _route(name: str, **guardrails: Any) -> Route:
    rails = Guardrails.from_config({"pii": True, **guardrails})
    return Route(name, RunnableLambda(_answer), mode="tokens", guardrails=rails)


ROUTES = [
    _route("masked"),
    _route("omit", audit_input="omit"),
    _route("sealed", audit_input="encrypted"),
    _route("output_only", mask=["output"]),
]


def test_audit_input_masked_omitted_or_encrypted(
    serve: Serve,
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key = Fernet.generate_key().decode()
    client = serve(ROUTES, audit_input_key=key, **backend.settings())
    for route in ("masked", "omit", "sealed", "output_only"):
        assert collect(client, route, {"input": RAW})[-1].data["status"] == "completed"
    records = {r["route"]: r for r in _records(client, 4)}
    assert records["masked"]["input"] == MASKED
    assert records["masked"]["input_recorded"] == "masked"
    assert records["omit"]["input"] is None
    assert records["omit"]["input_recorded"] == "omitted"
    sealed = records["sealed"]
    assert sealed["input"] == MASKED and sealed["input_recorded"] == "encrypted"
    assert "jöhn" not in json.dumps(sealed, ensure_ascii=False)
    # A route that masks only its output stores its input as before.
    assert records["output_only"]["input"] == RAW
    assert "input_recorded" not in records["output_only"]

    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    export = tmp_path / "audit.jsonl"
    code, out = audit_cli(backend, capsys, "export", "--out", str(export))
    assert code == 0, out

    monkeypatch.setenv("TOKENWIRE_AUDIT_INPUT_KEY", key)
    code, out = _decrypt(capsys, export)
    assert code == 0, out
    [line] = out.splitlines()
    assert json.loads(line) == {
        "sequence": sealed["sequence"],
        "run_id": sealed["run_id"],
        "input": RAW,
    }
    monkeypatch.setenv("TOKENWIRE_AUDIT_INPUT_KEY", Fernet.generate_key().decode())
    code, out = _decrypt(capsys, export)
    assert code == 1 and "wrong key" in out


def _decrypt(capsys: pytest.CaptureFixture[str], export: Path) -> tuple[int, str]:
    from tokenwire.server.cli import main

    capsys.readouterr()
    code = main(["audit", "decrypt", "--in", str(export)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_encrypting_inputs_needs_a_valid_key() -> None:
    with pytest.raises(ValueError, match="no audit_input_key"):
        Gateway([_route("sealed", audit_input="encrypted")], Settings())
    with pytest.raises(ValueError, match="not a Fernet key"):
        Gateway(
            [_route("sealed", audit_input="encrypted")],
            Settings(audit_input_key=SecretStr("short")),
        )
    assert "audit_input_key" not in repr(
        Settings(audit_input_key=SecretStr(Fernet.generate_key().decode()))
    )
