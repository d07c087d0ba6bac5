"""The issue's targets next to this run's numbers: one table at the top of BENCHMARKS.md."""

from __future__ import annotations

from typing import Any

from bench import ceiling
from bench.streaming import LADDER_DELAY, ladders


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _ladder_row(streaming: dict[str, Any]) -> tuple[str, str, str, str] | None:
    found = ladders(streaming)
    if not found:
        return None
    pace = next(iter(found))  # the provider-like pacing when it was measured
    primary = found[pace]
    if "tokenwire" not in primary:
        return None
    k_tw = primary["tokenwire"]["max_k"]
    others = [f"{name} {primary[kind]['max_k']}"
              for kind, name in (("bare", "bare loop"), ("langserve", "LangServe"))
              if kind in primary]  # fmt: skip
    if ceiling.ROW in primary:
        others.append(f"the model alone in process, no server: {primary[ceiling.ROW]['max_k']}")
    result = f"{k_tw}" + (f" ({', '.join(others)})" if others else "")
    sleep = found.get("sleep")
    if pace == "deadline" and sleep and "tokenwire" in sleep:
        bare = f", bare loop {sleep['bare']['max_k']}" if "bare" in sleep else ""
        result += f"; consumer-paced model: {sleep['tokenwire']['max_k']}{bare}"
    label = (
        f"provider-like pacing (token n due at {LADDER_DELAY * 1000:.0f}·n ms)"
        if pace == "deadline"
        else "consumer-paced model (sleep before every token)"
    )
    return (
        f"concurrent 50-token/s streams at median ≤ 1.10, p99 ≤ 1.25, {label}",
        "≥ 500",
        result,
        _verdict(k_tw >= 500),
    )


def report(streaming: dict[str, Any], split: dict[str, Any] | None) -> str:
    """The targets table; a row whose scenario was not measured is left out."""
    rows: list[tuple[str, str, str, str]] = []
    cost = streaming.get("cost") or {}
    if "tokenwire" in cost and "bare" in cost:
        ratio = cost["tokenwire"]["us_per_token"] / cost["bare"]["us_per_token"]
        cpu_ratio = (
            cost["tokenwire"]["server_cpu_us_per_token"] / cost["bare"]["server_cpu_us_per_token"]
        )
        rows.append(
            (
                "cost per token, tokenwire ÷ bare loop (2,000-token stream)",
                "≤ 1.1x",
                f"{ratio:.2f}x wall ({cpu_ratio:.2f}x server CPU)",
                _verdict(ratio <= 1.1),
            )
        )
    ladder = _ladder_row(streaming)
    if ladder is not None:
        rows.append(ladder)
    if "tokenwire" in (streaming.get("ttft") or {}):
        added = streaming["ttft"]["tokenwire"]["p50_ms"] - streaming["reference"]["ttft_p50_ms"]
        rows.append(("TTFT added over in-process `astream`, p50", "≤ 1 ms", f"{added:.2f} ms",
                     _verdict(added <= 1.0)))  # fmt: skip
    if "tokenwire" in (streaming.get("disconnect") or {}):
        gone = streaming["disconnect"]["tokenwire"]["p99_ms"]
        rows.append(("client disconnect → model generator closed, p99", "≤ 50 ms",
                     "n/a" if gone is None else f"{gone:.1f} ms",
                     _verdict(gone is not None and gone <= 50)))  # fmt: skip
    if "tokenwire" in (streaming.get("memory") or {}):
        memory = streaming["memory"]["tokenwire"]["kb_per_stream"]
        rows.append(("memory per open idle stream", "≤ 20 KB", f"{memory:.1f} KB",
                     _verdict(memory <= 20)))  # fmt: skip
    if "many" in streaming:
        many = streaming["many"]
        many_ok = many["completed"] == many["streams"] and not many["errors"]
        rows.append((f"{many['streams']:,} concurrent slow streams", "no errors",
                     f"{many['completed']:,} completed", _verdict(many_ok)))  # fmt: skip
    if split is not None:
        total = split["gateway"]["cpu_us"]
        ours = total - split["langchain"]["cpu_us"]
        rows.append(
            (
                "per-token CPU split on `ChatOpenAI` + mock provider",
                "reported",
                f"{ours:.0f} of {total:.0f} us is tokenwire",
                "see below",
            )
        )
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    guard = (
        ""
        if streaming.get("guard_on", True)
        else "\n**The PII guard was configured but not in effect** in the tree measured (see "
        "Findings): the rows above are tokenwire with telemetry, event log and audit, without "
        "the guard's cost.\n"
    )
    return f"""## Issue 8 targets (tokenwire with telemetry, PII guard, event log and audit on)

| target | goal | this run | |
|---|---|---|---|
{table}
{guard}"""
