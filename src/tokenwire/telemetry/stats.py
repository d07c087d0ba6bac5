"""``tokenwire stats FILE``: latency, tokens and cost by route and model from a JSONL sink.

ITL percentiles are over runs' median inter-token gaps (the sink keeps one summary per
run, not every gap); TTFT percentiles are over runs' TTFT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tokenwire.usage.timing import percentile

__all__ = ["format_stats", "load_records"]

_HEADER = (
    "route",
    "model",
    "runs",
    "errors",
    "ttft p50",
    "ttft p95",
    "ttft p99",
    "itl p50",
    "itl p95",
    "itl p99",
    "tokens in",
    "tokens out",
    "cost usd",
)


def load_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON record ({exc})") from None
    return records


def format_stats(records: Iterable[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(record.get("route") or "?", record.get("model") or "unknown")].append(record)
    rows = [_HEADER] + [_row(route, model, runs) for (route, model), runs in sorted(groups.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = [
        "  ".join(
            cell.rjust(w) if i > 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _row(route: str, model: str, runs: list[dict[str, Any]]) -> tuple[str, ...]:
    ttft = sorted(r["ttft_s"] for r in runs if r.get("ttft_s") is not None)
    itl = sorted(r["itl_p50_s"] for r in runs if r.get("itl_p50_s") is not None)
    costs = [r.get("cost_usd") for r in runs]
    priced = [float(c) for c in costs if c is not None]
    cost = f"{sum(priced):.6f}" if len(priced) == len(costs) else "n/a"
    errors = sum(1 for r in runs if r.get("status") not in ("completed", None))
    return (
        route,
        model,
        str(len(runs)),
        str(errors),
        *(_ms(percentile(ttft, q)) for q in (50, 95, 99)),
        *(_ms(percentile(itl, q)) for q in (50, 95, 99)),
        str(sum(int(r.get("input_tokens") or 0) for r in runs)),
        str(sum(int(r.get("output_tokens") or 0) for r in runs)),
        cost,
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"
