"""``[telemetry]`` of ``tokenwire.toml``: the ``telemetry_*`` settings, layered like the rest."""

from __future__ import annotations

import pytest

from tests.config.conftest import WriteToml
from tokenwire.config import Settings, read_config, show
from tokenwire.errors import ConfigError


def test_the_telemetry_table_sets_telemetry_settings_with_their_source(toml: WriteToml) -> None:
    file = read_config(
        toml(
            "[telemetry]\n"
            'exporters = ["jsonl", "wandb", "mypkg.exporters:Audit"]\n'
            'jsonl = "runs.jsonl"\n'
            'otlp_endpoint = "http://127.0.0.1:4318"\n'
            'wandb_project = "gateway"\n'
        )
    )
    settings = file.settings()
    assert settings.telemetry_exporters == ["jsonl", "wandb", "mypkg.exporters:Audit"]
    assert settings.telemetry_jsonl == "runs.jsonl"
    assert settings.otlp_endpoint == "http://127.0.0.1:4318"
    assert settings.telemetry_wandb_project == "gateway"
    lines = show(file)
    assert 'telemetry_exporters = ["jsonl", "wandb", "mypkg.exporters:Audit"]  # file' in lines
    assert 'telemetry_wandb_project = "gateway"  # file' in lines


def test_the_default_exporters_show_and_the_environment_wins(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert 'telemetry_exporters = ["jsonl", "otlp"]  # default' in show(read_config(None))
    monkeypatch.setenv("TOKENWIRE_TELEMETRY_EXPORTERS", '["wandb"]')
    file = read_config(toml('[telemetry]\nexporters = ["jsonl"]\n'))
    assert file.settings().telemetry_exporters == ["wandb"]
    assert 'telemetry_exporters = ["wandb"]  # env' in show(file)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[telemetry]\nexporter = ["jsonl"]\n', "[telemetry] exporter: no such setting"),
        (
            '[gateway]\ntelemetry_jsonl = "a"\n[telemetry]\njsonl = "b"\n',
            "[telemetry] jsonl: set in [gateway] too (as telemetry_jsonl)",
        ),
        ("telemetry = 3\n", "[telemetry]: must be a table"),
    ],
)
def test_telemetry_table_mistakes_name_the_key(toml: WriteToml, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(toml(text))
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("exporters", "problem"),
    [
        (["kafka"], "'kafka' is neither one of ['jsonl', 'otlp', 'wandb'] nor an import path"),
        (["mypkg:"], "'mypkg:' is neither"),
        (["jsonl", "jsonl"], "names an exporter twice"),
    ],
)
def test_exporter_names_are_checked_where_they_come_from(
    toml: WriteToml, exporters: list[str], problem: str
) -> None:
    path = toml(f"[telemetry]\nexporters = {exporters!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as caught:
        read_config(path).settings()
    assert f"{path} [telemetry] exporters: " in str(caught.value)
    assert problem in str(caught.value)


def test_replace_keeps_what_was_set_apart_from_defaults() -> None:
    """The exporters' defaults are only on when configured; a copy (``serve --no-auth``)
    must not turn the default list into one the user asked for."""
    copy = Settings(max_runs=5).replace(auth="none")
    assert copy.model_fields_set == {"max_runs", "auth"}
