"""tokenwire side by side with a bare Starlette SSE loop and LangServe, over real sockets.

Every server streams the same in-process model (:mod:`bench.fake_model`) in its own process
(:mod:`bench.servers`); this process is the client (:mod:`bench.clients`, on uvloop). The
scenarios run one server at a time, so the servers never compete for the two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any, cast

import uvloop

from bench import ceiling
from bench.clients import Stream, Target, open_stream, stream_once, texts
from bench.fake_model import CLOSE_LOG_ENV, EMAIL, WordStreamModel, prompt, reply
from bench.machine import busy_seconds, process_seconds
from bench.servers import KINDS, REDIS_PREFIX_ENV, REDIS_URL_ENV, ServerProcess

COST_TOKENS = 2_000
COST_REPEATS = 7
MIRRORING_ROUNDS = 3
LADDER_ENV = "BENCH_LADDER"  # e.g. BENCH_LADDER=50,200,500 for a quick look
LADDER = (25, 50, 100, 200, 300, 500)
#: The ladder runs once per pacing of the model (:mod:`bench.fake_model`), the first is primary.
LADDER_PACES = ("deadline", "sleep")
LADDER_TOKENS = 100
LADDER_DELAY = 0.02
IDEAL = LADDER_TOKENS * LADDER_DELAY
TTFT_REQUESTS = 150
TTFT_WARM_UP = 3
REQUESTS = 300
TTFT_TOKENS = 30  # 150 characters: more than the PII guard's 120-character hold-back
DISCONNECT_TRIALS = 30
IDLE_STREAMS = 1_000
MANY_STREAMS = 10_000
#: What ``run(only=...)`` can measure; ``None`` measures all of it.
SCENARIOS = ("cost", "per_request", "ttft", "disconnect", "ladder", "memory", "many")
#: Server rows. Two more need Redis (``$BENCH_REDIS_URL``, default the local one):
#: ``tokenwire-redis`` (cost and ladder: what mirroring run logs to Redis costs) and
#: ``tokenwire-2w`` (two worker processes sharing runs through Redis; the ladder only).
SERVERS = (*KINDS, "tokenwire-redis", "tokenwire-2w")
TWO_WORKERS = "tokenwire, 2 workers (Redis)"
WITH_REDIS = "tokenwire, Redis broker"


def ladder_ks() -> tuple[int, ...]:
    """The rungs: ``$BENCH_LADDER`` (comma-separated K values) or :data:`LADDER`."""
    raw = os.environ.get(LADDER_ENV, "").strip()
    if not raw:
        return LADDER
    return tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))


def ladders(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ladder results by pacing, primary first; an old results file's ``ladder`` was
    measured with the ``sleep`` pacing."""
    found = {
        "deadline": r.get("ladder_deadline"),
        "sleep": r.get("ladder_sleep", r.get("ladder")),
    }
    return {pace: v for pace, v in found.items() if v}


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- scenarios (each takes the running servers) --------------------------------------------


async def inprocess_reference() -> dict[str, float]:
    """The model alone, in this process: LangChain's per-token cost and TTFT floor."""
    model = WordStreamModel()
    best = float("inf")
    for _ in range(COST_REPEATS):
        start = time.perf_counter()
        async for _chunk in model.astream(prompt(COST_TOKENS)):
            pass
        best = min(best, time.perf_counter() - start)
    firsts = []
    for _ in range(TTFT_REQUESTS):
        start = time.perf_counter()
        stream = cast(AsyncGenerator[Any, None], model.astream(prompt(TTFT_TOKENS)))
        await anext(stream)
        firsts.append(time.perf_counter() - start)
        await stream.aclose()
    return {
        "astream_us_per_token": best / COST_TOKENS * 1e6,
        "ttft_p50_ms": _pct(firsts, 0.5) * 1e3,
    }


async def cost_per_token(server: ServerProcess, route: str = "chat") -> dict[str, Any]:
    target = Target.of(server.kind, server.port, route)
    check = await stream_once(target, prompt(COST_TOKENS), keep_body=True)
    deltas = texts(server.kind, check.body)
    correct = "".join(deltas) == reply(COST_TOKENS)
    durations = []
    reads = []
    redis0 = process_seconds("redis-server")
    cpu0, client0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    for _ in range(COST_REPEATS):
        stream = await stream_once(target, prompt(COST_TOKENS))
        durations.append(stream.duration)
        reads.append(stream.reads)
    wall = time.perf_counter() - wall0
    server_cpu = server.cpu_seconds() - cpu0
    client_cpu = time.process_time() - client0
    redis1 = process_seconds("redis-server")
    tokens = COST_REPEATS * COST_TOKENS
    redis_cpu = {}
    if redis0 is not None and redis1 is not None:  # the local Redis, busy or not
        redis_cpu = {"redis_cpu_us_per_token": (redis1 - redis0) / tokens * 1e6}
    return {
        **redis_cpu,
        "us_per_token": min(durations) / COST_TOKENS * 1e6,
        "median_us_per_token": statistics.median(durations) / COST_TOKENS * 1e6,
        "server_cpu_us_per_token": server_cpu / tokens * 1e6,
        "client_cpu_share": client_cpu / wall,
        "events": len(deltas),
        "reads": statistics.median(reads),
        "correct": correct,
    }


