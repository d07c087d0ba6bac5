"""``python -m bench``: run the benchmarks and write BENCHMARKS.md.

::

    python -m bench                      measure everything, write BENCHMARKS.md
    python -m bench --results FILE       the same, and keep the raw numbers in FILE (JSON)
    python -m bench --render FILE        rewrite BENCHMARKS.md from FILE, no measuring
    python -m bench --only NAMES         measure only NAMES (comma-separated), print their
                                         tables; BENCHMARKS.md is left alone
    python -m bench --only ladder --servers bare,tokenwire
                                         ... and only on these servers

Names for ``--only``:

- streaming, over loopback (see :mod:`bench.streaming`): ``cost`` (2,000-token stream),
  ``per_request`` (fixed cost per stream), ``ttft``, ``disconnect``, ``ladder`` (the
  concurrent 50-token/s streams, both pacings), ``memory`` (idle streams), ``many`` (10,000
  slow streams); ``streaming`` is all of them;
- in process: ``telemetry``, ``holdback``, ``guard`` (the PII guard's per-token cost),
  ``stages`` (the chain recorder / budget / inline guards / guard worker, per token);
- ``clocks`` (:mod:`bench.true_clocks`): a 5 ms-ITL stream's largest gap with exporters on
  vs off, and reported TTFT against the client's clock in a burst of 30 and at 1 stream
  (``BENCH_QUICK=1`` shortens it);
- ``token_memory`` (:mod:`bench.memory_per_token`): RSS per token through ``ChatOpenAI``,
  tokenwire against the bare loop, and after tokenwire's runs expire;
- ``peers`` (:mod:`bench.peers`): the realistic path side by side — the bare loop,
  tokenwire (native, OpenAI, LangGraph API), LangServe, LiteLLM proxy and ``langgraph dev``
  (venvs of their own, made on first use) over one mock: added TTFT, CPU per token;
- ``provider_client`` (:mod:`bench.provider_client`): CPU per token of the stock
  ``langchain_openai.ChatOpenAI`` against the lean ``tokenwire.models.ChatOpenAI``, ``astream``
  from the mock provider, interleaved;
- ``gc``: the garbage collector's full pass with and without ``gc_freeze``, and an A/B of
  tokenwire servers with it off and on;
- ``split`` (mock provider → ``ChatOpenAI``), ``profile`` (py-spy).

``--servers`` (with ``--only``) limits the streaming scenarios to some of ``bare``,
``tokenwire``, ``langserve``, ``tokenwire-redis`` (the Redis broker) and ``tokenwire-2w``
(two workers sharing runs through Redis; the ladder only).
``BENCH_LADDER=50,200,500`` replaces the ladder's rungs (default 25,50,100,200,300,500), e.g.
``BENCH_LADDER=50,200,500 python -m bench --only ladder --servers bare,tokenwire``.
"""

from __future__ import annotations

import argparse
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
    gc_freeze,
    guard_cost,
    holdback_delay,
    machine,
    memory_per_token,
    peers,
    profile,
    provider_client,
    provider_split,
    stage_chain,
    streaming,
    targets,
    telemetry_cost,
    true_clocks,
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


#: Scenarios that measure on their own (``run()``) and render their own section (``report``).
IN_PROCESS = {
    "telemetry": telemetry_cost,
    "holdback": holdback_delay,
    "guard": guard_cost,
    "stages": stage_chain,
    "gc": gc_freeze,
    "clocks": true_clocks,
    "token_memory": memory_per_token,
    "peers": peers,
    "provider_client": provider_client,
}
OTHERS = ("split", "profile")
NAMES = (*streaming.SCENARIOS, "streaming", *IN_PROCESS, *OTHERS)


def _measure(
    only: frozenset[str] | None = None, servers: frozenset[str] | None = None
) -> dict[str, Any]:
    """Everything (``only`` is None), or the scenarios named in ``only``."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    busy0, own0, wall0 = machine.busy_seconds(), machine.own_seconds(), time.perf_counter()
    load_before = machine.load_average()
    results: dict[str, Any] = {}
    for name, module in IN_PROCESS.items():
        if wanted(name):
            _progress(name)
            results[name] = module.run()
    picked = None if only is None else only & set(streaming.SCENARIOS)
    if picked is None or picked:
        results["streaming"] = streaming.run(_progress, picked, servers)
    if wanted("split"):
        _progress("provider split (mock + ChatOpenAI)")
        results["split"] = provider_split.run()
    if wanted("profile"):
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


def _names(raw: str, allowed: tuple[str, ...]) -> frozenset[str]:
    names = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = names - set(allowed)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown: {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})"
        )
    if "streaming" in names:
        names = (names - {"streaming"}) | set(streaming.SCENARIOS)
    return frozenset(names)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--results", metavar="FILE", help="also keep the raw numbers in FILE")
    source.add_argument("--render", metavar="FILE", help="render FILE's numbers, no measuring")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        type=lambda raw: _names(raw, NAMES),
        help="measure only these (comma-separated): " + ", ".join(NAMES),
    )
    parser.add_argument(
        "--servers",
        metavar="NAMES",
        type=lambda raw: _names(raw, streaming.SERVERS),
        help="with --only: the streaming servers, of " + ", ".join(streaming.SERVERS),
    )
    args = parser.parse_args()
    if args.only is not None and args.render:
        parser.error("--only measures; --render does not")
    if args.servers is not None and args.only is None:
        parser.error("--servers needs --only (a full run measures every server)")
    return args


def _partial(results: dict[str, Any]) -> list[str]:
    """The sections of what a ``--only`` run measured (no findings: they need everything)."""
    sections = []
    sections.append(targets.report(results))
    side_by_side = results.get("streaming")
    if side_by_side is not None:
        sections.append(streaming.report(side_by_side))
    if "split" in results:
        sections.append(provider_split.report(results["split"]))
    if "profiles" in results:
        sections.append(profile.report(results["profiles"]))
    sections += [module.report(results[name]) for name, module in IN_PROCESS.items()
                 if name in results]  # fmt: skip
    return sections


def main() -> None:
    started = time.perf_counter()
    args = _arguments()
    if args.render:
        results = _load(args.render)
    else:
        results = _measure(args.only, args.servers)
        if args.results:
            Path(args.results).write_text(json.dumps(results, indent=1))
    if args.only is not None:
        minutes = (time.perf_counter() - started) / 60
        print(
            f"# Benchmarks (only {', '.join(sorted(args.only))}; BENCHMARKS.md not written)\n\n"
            f"Measured in {minutes:.1f} minutes.\n\n"
            f"{_machine()}\n{_sharing(results.get('machine'))}\n\n" + "\n".join(_partial(results))
        )
        return
    side_by_side, split, profiles = results["streaming"], results["split"], results["profiles"]
    # ``if name in results``: a results file from before a scenario existed still renders.
    in_process = [module.report(results[name]) for name, module in IN_PROCESS.items()
                  if name in results]  # fmt: skip
    sections = [
        targets.report(results),
        findings.report(side_by_side, split, profiles, results["guard"]),
        streaming.report(side_by_side),
        provider_split.report(split),
        profile.report(profiles),
        *in_process,
    ]
    minutes = results.setdefault("minutes", (time.perf_counter() - started) / 60)
    if args.results:
        Path(args.results).write_text(json.dumps(results, indent=1))
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
