"""Which exporters a gateway runs: the defaults, a chosen list, one by import path (run on
the export thread, closed at shutdown), and start-up errors that name what cannot work."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tokenwire.config import Settings
from tokenwire.errors import ConfigError
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.server.cli import main
from tokenwire.testing import ScriptedChatModel, collect, text_turn

EXPORTER = '''
import threading

class Collect:
    """Keeps what it is given, and on which thread."""

    name = "collect"

    def __init__(self):
        self.records, self.threads, self.closed = [], set(), False

    def export(self, records):
        self.records.extend(records)
        self.threads.add(threading.current_thread().name)

    def close(self):
        self.closed = True

ready = Collect()
not_an_exporter = "just a string"
'''


@pytest.fixture
def exporter_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of exporters, importable under a name of its own for this test."""
    name = f"tw_exporters_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(EXPORTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _names(settings: Settings) -> list[str]:
    gateway = Gateway([Route("chat", ScriptedChatModel(turns=[]))], settings)
    return [e.name for e in gateway.telemetry.pipeline.exporters]


def test_by_default_jsonl_and_otlp_run_when_configured(tmp_path: Path) -> None:
    assert _names(Settings(auth="none")) == ["prometheus", "recent"]
    jsonl = str(tmp_path / "runs.jsonl")
    assert "jsonl" in _names(Settings(auth="none", telemetry_jsonl=jsonl))


def test_a_chosen_list_runs_exactly_what_it_names(tmp_path: Path, exporter_module: str) -> None:
    jsonl = str(tmp_path / "runs.jsonl")
    settings = Settings(
        auth="none",
        telemetry_jsonl=jsonl,
        otlp_endpoint="http://127.0.0.1:9",
        telemetry_exporters=[f"{exporter_module}:ready"],
    )
    assert _names(settings)[2:] == ["collect"]  # neither jsonl nor otlp, though configured


def test_an_exporter_by_import_path_gets_every_run_off_the_loop(
    tmp_path: Path, exporter_module: str
) -> None:
    model = ScriptedChatModel(turns=[text_turn("Hi", " there")])
    settings = Settings(
        auth="none", data_dir=str(tmp_path), telemetry_exporters=[f"{exporter_module}:Collect"]
    )
    gateway = Gateway([Route("chat", model)], settings)
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        run_id = collect(client, "chat", {"input": "hi"})[0].data["run_id"]
    [exporter] = [e for e in gateway.telemetry.pipeline.exporters if e.name == "collect"]
    module = sys.modules[exporter_module]
    assert type(exporter) is module.Collect and exporter is not module.ready  # made anew
    assert [r.run_id for r in exporter.records] == [run_id]  # type: ignore[attr-defined]
    assert exporter.records[0].output_tokens > 0  # type: ignore[attr-defined]
    assert exporter.threads == {"tokenwire-telemetry"}  # type: ignore[attr-defined]
    assert exporter.closed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("no_such_package.mod:Exporter", "cannot import 'no_such_package.mod'"),
        ("{module}:Missing", "has no 'Missing'"),
        ("{module}:not_an_exporter", "is not an exporter: it needs a name, export(records)"),
    ],
)
def test_an_exporter_that_cannot_work_is_a_start_up_error_naming_it(
    exporter_module: str, name: str, problem: str
) -> None:
    path = name.format(module=exporter_module)
    with pytest.raises(ConfigError) as caught:
        _names(Settings(auth="none", telemetry_exporters=[path]))
    assert f"telemetry exporter {path!r}" in str(caught.value) and problem in str(caught.value)


def test_listed_jsonl_and_otlp_need_their_file_and_endpoint() -> None:
    with pytest.raises(ConfigError, match="'jsonl' needs telemetry_jsonl"):
        _names(Settings(auth="none", telemetry_exporters=["jsonl"]))
    with pytest.raises(ConfigError, match="'otlp' needs otlp_endpoint"):
        _names(Settings(auth="none", telemetry_exporters=["otlp"]))


def test_serve_refuses_a_bad_exporter_path_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.py").write_text(
        "from langchain_core.runnables import RunnableLambda\nchain = RunnableLambda(lambda x: x)\n"
    )
    config = tmp_path / "tokenwire.toml"
    config.write_text(
        '[routes.chat]\ntarget = "ok.py:chain"\n'
        f'[gateway]\ndata_dir = "{tmp_path}"\n'
        '[telemetry]\nexporters = ["jsonl", "mypkg.missing:Exporter"]\njsonl = "runs.jsonl"\n'
    )
    assert main(["serve", "--config", str(config), "--no-auth"]) == 2
    err = capsys.readouterr().err
    assert "telemetry exporter 'mypkg.missing:Exporter': cannot import 'mypkg.missing'" in err
