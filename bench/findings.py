"""What the numbers say: the findings and the proposed optimizations, from this run's results.

The sentences are fixed; every number in them comes from the run, so a re-run that changes
the picture changes the numbers, and whoever reads a surprising one should check the tables.
"""

from __future__ import annotations

from typing import Any

from bench import ceiling
from bench.streaming import LADDER_TOKENS, TWO_WORKERS, WITH_REDIS, ladders

# Proposals from reading the profile against the code; none is applied by the benchmark.
PROPOSALS = """\
What was changed for these numbers (each measured before and after with `make bench` or
`python -m bench --only …`; the earlier runs' tables are in the git history of this file):

1. **Guards without a task** (`pipeline/inline_guards.py`): with synchronous guards (all
   built-in ones) a token is a list append; what arrived while the model's task ran is
   scanned by one `call_soon` callback when it yields (one scan and one event per network
   read) — no worker task, no hop per token. A worker is started only for async guards, on
   the first token. Stops (block/halt) act only once settled, so a keyword that turns out
   to be part of a longer word never blocks.
2. **Hold back only what a match could still grow into** (`pipeline/holdback.py`,
   `PiiGuard.hold`): the PII guard keeps the trailing run of characters an address or a
   number can contain, not a fixed 120-character window, so prose is released at once and
   the guarded TTFT is close to the unguarded one; once something was shown a scan runs
   every 12 characters, not every token (before that, every token: the first words are
   not held for a scan step, ~60 ms at 50 tokens/s). Any chunking redacts exactly like one
   scan of the whole text (randomized test).
3. **One writer per connection** (`server/sse.py`): the response's own task takes the
   log's new events and writes them in one `send`, waiting on one future that the log, the
   heartbeat/lifetime timer or the disconnect watcher resolves — one extra task and one
   timer per stream instead of three tasks and three generator levels. Adaptive
   coalescing: once a stream has written twice within `coalesce_seconds` (5 ms), the next
   write waits out the interval; a first token, a token after a pause and the end are
   written at once.
4. **First token flushed at once** (`langchain/tokens_mode.py`, `pipeline/inline_guards.py`):
   the adapter yields to the loop once when the answer's first text became visible, so a
   model that delivers a burst without suspending no longer holds it back; until something
   is visible the guard scans each delta at once instead of when the model yields, so the
   first words are already in the log then. Before, the writer sent the run's opening
   events alone and the first words a write and a few chunks later: in a server trace the
   first chunk took 280 us to reach the socket, now 70 us (the bare loop: 13 us). In
   process, the guard still adds ~60 us before the first token (its first scan) and ~30 us
   of set-up; the rest of the gap to the bare loop is the run's own set-up.
5. **Cheaper admission**: batched audit appends (one SQLite commit per 0.1 s, not per run),
   input schemas cached per runnable, one `os.urandom` for both ids, no watchdog without
   timeouts, no auth middleware when auth is off, and the streaming start goes straight to
   its endpoint (`server/direct_route.py` `FastPath`), past Starlette's router and
   FastAPI's dependency solving and exit stacks (which a stream kept alive for its life).
6. **Three writes per short stream** (`server/sse.py`): the retry hint, the run's opening
   events and a fast model's first words go out in one write (the writer lets the run's
   task take its first step before its first write), and the last write carries the end of
   the body — a one-token stream makes 3 socket writes (as the bare loop does), not 6.
   Each is a system call and a wake-up of the client, ~50 us of server CPU here.
7. **Bulk histogram observe** (`telemetry/metrics.py` `observe_many`): a run's inter-token
   gaps are counted into buckets in one pass.
8. **Garbage-collector pauses** (`runtime.py`, `broker/memory.py`): a starting gateway
   freezes the start-up heap out of the collector's passes (`gc_freeze`, on in `tokenwire
   serve`), and a closed run log keeps its text events as tuples of plain values, which
   CPython stops tracking — a
   retained run used to add one object per event to every full pass (see the `gc_freeze`
   section for the pauses before and after). Those passes were hiding in the burst profile
   as LangChain's and pydantic's message construction (the allocation that triggered them):
   on the 2,000-token stream, the code before and after, alternating twice, spent 53 and
   64 → 24 and 39 us of server CPU per token (bare loop 61 to 81). `model_name` no longer
   pays pydantic's attribute-miss exception on every run.

Next, most benefit first:

- **Per-wake-up cost on paced streams** is now the limit and is mostly not tokenwire's:
  LangChain's per-chunk message construction and the event loop's timer and task switch
  per token, paid alike by the bare loop and by the model with no server at all (the
  ladder's *model alone* row, which is where this machine's one-process ceiling lies). A
  route could opt into calling the provider's SDK
  directly for plain chat models (at the price of LangChain callbacks), or run several
  workers (`tokenwire serve --workers N` with Redis: any worker serves any rejoin).
- **Memory per idle stream**: uvicorn's connection (~8 KB) and LangChain's suspended
  `astream` (~4.5 KB) are fixed; tokenwire's share is ~9 KB of coroutine frames (execute →
  attempts → adapter, the writer and its watcher) and the run's objects. Flattening the
  attempt chain into one coroutine and allocating the reasoning buffer lazily are next.
- **Fixed cost per stream** (1.5 to 2x the bare loop's CPU, no longer before the first
  token): the run's set-up (`Run`,
  recorder, guard buffers, task, audit and telemetry hooks) and the SSE writer's watcher
  are each small; flattening execute → attempts → adapter into fewer coroutines would cut
  both this and the idle memory.
- **Stalls under overload**: above one core the deadline ladder's p99 grows faster than its
  median (streams admitted last wait longest); admission control by measured loop lag
  (503 + Retry-After) would keep p99 bounded.
"""


