"""``python -m bench``: run the benchmarks and write BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import (
    findings,
    guard_cost,
    holdback_delay,
    machine,
    profile,
    provider_split,
    streaming,
    targets,
    telemetry_cost,
)

COMMAND = "make bench   # = .venv/bin/python -m bench"
PACKAGES = (
    "langchain-core",
    "langchain-openai",
    "openai",
    "langserve",
    "sse-starlette",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "orjson",
)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    packages = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return (
        f"- machine: {cpu}, {cores} cores, {platform.system()} {platform.release()}\n"
        f"- Python {sys.version.split()[0]}; {packages}\n"
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def _sharing(load: dict[str, Any] | None) -> str:
    if not load:
        return ""
    return (
        f"- other processes on this machine kept {load['others_cores']:.2f} of its cores busy on "
        f"average during the run (load average {load['load_before']} before, "
        f"{load['load_after']} after)"
    )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure() -> dict[str, Any]:
    _progress("telemetry cost, hold-back delay")
    busy0, own0, wall0 = machine.busy_seconds(), machine.own_seconds(), time.perf_counter()
    load_before = machine.load_average()
    results: dict[str, Any] = {
        "telemetry": telemetry_cost.run(),
        "holdback": holdback_delay.run(),
        "guard": guard_cost.run(),
        "streaming": streaming.run(_progress),
    }
    _progress("provider split (mock + ChatOpenAI)")
    results["split"] = provider_split.run()
    _progress("profile (py-spy)")
    results["profiles"] = profile.run()
    others = machine.busy_seconds() - busy0 - (machine.own_seconds() - own0)
    results["machine"] = {
        "others_cores": max(others, 0.0) / (time.perf_counter() - wall0),
        "load_before": load_before,
        "load_after": machine.load_average(),
    }
    return results


def _load(path: str) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(Path(path).read_text())
    for r in results.get("profiles") or []:
        for key in ("own", "packages", "inclusive"):
            r[key] = Counter(r[key])
    return results


def main() -> None:
    """``python -m bench`` measures; ``--results FILE`` also keeps the raw numbers there,
    ``--render FILE`` rewrites BENCHMARKS.md from kept numbers without measuring."""
    started = time.perf_counter()
    args = sys.argv[1:]
    if args[:1] == ["--render"]:
        results = _load(args[1])
    else:
        results = _measure()
        if args[:1] == ["--results"]:
            Path(args[1]).write_text(json.dumps(results, indent=1))
    side_by_side, split, profiles = results["streaming"], results["split"], results["profiles"]
    in_process = [
        telemetry_cost.report(results["telemetry"]),
        holdback_delay.report(results["holdback"]),
        guard_cost.report(results["guard"]),
    ]
    sections = [
        targets.report(side_by_side, split),
        findings.report(side_by_side, split, profiles, results["guard"]),
        streaming.report(side_by_side),
        provider_split.report(split),
        profile.report(profiles),
        *in_process,
    ]
    minutes = results.setdefault("minutes", (time.perf_counter() - started) / 60)
    if args[:1] == ["--results"]:
        Path(args[1]).write_text(json.dumps(results, indent=1))
    text = (
        "# Benchmarks\n\n"
        f"Produced by `{COMMAND}` in {minutes:.1f} minutes on a shared, noisy machine: "
        "compare ratios within one run, not absolute numbers across runs.\n\n"
        f"{_machine()}\n{_sharing(results.get('machine'))}\n\n" + "\n".join(sections)
    )
    Path("BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