async def mirroring_cost(env: dict[str, str], redis_env: dict[str, str]) -> dict[str, Any]:
    """What mirroring every event to Redis costs the gateway: the unguarded route (every
    token its own event), fresh in-memory and Redis-broker servers alternating
    :data:`MIRRORING_ROUNDS` times, since one cost run moves by more than the difference."""
    found: dict[str, list[float]] = {"memory": [], "redis": []}
    for _ in range(MIRRORING_ROUNDS):
        for name, kind, kind_env in (
            ("memory", "tokenwire", env),
            ("redis", "tokenwire-redis", redis_env),
        ):
            with ServerProcess(kind, kind_env) as server:
                await cost_per_token(server, "plain")  # warm-up
                measured = await cost_per_token(server, "plain")
            found[name].append(measured["server_cpu_us_per_token"])
    memory, redis = statistics.median(found["memory"]), statistics.median(found["redis"])
    return {"memory_us": memory, "redis_us": redis, "ratio": redis / memory, "runs": found}


async def guard_probe(server: ServerProcess) -> bool:
    """Whether the guarded route really redacts: a stream with an e-mail address in it."""
    target = Target.of(server.kind, server.port)
    stream = await stream_once(target, "tokens=40 email=5", keep_body=True)
    return EMAIL.strip() not in "".join(texts("tokenwire", stream.body))


async def per_request(server: ServerProcess) -> dict[str, float]:
    """The fixed cost of a stream: sequential one-token streams, server CPU per request."""
    target = Target.of(server.kind, server.port)
    for _ in range(20):
        await stream_once(target, prompt(1))
    durations = []
    cpu0 = server.cpu_seconds()
    for _ in range(REQUESTS):
        durations.append((await stream_once(target, prompt(1))).duration)
    return {
        "cpu_ms": (server.cpu_seconds() - cpu0) / REQUESTS * 1e3,
        "p50_ms": _pct(durations, 0.5) * 1e3,
    }


async def _ladder_step(server: ServerProcess, target: Target, k: int, pace: str) -> dict[str, Any]:
    text = prompt(LADDER_TOKENS, LADDER_DELAY, pace=pace)
    busy0 = busy_seconds()
    cpu0, client0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    streams = await asyncio.gather(*(open_stream(target, text, keep_body=True) for _ in range(k)))
    await asyncio.gather(*(s.done for s in streams))
    wall = time.perf_counter() - wall0
    client_cpu = time.process_time() - client0
    server_cpu = server.cpu_seconds() - cpu0
    others = busy_seconds() - busy0 - server_cpu - client_cpu
    client_share = client_cpu / wall
    stretches = [s.duration / IDEAL for s in streams]
    failed = sum(
        1
        for s in streams
        if s.status != 200 or "".join(texts(target.kind, s.body)) != reply(LADDER_TOKENS)
    )
    return {
        "k": k,
        "median": statistics.median(stretches),
        "p99": _pct(stretches, 0.99),
        "failed": failed,
        "client_cpu_share": client_share,
        "server_cpu_share": server_cpu / wall,
        "others_cores": max(others, 0.0) / wall,
        "server_cpu_us_per_token": server_cpu / (k * LADDER_TOKENS) * 1e6,
        "first_byte_p50_ms": _pct([s.first_byte - s.started for s in streams if s.first_byte], 0.5)
        * 1e3,
        "reads_p50": statistics.median(s.reads for s in streams),
    }


def _passes(step: dict[str, Any]) -> bool:
    return step["median"] <= 1.10 and step["p99"] <= 1.25 and not step["failed"]