def _profile(profiles: list[dict[str, Any]] | None, load: str) -> dict[str, Any] | None:
    return next((p for p in profiles or [] if p["load"] == load), None)


def _share(p: dict[str, Any], key: str, *names: str) -> float:
    total = max(p["samples"], 1)
    return float(sum(p[key].get(name, 0) for name in names) / total)


def _own_tokenwire(p: dict[str, Any]) -> float:
    total = max(p["samples"], 1)
    return float(
        sum(n for name, n in p["packages"].items() if name.startswith("tokenwire/")) / total
    )


_PACING = {"deadline": "provider-like pacing", "sleep": "the consumer-paced model"}
_NAMES = (("bare", "bare loop"), ("langserve", "LangServe"))
#: Server CPU per token that 500 streams at 50 tokens/s leave on one core, flat out.
_BUDGET_500_US = 1e6 / (500 * 50)


def _workers(ladder: dict[str, Any], k100: dict[str, Any]) -> str:
    two = ladder.get(TWO_WORKERS)
    if two is None or not k100.get(TWO_WORKERS) or not k100.get("tokenwire"):
        return ""
    line = (
        f" Two worker processes sharing runs through Redis passed up to K={two['max_k']} (one "
        f"process: {ladder['tokenwire']['max_k']}), median stretch at K=100 "
        f"{k100[TWO_WORKERS]['median']:.2f} against {k100['tokenwire']['median']:.2f}: on "
        "this 2-core machine the client and Redis share the same cores, so this understates "
        "what workers give on a bigger host."
    )
    redis = ladder.get(WITH_REDIS)
    if redis is not None and k100.get(WITH_REDIS):
        line += (
            f" One process with the Redis broker (every event mirrored to a Redis Stream) "
            f"passed up to K={redis['max_k']}, median stretch at K=100 "
            f"{k100[WITH_REDIS]['median']:.2f}."
        )
    return line


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def _max_k(ladder: dict[str, Any]) -> str:
    return ", ".join(f"{name} {ladder[kind]['max_k']}" for kind, name in _NAMES if kind in ladder)


