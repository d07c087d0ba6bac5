"""``gc_freeze``: a started gateway takes the start-up heap out of the collector's passes
(``tokenwire serve`` and ``demo`` by default; an embedded gateway only when asked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import asyncio, gc, json, sys, time
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.config import Settings

async def main():
    gateway = Gateway([Route("chat", demo_model("http://127.0.0.1:9/v1"))],
                      Settings(gc_freeze=sys.argv[1] == "on"))
    before = gc.get_freeze_count()
    await gateway.start()
    frozen = gc.get_freeze_count()
    await gateway.start()  # once per process
    again = gc.get_freeze_count()
    started = time.perf_counter()
    gc.collect()
    pause = time.perf_counter() - started
    await gateway.aclose()
    print(json.dumps({"before": before, "frozen": frozen, "again": again, "pause": pause,
                      "tracked": len(gc.get_objects())}))

asyncio.run(main())
"""


def _probe(setting: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, setting], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("setting", ["on", "off"])
def test_the_start_up_heap_is_frozen_once_only_when_asked(setting: str) -> None:
    probe = _probe(setting)
    assert probe["before"] == 0
    if setting == "off":
        assert probe["frozen"] == probe["again"] == 0
        assert probe["tracked"] > 50_000  # LangChain, pydantic, FastAPI: all scanned
        return
    assert probe["frozen"] > 50_000  # what the imports and the gateway created
    assert probe["again"] == probe["frozen"]  # a second start freezes nothing more
    assert probe["tracked"] < probe["frozen"] / 10  # a full pass sees only the rest


def test_a_served_gateway_freezes_unless_configured_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenwire.config import Settings
    from tokenwire.server.config import load_config

    assert Settings().gc_freeze is False  # embedded: the host process decides
    assert load_config(None).settings.gc_freeze is True  # tokenwire serve / demo
    config = tmp_path / "tokenwire.toml"
    config.write_text("[gateway]\ngc_freeze = false\n")
    assert load_config(config).settings.gc_freeze is False
    config.write_text("[gateway]\nretry_ms = 500\n")
    assert load_config(config).settings.gc_freeze is True
    monkeypatch.setenv("TOKENWIRE_GC_FREEZE", "false")
    assert load_config(config).settings.gc_freeze is False