async def concurrency(server: ServerProcess, pace: str) -> dict[str, Any]:
    target = Target.of(server.kind, server.port)
    steps = []
    for k in ladder_ks():
        step = await _ladder_step(server, target, k, pace)
        await asyncio.sleep(1.0)  # let run ends (audit, telemetry) settle between steps
        if not _passes(step):  # the machine is shared: a second try rules out a bad moment
            again = await _ladder_step(server, target, k, pace)
            await asyncio.sleep(1.0)
            step = min(step, again, key=lambda s: s["median"])
        steps.append(step)
        if step["median"] > 2.5:  # far past the bar: higher rungs only take time
            break
    return {"steps": steps, "max_k": _largest_passing(steps), "pace": pace}


def _largest_passing(steps: list[dict[str, Any]]) -> int:
    """The largest K below the first failing rung."""
    best = 0
    for s in steps:
        if not _passes(s):
            break
        best = s["k"]
    return best


def model_alone() -> dict[str, Any]:
    """The ladder's ceiling: the provider-paced streams off the model itself, in a process
    of their own (:mod:`bench.ceiling`); failing rungs are tried twice, as for servers."""
    first = _model_alone_steps(ladder_ks())
    failing = tuple(s["k"] for s in first if not _passes(s))
    again = {s["k"]: s for s in _model_alone_steps(failing)} if failing else {}
    steps = [min(s, again.get(s["k"], s), key=lambda t: t["median"]) for s in first]
    return {"steps": steps, "max_k": _largest_passing(steps), "pace": "deadline"}


def _model_alone_steps(ks: Sequence[int]) -> list[dict[str, Any]]:
    """The ladder's step of each rung, summarized as for servers."""
    steps = []
    for rung in ceiling.measure(ks, LADDER_TOKENS, LADDER_DELAY):
        stretches = [seconds / IDEAL for seconds in rung["durations"]]
        steps.append(
            {
                "k": rung["k"],
                "median": statistics.median(stretches),
                "p99": _pct(stretches, 0.99),
                "failed": rung["failed"],
                "server_cpu_share": rung["cpu_share"],
                "server_cpu_us_per_token": rung["cpu_us_per_token"],
            }
        )
    return steps


async def _first_token(target: Target) -> float:
    """Seconds from sending one request to its first answer-token event."""
    stream = await stream_once(target, prompt(TTFT_TOKENS))
    assert stream.first_token is not None, f"{target.kind}: no token event"
    return stream.first_token - stream.started


def _first_tokens(seconds: list[float]) -> dict[str, float]:
    firsts = seconds[TTFT_WARM_UP:]
    return {"p50_ms": _pct(firsts, 0.5) * 1e3, "p90_ms": _pct(firsts, 0.9) * 1e3}


async def ttft(server: ServerProcess) -> dict[str, float]:
    """One server's time to first token on its own (the ``gc`` A/B compares two servers)."""
    target = Target.of(server.kind, server.port)
    return _first_tokens([await _first_token(target) for _ in range(TTFT_REQUESTS + TTFT_WARM_UP)])