def _ladder_lines(found: dict[str, dict[str, Any]], cost: dict[str, Any]) -> list[str]:
    """The ladder's findings: the two pacings side by side, then the per-token CPU."""
    if not found:
        return []
    pace = next(iter(found))  # provider-like when it was measured
    ladder = found[pace]
    if "tokenwire" not in ladder:
        return []
    lines = []
    sleep = found.get("sleep")
    if pace == "deadline" and sleep and "tokenwire" in sleep:
        line = (
            f"- **Concurrent streams: the pacing decides.** With provider-like pacing tokenwire "
            f"passes up to K={ladder['tokenwire']['max_k']} ({_max_k(ladder)}); with the "
            "consumer-paced model, where the loop's lateness at every token is added to the "
            f"rest of the stream, up to K={sleep['tokenwire']['max_k']} ({_max_k(sleep)})."
        )
        bare200 = {s["k"]: s for s in sleep.get("bare", {}).get("steps", [])}.get(200)
        if bare200 is not None:
            line += (
                " The consumer-paced table understates every server: at K=200 it puts the bare "
                f"loop at a median stretch of {bare200['median']:.2f} while that loop used "
                f"{bare200['server_cpu_share']:.0%} of one core."
            )
        lines.append(line)
    k100: dict[str, Any] = {
        kind: {s["k"]: s for s in v["steps"]}.get(100) for kind, v in ladder.items()
    }
    tw, bare = cost.get("tokenwire"), cost.get("bare")
    if k100.get("tokenwire") and k100.get("bare"):
        per_tw = k100["tokenwire"]["server_cpu_us_per_token"]
        per_bare = k100["bare"]["server_cpu_us_per_token"]
        burst = (
            f" (burst: {tw['server_cpu_us_per_token'] / bare['server_cpu_us_per_token']:.2f}x)"
            if tw and bare
            else ""
        )
        line = (
            f"- **Paced streams are CPU-bound per token.** At K=100 (5,000 tokens/s, "
            f"{_PACING[pace]}) tokenwire spends {per_tw:.0f} us of server CPU per token and "
            f"the bare loop {per_bare:.0f} us — {per_tw / per_bare:.1f}x{burst}, because while "
            "the server keeps up every token is its own wake-up and little can be batched. At "
            f"that cost one core sustains about {1e6 / per_tw / 50:.0f} streams at 50 tokens/s "
            f"flat out (the bare loop about {1e6 / per_bare / 50:.0f}); a median stretch ≤ 1.10 "
            "needs head-room below that, and ≥ 500 streams in one process leave at most "
            f"{_BUDGET_500_US:.0f} us per token flat out *including* LangChain's own per-chunk "
            "work."
        )
        if per_bare > _BUDGET_500_US:
            line += (
                f" The bare loop over the same LangChain model costs {per_bare:.0f} us: with one "
                "wake-up per token the 500-stream target is not reachable in one Python process "
                "with a `BaseChatModel` in the path, whatever the gateway does."
            )
        steps = sorted(ladder["tokenwire"]["steps"], key=lambda s: s["k"])
        low, top = steps[0], steps[-1]
        if top["k"] > 100 and "reads_p50" in top:
            line += (
                f" At the top rung measured, K={top['k']}, tokenwire used "
                f"{top['server_cpu_share']:.0%} of one core at "
                f"{top['server_cpu_us_per_token']:.0f} us per token, and a stream took "
                f"{top['reads_p50']:.0f} client reads for its {LADDER_TOKENS} tokens against "
                f"{low['reads_p50']:.0f} at K={low['k']}: the later the pump wakes, the more "
                "tokens go in one write."
            )
        lines.append(line + _workers(ladder, k100))
    lines += _ceiling(ladder)
    return lines


def _ceiling(ladder: dict[str, Any]) -> list[str]:
    alone = ladder.get(ceiling.ROW)
    if alone is None:
        return []
    top = max(alone["steps"], key=lambda s: s["k"])
    return [
        "- **The ladder's ceiling is the model, not the server.** The same provider-paced "
        "streams read straight off the model's `astream` in a process of their own — no "
        f"HTTP, no gateway, the client's core free — pass up to K={alone['max_k']}; at "
        f"K={top['k']} their median stretch is {top['median']:.2f} (p99 {top['p99']:.2f}) "
        f"with that process using {top['server_cpu_share']:.0%} of a core at "
        f"{top['server_cpu_us_per_token']:.0f} us per token (LangChain's chunk and the "
        "timer wake-up). Every server in one process runs that loop underneath, so on this "
        f"machine no server can pass more than K={alone['max_k']} however little it adds: "
        "the 500-stream target needs a faster core, or several processes (the two-worker "
        "row), not a faster gateway."
    ]


