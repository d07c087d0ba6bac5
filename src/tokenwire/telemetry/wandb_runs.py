"""A Weights & Biases exporter: every finished run a step of one W&B run (``wandb`` extra).

Each gateway run is logged as one history step — TTFT, inter-token latency, tokens, cost,
each overall and by route, model and department (``route/<name>/ttft_ms``,
``department/<key alias>/cost_usd``, …), so W&B charts them side by side — and as one row
of the ``runs`` table (an incremental table: each batch logs only its new rows). The
summary keeps running totals by route, model and department: runs, tokens, cost. The
department is the run's key alias (bounded: never a user id).

``wandb.init`` takes a second or more and every call may write files: all of it happens in
``export`` and ``close``, which the pipeline calls on its export thread, never on the loop.
``WANDB_MODE=offline`` (or ``disabled``), ``WANDB_ENTITY`` and ``WANDB_API_KEY`` are
wandb's own variables.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import wandb

from tokenwire.telemetry.record import RunRecord

__all__ = ["RUN_COLUMNS", "WandbExporter"]

#: The columns of the ``runs`` table.
RUN_COLUMNS = (
    "run_id",
    "trace_id",
    "route",
    "model",
    "provider",
    "department",
    "status",
    "started_at",
    "ttft_ms",
    "itl_p50_ms",
    "itl_p95_ms",
    "itl_max_ms",
    "stalls",
    "input_tokens",
    "output_tokens",
    "estimated",
    "cost_usd",
    "duration_ms",
)
#: What each history step holds overall and by route, model and department.
_PER_RUN = ("ttft_ms", "itl_p50_ms", "itl_p95_ms", "input_tokens", "output_tokens", "cost_usd")
#: What the summary totals by route, model and department.
_TOTALS = ("runs", "input_tokens", "output_tokens", "cost_usd")


class WandbExporter:
    name = "wandb"

    def __init__(self, *, project: str = "tokenwire", directory: str | Path = "wandb") -> None:
        self.project = project
        self.directory = Path(directory)
        self._run: Any = None
        self._table: Any = None
        self._totals: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()  # export and close may come from different threads

    @property
    def run_dir(self) -> Path | None:
        """The W&B run's local directory (its ``.wandb`` file, ``files/``), once started."""
        return None if self._run is None else Path(self._run.dir).parent

    def export(self, records: Sequence[RunRecord]) -> None:
        with self._lock:
            run, table = self._started()
            for index, record in enumerate(records):
                table.add_data(*_row(record))
                step = _step(record)
                if index == len(records) - 1:
                    step["runs"] = table  # the batch's new rows, with its last step
                run.log(step)
                self._add_totals(record)
            run.summary.update(dict(self._totals))

    def close(self) -> None:
        with self._lock:
            if self._run is not None:
                self._run.finish()
                self._run = None

    def _started(self) -> tuple[Any, Any]:
        if self._run is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._run = wandb.init(
                project=self.project,
                dir=str(self.directory),
                job_type="tokenwire-gateway",
                # Several gateways in one process (tests, multi-app) log runs of their own.
                reinit="create_new",
                settings=wandb.Settings(
                    console="off", silent=True, x_disable_stats=True, save_code=False
                ),
            )
            self._table = wandb.Table(columns=list(RUN_COLUMNS), log_mode="INCREMENTAL")
        return self._run, self._table

    def _add_totals(self, record: RunRecord) -> None:
        values = {
            "runs": 1.0,
            "input_tokens": float(record.input_tokens),
            "output_tokens": float(record.output_tokens),
            "cost_usd": record.cost_usd or 0.0,
        }
        for group, key in _groups(record):
            for total in _TOTALS:
                self._totals[f"total/{group}/{key}/{total}"] += values[total]
        for total in _TOTALS:
            self._totals[f"total/{total}"] += values[total]


def _groups(record: RunRecord) -> tuple[tuple[str, str], ...]:
    return (
        ("route", record.route),
        ("model", record.model or "unknown"),
        ("department", record.key_alias),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _measures(record: RunRecord) -> dict[str, float | int | None]:
    return {
        "ttft_ms": _ms(record.ttft_s),
        "itl_p50_ms": _ms(record.itl_p50_s),
        "itl_p95_ms": _ms(record.itl_p95_s),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": record.cost_usd,
    }


def _step(record: RunRecord) -> dict[str, Any]:
    """One history step: the measures overall and under each group (absent: not measured)."""
    measures = {k: v for k, v in _measures(record).items() if v is not None}
    step: dict[str, Any] = {**measures, "stalls": record.stalls}
    for group, key in _groups(record):
        for name in _PER_RUN:
            if name in measures:
                step[f"{group}/{key}/{name}"] = measures[name]
    return step


def _row(record: RunRecord) -> list[Any]:
    measures = _measures(record)
    return [
        record.run_id,
        record.trace_id,
        record.route,
        record.model,
        record.provider,
        record.key_alias,
        record.status,
        record.started_at,
        measures["ttft_ms"],
        measures["itl_p50_ms"],
        measures["itl_p95_ms"],
        _ms(record.itl_max_s),
        record.stalls,
        record.input_tokens,
        record.output_tokens,
        record.estimated,
        record.cost_usd,
        record.duration_s * 1000,
    ]