async def ttft_side_by_side(kinds: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """Time to first token of every server, one request to each in turn: the servers run
    at once and the moment's noise on this shared machine hits all of them alike (measured
    one after another, a noisy minute could decide a difference of a tenth of a ms)."""
    with contextlib.ExitStack() as stack:
        targets: dict[str, Target] = {}
        for kind in kinds:
            server = stack.enter_context(ServerProcess(kind, env))
            targets[kind] = Target.of(kind, server.port)
            if kind == "tokenwire":
                targets["tokenwire (no guard)"] = Target.of(kind, server.port, "plain")
        names = list(targets)
        firsts: dict[str, list[float]] = {name: [] for name in names}
        shuffle = random.Random(8).shuffle
        for _ in range(TTFT_REQUESTS + TTFT_WARM_UP):
            # A fresh order every turn: a request shares the cores with the clean-up of the
            # stream just before it, so no server may always follow the same one.
            shuffle(names)
            for name in names:
                firsts[name].append(await _first_token(targets[name]))
    return {name: _first_tokens(seconds) for name, seconds in firsts.items()}


async def disconnect(server: ServerProcess, close_log: Path) -> dict[str, Any]:
    target = Target.of(server.kind, server.port)
    offset = time.monotonic() - time.perf_counter()
    latencies = []
    missing = 0
    for trial in range(DISCONNECT_TRIALS):
        tag = f"{server.kind}-{trial}"
        stream = await open_stream(target, prompt(100_000, 0.005, tag=tag), close_on_first=True)
        await stream.first_seen
        assert stream.closed_at is not None, f"{server.kind}: stream ended before a token"
        closed = stream.closed_at + offset
        found = await _wait_for_tag(close_log, tag, within=3.0)
        if found is None:
            missing += 1
        else:
            latencies.append(found - closed)
    return {
        "p50_ms": _pct(latencies, 0.5) * 1e3 if latencies else None,
        "p99_ms": _pct(latencies, 0.99) * 1e3 if latencies else None,
        "max_ms": max(latencies) * 1e3 if latencies else None,
        "missing": missing,
    }


async def _wait_for_tag(path: Path, tag: str, within: float) -> float | None:
    deadline = time.monotonic() + within
    prefix = f"{tag} "
    while time.monotonic() < deadline:
        if path.exists():  # noqa: ASYNC240 - a small file, read between trials
            for line in path.read_text().splitlines():  # noqa: ASYNC240
                if line.startswith(prefix):
                    return float(line.split()[1])
        await asyncio.sleep(0.002)
    return None


async def _open_many(
    target: Target, text: str, n: int, in_flight: int = 500
) -> tuple[list[Stream], float]:
    """Open ``n`` streams, at most ``in_flight`` not yet answered; (streams, seconds)."""
    gate = asyncio.Semaphore(in_flight)
    start = time.perf_counter()

    async def one() -> Stream:
        async with gate:
            stream = await open_stream(target, text, keep_body=True)
            await stream.opened
            return stream

    streams = await asyncio.gather(*(one() for _ in range(n)))
    return list(streams), time.perf_counter() - start


async def idle_memory(server: ServerProcess) -> dict[str, Any]:
    """RSS growth per open stream whose model has not produced anything yet."""
    target = Target.of(server.kind, server.port)
    for _ in range(5):
        await stream_once(target, prompt(20))
    warm, _ = await _open_many(target, prompt(1, first=600), 50)  # first-use allocations
    for s in warm:
        s.close()
    await asyncio.sleep(1.0)
    base = server.rss_bytes()
    streams, seconds = await _open_many(target, prompt(1, first=600), IDLE_STREAMS)
    await asyncio.sleep(1.5)
    grown = server.rss_bytes() - base
    ok = sum(1 for s in streams if s.status == 200 and s.error is None)
    for s in streams:
        s.close()
    return {
        "kb_per_stream": grown / IDLE_STREAMS / 1024,
        "open_per_s": IDLE_STREAMS / seconds,
        "ok": ok,
    }


async def many_streams(server: ServerProcess, open_rate: float) -> dict[str, Any]:
    """10,000 concurrent slow streams: all open, then all stream 10 tokens and end."""
    target = Target.of(server.kind, server.port)
    base = server.rss_bytes()
    wait = min(120.0, MANY_STREAMS / max(open_rate, 1.0) * 1.5 + 5.0)
    text = prompt(10, 0.2, first=wait)
    streams, open_seconds = await _open_many(target, text, MANY_STREAMS)
    peak = server.rss_bytes()
    all_open_before_tokens = all(s.first_token is None for s in streams)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), wait + 120)
    complete = 0
    errors: dict[str, int] = {}
    for s in streams:
        body = s.body if s.ended is not None else b""
        if (
            s.status == 200
            and "".join(texts("tokenwire", body)) == reply(10)
            and (b'"status":"completed"' in body)
        ):
            complete += 1
        else:
            key = s.error or (f"http {s.status}" if s.status != 200 else "incomplete")
            errors[key] = errors.get(key, 0) + 1
    return {
        "streams": MANY_STREAMS,
        "completed": complete,
        "errors": errors,
        "open_seconds": open_seconds,
        "all_open_at_once": all_open_before_tokens,
        "kb_per_stream": (peak - base) / MANY_STREAMS / 1024,
    }


# -- the run -------------------------------------------------------------------------------


def run(
    progress: Callable[[str], None] = print,
    only: Collection[str] | None = None,
    servers: Collection[str] | None = None,
) -> dict[str, Any]:
    """Measure the scenarios in ``only`` (names from :data:`SCENARIOS`; ``None``: all) on the
    servers in ``servers`` (from :data:`SERVERS`; ``None``: all). Results hold only what was
    measured; :func:`report` renders only that."""
    _raise_fd_limit()
    return uvloop.run(
        _run(
            progress,
            frozenset(SCENARIOS if only is None else only),
            frozenset(SERVERS if servers is None else servers),
        )
    )


async def _timed(label: str, progress: Callable[[str], None], job: Awaitable[Any]) -> Any:
    start = time.perf_counter()
    result = await job
    progress(f"  {label}: {time.perf_counter() - start:.1f} s")
    return result