def _lines(streaming: dict[str, Any], profiles: list[dict[str, Any]] | None) -> list[str]:
    cost, memory = streaming["cost"], streaming["memory"]
    tw, bare = cost["tokenwire"], cost["bare"]
    cpu_ratio = tw["server_cpu_us_per_token"] / bare["server_cpu_us_per_token"]
    lines = [
        f"- **Cost per token.** tokenwire streams 2,000 tokens at {tw['us_per_token']:.1f} us "
        f"per token against the bare loop's {bare['us_per_token']:.1f} us "
        f"({tw['us_per_token'] / bare['us_per_token']:.2f}x) and spends "
        f"{cpu_ratio:.2f}x its server "
        f"CPU per token ({tw['server_cpu_us_per_token']:.1f} vs "
        f"{bare['server_cpu_us_per_token']:.1f} us). It wins the wall-clock ratio by batching: "
        f"the event log hands the SSE writer whatever accumulated, so the client needed "
        f"{tw['reads']:.0f} reads instead of the bare loop's {bare['reads']:.0f} (one write "
        "per token). A zero-delay in-process model never suspends, so the whole stream is "
        "produced before the writer runs: this scenario is the best case for batching. The "
        "target "
        + (
            "also holds on server CPU."
            if cpu_ratio <= 1.1
            else f"holds on wall time, not on server CPU ({cpu_ratio:.2f}x)."
        )
        + " The mock-provider path below (a model that reads a socket) is the more telling "
        "ratio.",
    ]
    mirroring = streaming.get("mirroring")
    if mirroring is not None:
        lines.append(
            f"- **The Redis broker** mirrors every event to a Redis Stream (batched: the flusher "
            "lingers 2 ms, one pipeline per round trip, a run's events of one flush in one "
            "entry). On the unguarded route, where every one of 2,000 tokens is an event, fresh "
            f"in-memory and Redis servers alternating {len(mirroring['runs']['memory'])} times "
            f"spent a median {mirroring['redis_us']:.1f} against {mirroring['memory_us']:.1f} us "
            f"of server CPU per token ({mirroring['ratio']:.2f}x; single runs: "
            f"{_runs(mirroring['runs']['redis'])} against {_runs(mirroring['runs']['memory'])})"
            + (
                ": no cost this benchmark can tell from its noise. "
                if mirroring["ratio"] <= 1.1
                else ". "
            )
            + "The owner's subscribers read the in-memory log; an append only queues, and the "
            "flusher's work is a few percent of the profile."
        )
    fixed = streaming.get("per_request") or {}
    ttft = streaming["ttft"]
    if "tokenwire" in fixed and "bare" in fixed:
        lines.append(
            f"- **Fixed cost per stream.** {fixed['tokenwire']['cpu_ms']:.2f} ms of server CPU "
            f"per one-token stream against {fixed['bare']['cpu_ms']:.2f} ms for the bare loop "
            f"and {fixed['langserve']['cpu_ms']:.2f} ms for LangServe: a run's set-up and end "
            "(the run, its log, recorder and guard buffers, the audit record, telemetry) are "
            "paid once per stream, most of them after the first token. TTFT p50 is "
            f"{ttft['tokenwire']['p50_ms']:.2f} ms with the guard and "
            f"{ttft['tokenwire (no guard)']['p50_ms']:.2f} ms without, against "
            f"{ttft['bare']['p50_ms']:.2f} ms for the bare loop"
            + (
                ": the first token no longer waits for the gateway's extra work."
                if ttft["tokenwire"]["p50_ms"] - ttft["bare"]["p50_ms"] <= 0.15
                else ": the set-up before the first token is most of that gap."
            )
        )
    lines += _ladder_lines(ladders(streaming), cost)
    burst, paced, admission = (_profile(profiles, x) for x in ("burst", "paced", "admission"))
    if burst is not None:
        message = _share(
            burst, "inclusive", "BaseMessage.__init__ (langchain_core/messages/base.py)"
        )
        astream = _share(
            burst,
            "inclusive",
            "BaseChatModel.astream (langchain_core/language_models/chat_models.py)",
        )
        lines.append(
            f"- **Profile, burst.** {astream:.0%} of the gateway's samples are inside "
            f"LangChain's `BaseChatModel.astream`; constructing the per-chunk message "
            f"(`BaseMessage.__init__`: pydantic validation, the `_backwards_compat_tool_calls` "
            f"validator) alone is {message:.0%}. tokenwire's own frames are "
            f"{_own_tokenwire(burst):.0%} of self time: the event append "
            "(`MemoryEventLog.append`, `RunRecorder.token`), `stream_chat_model`'s loop, "
            "encoding (`encode_batch`) and the pump."
        )
    if paced is not None:
        send = _share(
            paced,
            "inclusive",
            "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py)",
        )
        writer = _share(paced, "inclusive", "_Writer._write_all (tokenwire/server/sse.py)")
        guard = _share(paced, "inclusive", "GuardStage.token (tokenwire/pipeline/guard_stage.py)")
        astream = _share(
            paced,
            "inclusive",
            "BaseChatModel.astream (langchain_core/language_models/chat_models.py)",
        )
        lines.append(
            f"- **Profile, paced.** LangChain's `BaseChatModel.astream` is {astream:.0%} of the "
            f"samples; the SSE writer (`_Writer._write_all`, socket writes included) "
            f"{writer:.0%}, uvicorn's `RequestResponseCycle.send` (every socket write) {send:.0%}; "
            "the PII "
            f"guard (`GuardStage.token`) {guard:.1%}. The rest is the event loop's own work "
            "per wake-up (timers, task switches: charged to `Runner.run`)."
        )
    if admission is not None:
        top = [
            name.split(" (")[0]
            for name, _ in admission["inclusive"].most_common(60)
            if "(tokenwire/" in name
        ][:6]
        lines.append(
            f"- **Profile, admission.** {admission['cpu_us_per_token'] / 1e3:.2f} ms of CPU per "
            f"stream while sampled; the tokenwire frames with most time under them: "
            + ", ".join(f"`{t}`" for t in top)
            + "."
        )
    tw_mem, bare_mem = memory["tokenwire"]["kb_per_stream"], memory["bare"]["kb_per_stream"]
    lines.append(
        f"- **Memory.** {tw_mem:.0f} KB per idle stream against {bare_mem:.0f} KB for the bare "
        f"loop (which holds only the request, one task and the generator) and "
        f"{memory['langserve']['kb_per_stream']:.0f} KB for LangServe. tokenwire keeps a run "
        "(log, recorder, guard buffers), the run's task and one disconnect watcher per stream; "
        "`tracemalloc` on an idle server puts uvicorn's connection at ~8 KB and LangChain's "
        "suspended `astream` at ~4.5 KB of every stream, whatever serves it. The 20 KB target "
        "is below the bare loop's own footprint."
    )
    return lines


