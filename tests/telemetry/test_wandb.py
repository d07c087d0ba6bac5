"""The W&B exporter, with the real ``wandb`` in offline mode: what it wrote locally, read
back (history, summary, the runs table), equals the gateway's own run records."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.telemetry.record import RunRecord
from tokenwire.telemetry.wandb_runs import RUN_COLUMNS, WandbExporter
from tokenwire.testing import ScriptedChatModel, collect, text_turn
from tokenwire.usage.pricing import PriceTable

from .wandb_files import read_finished_run

PRICES = PriceTable({"scripted-1": {"input": 1.0, "output": 2.0}})
KEYS = {"finance": "sk-finance", "support": "sk-support"}


def _model(turns: int) -> ScriptedChatModel:
    return ScriptedChatModel(
        turns=[text_turn("Hel", "lo", "!", usage=(12, 3), model="scripted-1")] * turns
    )


def _wandb_exporter(gateway: Gateway) -> WandbExporter:
    [exporter] = [e for e in gateway.telemetry.pipeline.exporters if e.name == "wandb"]
    assert isinstance(exporter, WandbExporter)
    return exporter


def test_wandb_logs_each_run_by_route_model_and_department(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    routes = [Route("chat", _model(2)), Route("summary", _model(1))]
    settings = Settings(
        data_dir=str(tmp_path),
        telemetry_exporters=["wandb"],
        telemetry_wandb_project="gateway-test",
    )
    credentials = Credentials([ApiKey(alias, hash_key(key)) for alias, key in KEYS.items()])
    gateway = Gateway(routes, settings, prices=PRICES, credentials=credentials)
    exporter = _wandb_exporter(gateway)
    assert exporter.directory == tmp_path / "wandb"  # under data_dir unless configured
    with BackgroundServer(create_app(gateway)) as server:
        for alias, route in (("finance", "chat"), ("finance", "chat"), ("support", "summary")):
            headers = {"Authorization": f"Bearer {KEYS[alias]}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
                collect(client, route, {"input": "hi"})
    # The gateway has stopped: the pipeline flushed and closed the exporter (run.finish).
    records: list[RunRecord] = sorted(
        gateway.telemetry.recent.records(), key=lambda r: r.started_at
    )
    assert len(records) == 3 and all(r.cost_usd for r in records)
    pipeline = gateway.telemetry.pipeline
    assert (pipeline.dropped, pipeline.unclosed) == (0, [])
    run_dir = next((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    logged = read_finished_run(run_dir)

    steps = logged.history
    assert len(steps) == 3
    by_run = {r.run_id: r for r in records}
    columns, rows = logged.table("runs")
    assert columns == list(RUN_COLUMNS)
    table = [dict(zip(columns, row, strict=True)) for row in rows]
    assert sorted(row["run_id"] for row in table) == sorted(by_run)
    for step, row in zip(steps, table, strict=True):
        record = by_run[row["run_id"]]
        assert record.ttft_s is not None
        assert step["ttft_ms"] == pytest.approx(record.ttft_s * 1000)
        assert step[f"route/{record.route}/ttft_ms"] == step["ttft_ms"]
        assert step[f"model/{record.model}/output_tokens"] == record.output_tokens == 3
        assert step[f"department/{record.key_alias}/cost_usd"] == pytest.approx(record.cost_usd)
        assert step["itl_p50_ms"] == pytest.approx((record.itl_p50_s or 0) * 1000)
        assert (row["route"], row["department"], row["model"]) == (
            record.route,
            record.key_alias,
            record.model,
        )
        assert row["input_tokens"] == record.input_tokens == 12
    cost = {alias: sum(r.cost_usd or 0 for r in records if r.key_alias == alias) for alias in KEYS}
    assert _get(logged.summary, "total/department/finance/runs") == 2
    assert _get(logged.summary, "total/department/support/runs") == 1
    assert _get(logged.summary, "total/department/finance/cost_usd") == pytest.approx(
        cost["finance"]
    )
    assert _get(logged.summary, "total/route/chat/output_tokens") == 6
    assert _get(logged.summary, "total/model/scripted-1/input_tokens") == 36
    assert _get(logged.summary, "total/runs") == 3


def _get(summary: dict[str, object], key: str) -> object:
    """A summary value, whether wandb kept ``a/b/c`` as one key or nested it."""
    if key in summary:
        return summary[key]
    value: object = summary
    for part in key.split("/"):
        assert isinstance(value, dict), key
        value = value[part]
    return value