def _redis_env(env: dict[str, str], progress: Callable[[str], None]) -> dict[str, str] | None:
    """``env`` plus the Redis broker's settings, or None (those rows skipped) without Redis."""
    url = os.environ.get(REDIS_URL_ENV) or "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        progress(f"no Redis at {url} ({exc}): the Redis rows are skipped")
        return None
    return {**env, REDIS_URL_ENV: url, REDIS_PREFIX_ENV: f"tokenwire-bench-{os.getpid()}"}


async def _ladders(
    server: ServerProcess,
    row: str,
    found: dict[str, dict[str, Any]],
    progress: Callable[[str], None],
) -> None:
    for pace in LADDER_PACES:
        label = f"concurrency, {pace} pacing"
        found[pace][row] = await _timed(label, progress, concurrency(server, pace))


async def _run(
    progress: Callable[[str], None], only: frozenset[str], servers: frozenset[str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if only & {"cost", "ttft"}:
        results["reference"] = await inprocess_reference()
    workdir = Path(tempfile.mkdtemp(prefix="tokenwire-bench-"))
    close_log = workdir / "closed.log"
    env = {CLOSE_LOG_ENV: str(close_log), "BENCH_DATA_DIR": str(workdir)}
    cost: dict[str, Any] = {}
    ladder: dict[str, dict[str, Any]] = {pace: {} for pace in LADDER_PACES}
    first: dict[str, Any] = {}
    gone: dict[str, Any] = {}
    errors: dict[str, int] = {}
    fixed: dict[str, Any] = {}
    if "ttft" in only:
        kinds = [kind for kind in KINDS if kind in servers]
        first = await _timed("ttft, side by side", progress, ttft_side_by_side(kinds, env))
    one_server = only & {"cost", "per_request", "disconnect", "ladder"}
    for kind in KINDS if one_server else ():
        if kind not in servers:
            continue
        progress(f"streaming: {kind}")
        with ServerProcess(kind, env) as server:
            if kind == "tokenwire":
                results["guard_on"] = await guard_probe(server)
            if "cost" in only:
                cost[kind] = await _timed("cost per token", progress, cost_per_token(server))
                if kind == "tokenwire":
                    cost["tokenwire (no guard)"] = await cost_per_token(server, "plain")
            if "per_request" in only:
                fixed[kind] = await _timed("per request", progress, per_request(server))
            if "disconnect" in only:
                gone[kind] = await _timed("disconnect", progress, disconnect(server, close_log))
            if "ladder" in only:
                await _ladders(server, kind, ladder, progress)
            errors[kind] = len(server.errors())
    redis_env = _redis_env(env, progress) if servers & {"tokenwire-redis", "tokenwire-2w"} else None
    if redis_env is not None and "tokenwire-redis" in servers and only & {"cost", "ladder"}:
        progress("streaming: tokenwire with the Redis broker")
        with ServerProcess("tokenwire-redis", redis_env) as server:
            if "cost" in only:
                cost[WITH_REDIS] = await _timed("cost per token", progress, cost_per_token(server))
            if "ladder" in only:
                await _ladders(server, WITH_REDIS, ladder, progress)
            errors[WITH_REDIS] = len(server.errors())
    if redis_env is not None and "tokenwire-redis" in servers and "cost" in only:
        mirroring = await _timed("mirroring A/B", progress, mirroring_cost(env, redis_env))
        results["mirroring"] = mirroring
    if "ladder" in only:
        ladder["deadline"][ceiling.ROW] = await _timed(
            "concurrency, the model alone", progress, asyncio.to_thread(model_alone)
        )
    if redis_env is not None and "ladder" in only and "tokenwire-2w" in servers:
        progress("streaming: tokenwire, 2 worker processes sharing runs through Redis")
        with ServerProcess("tokenwire-2w", redis_env) as server:
            await _ladders(server, TWO_WORKERS, ladder, progress)
    memory: dict[str, Any] = {}
    for kind in KINDS if "memory" in only else ():
        if kind in servers:  # fresh processes: freed arenas of earlier scenarios would hide growth
            with ServerProcess(kind, env) as server:
                memory[kind] = await _timed(f"idle memory {kind}", progress, idle_memory(server))
    if "many" in only and "tokenwire" in servers:
        gc.collect()
        open_rate = memory.get("tokenwire", {}).get("open_per_s", 1_000.0)
        with ServerProcess("tokenwire", env) as server:
            many = await _timed("10,000 streams", progress, many_streams(server, open_rate))
            many["server_errors"] = server.errors()[:5]
        results["many"] = many
    measured = {
        "server_errors": errors,
        "per_request": fixed,
        "cost": cost,
        "ladder_deadline": ladder["deadline"],
        "ladder_sleep": ladder["sleep"],
        "ttft": first,
        "disconnect": gone,
        "memory": memory,
    }
    results.update((key, value) for key, value in measured.items() if value)
    shutil.rmtree(workdir, ignore_errors=True)
    results["client_fd_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    results["cpus"] = os.cpu_count()
    return results


# -- the report ----------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x"


def report(r: dict[str, Any]) -> str:
    """The streaming sections of BENCHMARKS.md: those whose scenario is in ``r``."""
    sections = [_intro(r)]
    if r.get("cost"):
        sections.append(_cost(r))
    if r.get("per_request"):
        sections.append(_fixed(r["per_request"]))
    if ladders(r):
        sections.append(_ladder(r))
    if r.get("ttft"):
        sections.append(_ttft(r))
    if r.get("disconnect"):
        sections.append(_disconnect(r["disconnect"]))
    if r.get("memory") or r.get("many"):
        sections.append(_memory(r))
    return "\n".join(sections)


def _intro(r: dict[str, Any]) -> str:
    if "guard_on" not in r:
        guard_note = ""
    elif r["guard_on"]:
        guard_note = (
            " Probe (token 5 of a stream is an e-mail address): the guarded route redacted it."
        )
    else:
        guard_note = (
            " **Probe (token 5 of a stream is an e-mail address): the guarded route did NOT "
            "redact it — in the source tree measured, `Route.guardrails` is not applied on the "
            "run path, so the tokenwire rows do not include the guard's cost**; its in-process "
            "cost per token is in *Guardrails: per-token cost* below."
        )
    return f"""## Streaming: tokenwire vs a bare SSE loop vs LangServe (over loopback)

Each server runs alone in its own process (uvicorn, uvloop, httptools, 127.0.0.1); the
client is this process: raw HTTP/1.1 on `asyncio` protocols (one `data_received` call per
read, a `bytes in bytes` search for the first token, bodies checked only after the clock
stops). The model is an in-process `BaseChatModel` streaming one 5-character word per
chunk (`bench/fake_model.py`), identical in all three servers. tokenwire runs with
telemetry, the PII guard (hold-back up to 120 characters), the in-memory event log and
the audit trail on (SQLite), auth off, `disconnect_grace_seconds=0`; `tokenwire (no
guard)` is the same server's route without guardrails.{guard_note}
"""


def _cost(r: dict[str, Any]) -> str:
    ref, cost = r["reference"], r["cost"]
    head = (
        "| server | per token (best) | median | vs bare | server CPU per token | token events "
        "| client reads | text intact | client CPU |"
    )
    base = cost["bare"]["us_per_token"] if "bare" in cost else None
    rows = "\n".join(
        f"| {kind} | {c['us_per_token']:.1f} us | {c['median_us_per_token']:.1f} us "
        f"| {_ratio(c['us_per_token'], base) if base else 'n/a'} "
        f"| {c['server_cpu_us_per_token']:.1f} us "
        f"| {c['events']} | {c['reads']:.0f} | {'yes' if c['correct'] else '**NO**'} "
        f"| {c['client_cpu_share']:.0%} |"
        for kind, c in cost.items()
    )
    ratios = []
    if base and "tokenwire" in cost:
        tw = cost["tokenwire"]["us_per_token"]
        ratios.append(f"**tokenwire / bare = {tw / base:.2f}x** (target ≤ 1.1x)")
    if base and "langserve" in cost:
        ratios.append(f"LangServe / bare =\n{cost['langserve']['us_per_token'] / base:.2f}x")
    summary = f"\n{'; '.join(ratios)}.\n" if ratios else ""
    return f"""### Cost per token: one zero-delay stream of {COST_TOKENS:,} tokens

Total stream time (request sent → body closed) ÷ {COST_TOKENS:,}, best and median of
{COST_REPEATS}; server CPU is the server process's user+system time over the {COST_REPEATS}
streams ÷ tokens; client reads (median) is how many `data_received` calls the body took,
about how many socket writes the server made. In-process `astream` of the same model alone:
{ref["astream_us_per_token"]:.1f} us per token (that much of every row is LangChain).

{head}
|---|---|---|---|---|---|---|---|---|
{rows}
{summary}"""


def _fixed(fixed: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {kind} | {f['cpu_ms']:.2f} ms | {f['p50_ms']:.2f} ms |" for kind, f in fixed.items()
    )
    return f"""### Fixed cost per stream

{REQUESTS} sequential one-token streams (after 20 warm-up ones): server CPU per request
(10 ms clock ticks over the whole series) and the request's wall time, p50. This is paid
once per stream, before and after the tokens; at the concurrency ladder's start every
stream pays it at the same moment.

| server | server CPU per stream | wall p50 |
|---|---|---|
{rows}
"""


def _ladder_tables(ladder: dict[str, Any], reads: bool) -> tuple[str, str, str, float]:
    """(stretch table, server CPU table, client reads table, highest client CPU share)."""
    ks = sorted({s["k"] for v in ladder.values() for s in v["steps"]})
    head = "| server | " + " | ".join(f"K={k}" for k in ks) + " |"
    rule = "|---|" + "---|" * len(ks)
    stretch_rows, cpu_rows, read_rows = [], [], []
    client_share = 0.0
    for kind, v in ladder.items():
        by_k = {s["k"]: s for s in v["steps"]}
        cells, cpu, read = [], [], []
        for k in ks:
            s = by_k.get(k)
            if s is None:
                cells.append("(skipped)")
                cpu.append("")
                read.append("")
                continue
            client_share = max(client_share, s.get("client_cpu_share", 0.0))
            fail = f", {s['failed']} failed" if s["failed"] else ""
            cells.append(f"{s['median']:.2f} / {s['p99']:.2f}{fail}")
            others = f"; others {s['others_cores']:.1f}" if "others_cores" in s else ""
            cpu.append(
                f"{s['server_cpu_us_per_token']:.0f} us ({s['server_cpu_share']:.0%}{others})"
            )
            read.append(f"{s['reads_p50']:.0f}" if "reads_p50" in s else "n/a")
        stretch_rows.append(f"| {kind} | " + " | ".join(cells) + f" | **{v['max_k']}** |")
        cpu_rows.append(f"| {kind} | " + " | ".join(cpu) + " |")
        if any("reads_p50" in s for s in v["steps"]):  # not the model alone: no client
            read_rows.append(f"| {kind} | " + " | ".join(read) + " |")
    stretch = "\n".join([head + " largest K passing |", rule + "---|", *stretch_rows])
    cpus = "\n".join([head, rule, *cpu_rows])
    read_table = "\n".join([head, rule, *read_rows]) if reads else ""
    return stretch, cpus, read_table, client_share


def _ladder(r: dict[str, Any]) -> str:
    found = ladders(r)
    pace = f"{LADDER_TOKENS} tokens {LADDER_DELAY * 1000:.0f} ms apart, ideal {IDEAL:.0f} s"
    ms = f"{LADDER_DELAY * 1000:.0f}"
    parts = [
        f"""### Concurrent 50-token/s streams ({pace})

Stretch = actual ÷ ideal duration, from request sent to body closed, all K streams started
at once; cells are median / p99 (a rung is skipped once the median passes 2.5; a failing
rung is tried twice and the better try kept). Passing means median ≤ 1.10 and p99 ≤ 1.25
with every stream's text intact.

The row *{ceiling.ROW}* is the ceiling: the same provider-paced streams read straight off
the model's `astream` in a fresh process of their own (`python -m bench.ceiling`): no
HTTP, no gateway, and the client's core left free. Every server runs that loop of
LangChain chunks and timer wake-ups underneath, so no server in one process on this
machine keeps more streams within the bar than this row, whatever it does per token.

The ladder runs twice, with the model pacing its tokens in two ways:

- **Provider-like pacing** (the first table, and the target's): token n is due {ms}·n ms
  after the model started, whenever it is read. A remote provider works like that: it
  generates at its own pace on another machine, tokens that arrive while the gateway is
  busy wait in the socket buffer, and the `openai` SDK yields them one after another on the
  next read. Here a late reader finds the overdue tokens ready and gets them without a
  pause. A busy moment makes the tokens of that moment late, not every later one: the
  stretch says whether the server keeps up with K streams.
- **Consumer-paced model** (the second table, as measured before, so earlier numbers stay
  comparable): the model sleeps {ms} ms before every token, counted from when the previous
  one was taken. All K streams start at once, so their timers fire together and the loop
  handles a burst of K tokens per tick; whatever that makes a token late is added to all
  {LADDER_TOKENS} periods of the stream. The stretch then measures drift accumulated over the
  stream rather than whether the server keeps up: compare the bare loop's stretch with its
  server CPU share below.
"""
    ]
    if "deadline" not in found:
        parts.append(
            "These results predate the provider-like pacing: only the consumer-paced table "
            "was measured.\n"
        )
    if "deadline" in found:
        stretch, cpus, reads, client = _ladder_tables(found["deadline"], reads=True)
        parts.append(
            f"""#### Provider-like pacing (token n due at {ms}·n ms)

Client CPU stayed at or below {client:.0%} of one core.

{stretch}

Server CPU per delivered token at each K (the server's share of one core over the rung;
"others": cores kept busy by other processes on this shared machine meanwhile, of 2). While
the server keeps up every token is its own wake-up; once it falls behind, a wake-up finds
several tokens of the same stream ready.

{cpus}

Client reads per stream at each K (median `data_received` calls, response head and end
included): about {LADDER_TOKENS + 1} when every token is a write of its own and the client
keeps up. Fewer means several tokens went out in one write. In tokenwire the PII guard can
release held-back text several tokens at a time, and the SSE pump writes whatever the event
log gathered since its last write, which grows with load; the bare loop and LangServe write
once per token (the kernel may still merge writes the client has not read yet).

{reads}
"""
        )
    if "sleep" in found:
        stretch, cpus, _reads, client = _ladder_tables(found["sleep"], reads=False)
        parts.append(
            f"""#### Consumer-paced model: drift accumulates (sleep {ms} ms before every token)

The sleep-paced model alone overshoots slightly, so the bare loop is the floor. Client CPU
stayed at or below {client:.0%} of one core.

{stretch}

Server CPU per delivered token at each K, as above. Every token is its own wake-up here, so
little is batched.

{cpus}
"""
        )
    return "\n".join(parts)


def _ttft(r: dict[str, Any]) -> str:
    ref = r["reference"]
    rows = "\n".join(
        f"| {kind} | {t['p50_ms']:.2f} ms | {t['p90_ms']:.2f} ms "
        f"| {t['p50_ms'] - ref['ttft_p50_ms']:.2f} ms |"
        for kind, t in r["ttft"].items()
    )
    return f"""### Time to first token at low load

{TTFT_REQUESTS} requests to each server (after {TTFT_WARM_UP} warm-up ones), model with no delay and
{TTFT_TOKENS} tokens; time from sending the request to the first answer-token event at the
client. The servers run side by side and take turns, one request at a time in a fresh
random order every turn, so a noisy moment on this shared machine hits them alike and no
server always follows the same one (a request shares the cores with the clean-up of the
stream just before it).
In-process `astream` time to the first chunk: p50 {ref["ttft_p50_ms"]:.2f} ms. The PII
guard holds back only what an address or a number could still be growing into (for these
words, the last few characters), so the first token event waits for about three words; the
no-guard row shows the gateway without it.

| server | p50 | p90 | added over in-process (p50) |
|---|---|---|---|
{rows}
"""


def _disconnect(gone: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {kind} | {_ms(g['p50_ms'])} | {_ms(g['p99_ms'])} | {_ms(g['max_ms'])} "
        f"| {g['missing']} of {DISCONNECT_TRIALS} |"
        for kind, g in gone.items()
    )
    return f"""### Client disconnect → upstream closed

{DISCONNECT_TRIALS} trials per server: a long 200-token/s stream; the client closes its socket
right after the first token event; the model's generator records when its `finally` ran
(`time.monotonic`, system-wide). Latency = that minus the moment the client closed.

| server | p50 | p99 | max | never closed (3 s) |
|---|---|---|---|---|
{rows}
"""


def _memory(r: dict[str, Any]) -> str:
    parts = []
    if r.get("memory"):
        rows = "\n".join(
            f"| {kind} | {m['kb_per_stream']:.1f} KB | {m['ok']} of {IDLE_STREAMS} "
            f"| {m['open_per_s']:.0f} /s |"
            for kind, m in r["memory"].items()
        )
        parts.append(
            f"""### Memory per open idle stream

A fresh server process per row; RSS after {IDLE_STREAMS:,} open streams whose model waits
(nothing produced yet) minus RSS before, ÷ {IDLE_STREAMS:,}.

| server | RSS per stream | streams open | opened at |
|---|---|---|---|
{rows}
"""
        )
    if r.get("many"):
        many = r["many"]
        errors = ", ".join(f"{k}: {v}" for k, v in many["errors"].items()) or "none"
        if not parts:
            parts.append("### Memory per open idle stream\n")
        parts.append(
            f"""**{MANY_STREAMS:,} concurrent slow streams on tokenwire** (fresh process, fd
limit raised to the hard limit {r["client_fd_limit"]:,} on both sides, up to 500 connects
in flight; every stream waits until all are open, then streams 10 tokens): {many["completed"]:,} of
{many["streams"]:,} completed with their full text and `run.end` completed; errors:
{errors}. All were open at the same time: {"yes" if many["all_open_at_once"] else "no"}
(opening took {many["open_seconds"]:.1f} s); RSS growth at the peak:
{many["kb_per_stream"]:.1f} KB per stream.
"""
        )
    return "\n".join(parts)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