def report(
    streaming: dict[str, Any],
    split: dict[str, Any] | None,
    profiles: list[dict[str, Any]] | None,
    guard: dict[str, float],
) -> str:
    lines = _lines(streaming, profiles)
    paced = guard["paced_guard"] - guard["paced_plain"]
    state = (
        "is applied on the run path (the probe's e-mail address was redacted)"
        if streaming.get("guard_on")
        else "is NOT applied on the run path in the tree measured: `execute_run` builds "
        "`Attempts` without the guard stage (the probe's e-mail address reached the client "
        "unredacted), so the side-by-side rows are tokenwire *without* the guard"
    )
    lines.insert(
        0,
        f"- **The PII guard {state}.** In process, the guard adds "
        f"{guard['burst_guard'] - guard['burst_plain']:.1f} us per token when tokens come in a "
        f"burst and {paced:.1f} us per token when they come one at a time: no task of its "
        "own; what the model delivered while its task ran is scanned in one go by a callback "
        "once it yields, at most every 12 characters, over the few characters held back.",
    )
    if split is not None:
        total = split["gateway"]["cpu_us"]
        ours = total - split["langchain"]["cpu_us"]
        lines.append(
            f"- **Realistic path.** Through `ChatOpenAI` and the mock provider a token costs "
            f"{total:.0f} us of gateway-process CPU, of which the `openai` SDK is "
            f"{split['sdk']['cpu_us']:.0f} us, LangChain "
            f"{split['langchain']['cpu_us'] - split['sdk']['cpu_us']:.0f} us and tokenwire "
            f"{ours:.0f} us ({ours / total:.0%}; a difference of measurements in two "
            "processes, which on this shared machine swings by tens of microseconds between "
            "runs — the same-run ratio to the bare loop below is the steadier figure). With a "
            "real provider client in the path, "
            "tokenwire is a minor part of the per-token cost; against the bare loop over the "
            f"same `ChatOpenAI` it is {total / split['bare']['cpu_us']:.2f}x the server CPU and "
            f"{split['gateway']['wall_us'] / split['bare']['wall_us']:.2f}x the wall time per "
            "token."
        )
    return "## Findings\n\n" + "\n".join(lines) + "\n\n" + PROPOSALS
