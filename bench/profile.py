"""Where tokenwire's time per token goes: py-spy sampling the server process under load.

Two loads, each sampled for a few seconds at 1 kHz (on-CPU samples only, all threads):

- ``burst``: 2,000-token zero-delay streams back to back (the cost-per-token scenario);
- ``paced``: 300 concurrent 50-token/s streams, provider-paced (token n due at 20·n ms), the
  concurrency ladder's load;

Samples are folded two ways: *self* (the innermost Python frame, i.e. where the
interpreter was) grouped by package, and *inclusive* for named functions on the token path.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

from bench.clients import Target, open_stream, stream_once
from bench.fake_model import prompt
from bench.servers import ServerProcess

PY_SPY = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
RATE = 1000
LOADS = ("burst", "paced", "admission")
TOP = 12

#: Frames at or above this inclusive share are the loop and server plumbing: not listed.
_ROOT_SHARE = 0.9
_ROOTS = ("<frozen runpy>", "bench/servers.py", "uvicorn/server.py", "uvicorn/_compat.py",
          "asyncio/runners.py", "threading.py")  # fmt: skip


def _executable() -> str | None:
    return str(PY_SPY) if PY_SPY.exists() else shutil.which("py-spy")


async def _burst(target: Target, streams: int = 40) -> int:
    for _ in range(streams):
        await stream_once(target, prompt(2_000))
    return streams * 2_000


async def _admission(target: Target, streams: int = 400) -> int:
    for _ in range(streams):
        await stream_once(target, prompt(1))
    return streams


PACED_STREAMS = 300


async def _paced(target: Target) -> int:
    text = prompt(100, 0.02, pace="deadline")
    streams = await asyncio.gather(*(open_stream(target, text) for _ in range(PACED_STREAMS)))
    await asyncio.gather(*(s.done for s in streams))
    return PACED_STREAMS * 100


def _record(server: ServerProcess, load: str, out: Path) -> dict[str, Any]:
    py_spy = _executable()
    assert py_spy is not None
    target = Target.of("tokenwire", server.port)
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(server.pid), "--rate", str(RATE), "--format", "raw",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    jobs = {"burst": _burst, "paced": _paced, "admission": _admission}
    tokens = uvloop.run(jobs[load](target))
    cpu, wall = server.cpu_seconds() - cpu0, time.perf_counter() - wall0
    spy.send_signal(signal.SIGINT)  # stop sampling now: the samples cover the load only
    spy.wait(30)
    return {"load": load, "tokens": tokens, "cpu_us_per_token": cpu / tokens * 1e6,
            "cpu_share": cpu / wall, **_fold(out)}  # fmt: skip


def _fold(path: Path) -> dict[str, Any]:
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = _name(frames[-1])
        own[leaf] += count
        packages[_package(frames[-1])] += count
        seen = set()
        for frame in frames:
            name = _name(frame)
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
    return {"samples": total, "own": own, "packages": packages, "inclusive": inclusive}


def _name(frame: str) -> str:
    """``func (path/file.py:12)`` → ``func (path/file.py)``."""
    head, _, place = frame.rpartition(" (")
    return f"{head} ({place.rsplit(':', 1)[0]})"


def _package(frame: str) -> str:
    place = frame.rpartition(" (")[2]
    path = place.rsplit(":", 1)[0]
    if path.startswith("tokenwire/"):
        return "/".join(path.split("/")[:2])
    if path.startswith(("asyncio/", "<frozen", "threading")) or "/" not in path:
        return "stdlib (asyncio etc.)"
    return path.split("/")[0]


def run() -> list[dict[str, Any]] | None:
    if _executable() is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="tokenwire-profile-"))
    try:
        with ServerProcess("tokenwire", {"BENCH_DATA_DIR": str(workdir)}) as server:
            uvloop.run(_burst(Target.of("tokenwire", server.port), 5))
            return [_record(server, load, workdir / f"{load}.txt") for load in LOADS]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _inclusive_rows(r: dict[str, Any], tokenwire: bool, top: int) -> str:
    total = max(r["samples"], 1)
    rows = [
        (name, n)
        for name, n in r["inclusive"].most_common()
        if n / total < _ROOT_SHARE
        and ("(tokenwire/" in name) == tokenwire
        and not any(root in name for root in _ROOTS)
    ][:top]
    return "\n".join(f"| `{name}` | {n / total:.1%} |" for name, n in rows)


def report(results: list[dict[str, Any]] | None) -> str:
    if results is None:
        return "## Profile\n\npy-spy is not installed (`pip install py-spy`): no profile.\n"
    sections = []
    for r in results:
        total = max(r["samples"], 1)
        packages = "\n".join(
            f"| {name} | {n / total:.0%} |" for name, n in r["packages"].most_common(8)
        )
        own = "\n".join(f"| `{name}` | {n / total:.1%} |" for name, n in r["own"].most_common(TOP))
        unit = "stream" if r["load"] == "admission" else "token"
        sections.append(f"""### {r["load"]}: {r["tokens"]:,} {unit}s, {r["samples"]:,} samples

Server CPU while sampled: {r["cpu_us_per_token"]:.1f} us per {unit} \
({r["cpu_share"]:.0%} of a core).

| self time by package | share |
|---|---|
{packages}

| self time, top functions | share |
|---|---|
{own}

| inclusive, tokenwire functions | share |
|---|---|
{_inclusive_rows(r, True, TOP)}

| inclusive, other functions | share |
|---|---|
{_inclusive_rows(r, False, 8)}
""")
    return (
        "## Profile: where tokenwire's time per token goes\n\n"
        f"py-spy (`--nonblocking`, {RATE} Hz) on the tokenwire server (guard, telemetry, "
        "event log, audit on), on-CPU samples of every thread. *burst*: 40 streams of "
        f"2,000 zero-delay tokens back to back; *paced*: {PACED_STREAMS} concurrent "
        "50-token/s streams, provider-paced; *admission*: 400 one-token streams one after "
        "another (the fixed cost of a stream). Self time is charged to the innermost Python "
        "frame, so C work (pydantic-core validation, socket writes, the uvloop loop itself) "
        "shows under the Python function that called it.\n\n" + "\n".join(sections)
    )
