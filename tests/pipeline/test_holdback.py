"""The hold-back buffer and the guard stages: nothing unchecked ever reaches the log.

Where both forms of the stage must behave alike (redaction, blocking, discarding,
restarting, draining, cancelling) a test runs over both: ``InlineGuards`` (synchronous
guards on the token path) and ``GuardWorker`` (the guards in a worker task)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest

from tokenwire.broker.base import EventLog, EventLogFull
from tokenwire.broker.memory import MemoryBroker, MemoryEventLog
from tokenwire.errors import GuardFailed
from tokenwire.events import ErrorCode, RunStatus
from tokenwire.pipeline.findings import Action, Finding, Guard
from tokenwire.pipeline.guard_stage import GuardStage
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.holdback import HoldbackBuffer
from tokenwire.pipeline.inline_guards import InlineGuards
from tokenwire.pipeline.pii import PiiGuard, luhn_ok
from tokenwire.pipeline.rules import DenyRule, no_code_blocks
from tokenwire.runs.recorder import RunRecorder

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415-555-0132"
TEXT = (
    f"Sure! Write to {EMAIL} and pay with card {CARD}; "
    f"if that fails call {PHONE} before Friday. Thanks."
)
#: Formats the detectors once missed: E.164 and bare national phone numbers (validated by
#: ``phonenumbers``), a card grouped by dots, an address with a non-ASCII letter.
NEW_FORMATS = ("+14155550134", "4155550134", "4111.1111.1111.1111", "jöhn.doe@example.com")
REDACTED = (
    "Sure! Write to [EMAIL] and pay with card [CARD]; if that fails call [PHONE] before Friday. "
    "Thanks."
)


class Stops(list[tuple[RunStatus, ErrorCode, str]]):
    """A run control that records the stops a stage asks of it."""

    def stop(self, status: RunStatus, code: ErrorCode, message: str) -> bool:
        self.append((status, code, message))
        return True

    @property
    def stopped(self) -> bool:
        return bool(self)


Form = type[InlineGuards] | type[GuardWorker]
#: Both forms of the guard stage, for the behaviour they must share.
forms = pytest.mark.parametrize("form", [InlineGuards, GuardWorker], ids=["inline", "worker"])


def _stage(
    form: Form, log: EventLog, guards: Sequence[Guard], stops: Stops | None = None, **options: Any
) -> GuardStage:
    rails = Guardrails(guards=tuple(guards), **options)
    return form(RunRecorder(log), rails, Stops() if stops is None else stops)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _run(
    form: Form, chunks: Sequence[str], guards: Sequence[Guard], **options: Any
) -> tuple[list[tuple[str, dict[str, object]]], Stops]:
    log = MemoryBroker().create("r")
    stops = Stops()
    sink = _stage(form, log, guards, stops, **options)
    for chunk in chunks:
        sink.token(chunk)
        await asyncio.sleep(0)  # let batches form differently for different chunkings
    await sink.drain()
    return [(e.type, e.data) for e in log._events], stops


@forms
@pytest.mark.parametrize("size", range(1, 9))
async def test_pii_split_across_chunks_never_leaks_and_redacts_the_same(
    form: Form, size: int
) -> None:
    events, stops = await _run(form, _chunks(TEXT, size), [PiiGuard()])
    shown = "".join(str(d["text"]) for t, d in events if t == "token")
    assert shown == REDACTED
    for secret in (EMAIL, CARD, PHONE, "jane", "4111", "555-0132"):
        assert secret not in str(events)
    rules = [d["rule"] for t, d in events if t == "guardrail"]
    assert rules == ["pii.email", "pii.credit_card", "pii.phone"]
    assert stops == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN GB82 WEST 1234 5698 7654 32 ok", "IBAN [IBAN] ok"),
        ("ssn 123-45-6789.", "ssn [SSN]."),
        ("host 192.168.10.254.", "host [IP]."),
        ("v6 2001:db8::8a2e:370:7334 up", "v6 [IP] up"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx12 here", "key [SECRET] here"),
        ("aws AKIAABCDEFGHIJKLMNOP done", "aws [SECRET] done"),
        ("not a card 4111 1111 1111 1112 end", "not a card 4111 1111 1111 1112 end"),
        ("version 1.2.3.4000 and 999.1.1.1", "version 1.2.3.4000 and 999.1.1.1"),
    ],
)
@forms
async def test_each_detector(form: Form, text: str, expected: str) -> None:
    events, _ = await _run(form, _chunks(text, 3), [PiiGuard()])
    assert "".join(str(d["text"]) for t, d in events if t == "token") == expected


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


@forms
async def test_a_run_a_match_could_grow_into_is_held_up_to_the_window(form: Form) -> None:
    log = MemoryBroker().create("r")
    sink = _stage(form, log, [PiiGuard()], window=40)
    sink.token("x" * 30)  # one run of word characters: could be the start of an address
    await asyncio.sleep(0)
    assert log.last_seq == 0
    sink.token("y" * 100)
    await asyncio.sleep(0)
    shown = "".join(e.data["text"] for e in log._events)
    assert shown == "x" * 10  # 130 held, never more than the window (120, PII's) kept back
    await sink.drain()
    assert "".join(e.data["text"] for e in log._events) == "x" * 30 + "y" * 100


@forms
async def test_prose_is_released_long_before_the_window_fills(form: Form) -> None:
    log = MemoryBroker().create("r")
    sink = _stage(form, log, [PiiGuard()])
    for word in ("Hello ", "there, ", "how ", "are ", "you ", "tod"):
        sink.token(word)
        await asyncio.sleep(0)  # a model that yields between tokens
    # Scanned at "Hello " and then every 12 characters: all but the last scan's tail is out.
    assert "".join(e.data["text"] for e in log._events).startswith("Hello there, how are")
    sink.token("ay? Mail me at jane")
    sink.token(".doe@exam")
    await asyncio.sleep(0)
    shown = "".join(e.data["text"] for e in log._events)
    assert "jane" not in shown and shown.endswith("Mail me at ")
    sink.token("ple.com now.")
    await sink.drain()
    shown = "".join(e.data["text"] for e in log._events if e.type == "token")
    assert shown == "Hello there, how are you today? Mail me at [EMAIL] now."


@forms
async def test_the_first_words_show_at_once_then_scans_wait_for_a_step_of_text(
    form: Form,
) -> None:
    log = MemoryBroker().create("r")
    sink = _stage(form, log, [PiiGuard()])

    def shown() -> str:
        return "".join(e.data["text"] for e in log._events)

    sink.token("Hi")  # could still grow into an address: held, and looked at again...
    await asyncio.sleep(0)
    assert shown() == ""
    sink.token(" there ")  # ...on the next token, not a scan step (12 characters) later
    await asyncio.sleep(0)
    assert shown() == "Hi there"  # the time to first token of a paced model: one token
    sink.token("you ")  # once something was shown, scans wait for a step of new text
    await asyncio.sleep(0)
    assert shown() == "Hi there"
    sink.token("all, ok ")
    await asyncio.sleep(0)
    assert shown() == "Hi there you all, ok"
    await sink.drain()
    assert shown() == "Hi there you all, ok "


async def test_text_never_released_is_not_scanned_on_every_token() -> None:
    """A stop pending at the very start (a match that keeps growing) releases nothing: the
    scans then keep the step rhythm, not one per token (which would be quadratic)."""
    rule = DenyRule("codes", pattern=r"x\d+", action=Action.HALT)
    scans = 0
    inspect = rule.inspect

    def counting(text: str, offset: int) -> Any:
        nonlocal scans
        scans += 1
        return inspect(text, offset)

    rule.inspect = counting  # type: ignore[method-assign]
    buffer = HoldbackBuffer([rule])
    for piece in ["x", *["1"] * 600]:
        assert (await buffer.push(piece)).text == ""
    assert scans <= 601 // buffer.step + 2, scans


async def test_a_restarted_answer_is_scanned_without_the_discarded_text_before_it() -> None:
    buffer = HoldbackBuffer([PiiGuard()])
    assert (await buffer.push("Sure.", final=True)).text == "Sure."
    buffer.discard()  # the attempt failed...
    buffer.restart()  # ...and the run restarts: the client drops "Sure."
    release = await buffer.push(f"{EMAIL} owns it", final=True)
    assert release.text == "[EMAIL] owns it"


@forms
async def test_halt_shows_what_came_before_and_nothing_after(form: Form) -> None:
    rule = DenyRule("competitor", keywords=["acme corp"], action=Action.HALT)
    text = "We recommend Acme Corp products because they are great and cheap."
    events, stops = await _run(form, _chunks(text, 4), [rule])
    assert "".join(str(d["text"]) for t, d in events if t == "token") == "We recommend "
    assert stops == [
        (
            RunStatus.BLOCKED,
            ErrorCode.POLICY_VIOLATION,
            "stopped by the 'competitor' guardrail: deny rule 'competitor' matched",
        )
    ]
    assert events[-1] == (
        "guardrail",
        {"action": "halt", "rule": "competitor", "detail": "deny rule 'competitor' matched"},
    )


@forms
async def test_block_withholds_all_unshown_text(form: Form) -> None:
    text = "Here is how:\n```python\nimport os\n```"
    events, stops = await _run(form, _chunks(text, 5), [no_code_blocks()])
    shown = "".join(str(d["text"]) for t, d in events if t == "token")
    # Only text that had passed the (8-character) window before the fence was seen.
    assert "Here is how:\n".startswith(shown) and len(shown) < len("Here is how:\n")
    assert events[-1][0] == "guardrail" and "```" not in str(events)
    assert [status for status, _, _ in stops] == [RunStatus.BLOCKED]


@forms
async def test_stream_first_shows_at_once_and_reports_after(form: Form) -> None:
    chunks = _chunks(f"mail {EMAIL} now", 4)
    events, _ = await _run(form, chunks, [PiiGuard()], mode="stream_first")
    assert "".join(str(d["text"]) for t, d in events if t == "token") == f"mail {EMAIL} now"
    guardrail = next(d for t, d in events if t == "guardrail")
    assert guardrail["shown"] is True and guardrail["action"] == "redact"


async def test_async_custom_guard_on_batches() -> None:
    calls: list[int] = []

    class Classifier:
        name = "toxicity"
        window = 16

        async def inspect(self, text: str, offset: int) -> Sequence[Finding]:
            calls.append(len(text))
            await asyncio.sleep(0)
            at = text.find("darn", offset)
            if at < 0:
                return []
            return [Finding(Action.REDACT, "toxicity", at, at + 4, "****", "mild language")]

    log = MemoryBroker().create("r")
    sink = _stage(GuardWorker, log, [Classifier()])
    for chunk in _chunks("well darn it, darn it all", 2):  # 13 chunks, no yield between
        sink.token(chunk)
    await sink.drain()
    shown = "".join(e.data["text"] for e in log._events if e.type == "token")
    assert shown == "well **** it, **** it all"
    assert len(calls) <= 3  # called on batches, not once per chunk


@forms
async def test_order_of_tool_steps_and_text_is_kept(form: Form) -> None:
    log = MemoryBroker().create("r")
    sink = _stage(form, log, [PiiGuard()])
    sink.token("Let me check ")
    sink.tool_start("c1", "lookup", {"q": "x"})
    sink.tool_end("c1", "lookup", "ok")
    sink.token(f"mail {EMAIL}")
    await sink.drain()
    kinds: list[tuple[str, object]] = []
    for e in log._events:  # consecutive token events as one text
        if e.type == "token" and kinds and kinds[-1][0] == "token":
            kinds[-1] = ("token", f"{kinds[-1][1]}{e.data['text']}")
        else:
            kinds.append((e.type, e.data.get("text")))
    assert kinds == [
        ("token", "Let me check "), ("tool.start", None), ("tool.end", None),
        ("token", "mail "), ("guardrail", None), ("token", "[EMAIL]"),
    ]  # fmt: skip


async def test_synchronous_guards_run_inline_in_the_callers_task() -> None:
    log = MemoryBroker().create("r")
    sink = _stage(InlineGuards, log, [PiiGuard()], window=40)
    tasks = len(asyncio.all_tasks())

    def shown() -> str:
        return "".join(str(e.data["text"]) for e in log._events if e.type == "token")

    assert sink.token("mail ") is False  # held (the 40-character floor): nothing to show yet
    assert sink.token(f"{EMAIL} " + "x" * 200) is True  # scanned at once: the first text shows
    assert shown().startswith("mail [EMAIL] x")  # ...before the caller yields
    seen, before = log.last_seq, shown()
    assert sink.token("more " * 5) is False  # from now on: one scan per loop iteration
    assert log.last_seq == seen
    await asyncio.sleep(0)  # the model's task yields: the scan runs, no task involved
    assert len(asyncio.all_tasks()) == tasks
    assert log.last_seq == seen + 1 and shown().startswith(before) and len(shown()) > len(before)


async def test_an_async_guard_gets_a_worker_only_once_text_arrives() -> None:
    class Slow:
        name = "slow"
        window = 4

        async def inspect(self, text: str, offset: int) -> Sequence[Finding]:
            await asyncio.sleep(0)
            return []

    log = MemoryBroker().create("r")
    tasks = len(asyncio.all_tasks())
    sink = _stage(GuardWorker, log, [PiiGuard(), Slow()])
    assert len(asyncio.all_tasks()) == tasks  # an idle stream holds no worker
    sink.token("hello there")
    assert len(asyncio.all_tasks()) == tasks + 1
    await sink.drain()
    assert "".join(e.data["text"] for e in log._events) == "hello there"


async def test_a_plain_guard_returning_an_awaitable_is_a_clear_error() -> None:
    class Confused:
        name = "confused"
        window = 0

        def inspect(self, text: str, offset: int) -> Any:
            return asyncio.sleep(0, result=[])

    sink = _stage(InlineGuards, MemoryBroker().create("r"), [Confused()])
    with pytest.raises(GuardFailed, match="async def"):  # the run fails; never a retry
        sink.token("hi")


@forms
async def test_a_full_log_found_by_the_deferred_scan_surfaces_in_the_runs_task(
    form: Form,
) -> None:
    log = MemoryBroker(max_events_per_run=4).create("r")  # 1 event before the reserve
    sink = _stage(form, log, [PiiGuard()])
    with pytest.raises(EventLogFull):  # from the next token() or, at the latest, drain()
        for word in ("Hello ", "there, ", "friend. ", "More words here. "):
            sink.token(word)
            await asyncio.sleep(0)
        await sink.drain()


_PIECES = [
    "Hello",
    "there,",
    "call",
    "me",
    "at",
    "mail",
    "ok.",
    "(see",
    "notes)",
    "-",
    "—",
    "été",
    EMAIL,
    "bob@corp.example.org",
    CARD,
    "4111-1111-1111-1111",
    "4111 1111 1111 1112",
    PHONE,
    "(415) 555-0132",
    "415.555.0132",
    "123-45-6789",
    "192.168.10.254",
    "10.0.0.1.5",
    "2001:db8::8a2e:370:7334",
    "GB82 WEST 1234 5698 7654 32",
    "sk-proj-abcdefghijklmnopqrstuvwx12",
    "AKIAABCDEFGHIJKLMNOP",
    "-----BEGIN RSA PRIVATE KEY-----",
    "\u0664\u0661\u0661\u0661 " + "\u0661" * 4 + " 1111 1111",
    "v1.2.3",
    "2024-01-02",
    "x" * 40,
    "ABCD EFGH",
    "cafe:beef",
    "+44",
    "20",
    "7946",
    "0958",
    "@",
    ".",
    *NEW_FORMATS,
    "2024",
    "415-555-0134",
    "(415)555-0134",
]


def _guards(kind: str) -> list[Guard]:
    if kind == "pii":
        return [PiiGuard()]
    if kind == "pii+halt":
        return [PiiGuard(), DenyRule("acme", keywords=["acme"], action=Action.HALT)]
    return [PiiGuard(action=Action.BLOCK), no_code_blocks()]


def _outcome(release_texts: list[str], stop: Finding | None) -> tuple[str, str | None]:
    return "".join(release_texts), None if stop is None else f"{stop.rule}:{stop.action}"


def _one_shot(text: str, kind: str = "pii") -> tuple[str, str | None]:
    release = HoldbackBuffer(_guards(kind)).push_now(text, final=True)
    return _outcome([release.text], release.stop)


@pytest.mark.parametrize("kind", ["pii", "pii+halt", "block"])
@pytest.mark.parametrize("seed", range(100))
def test_any_chunking_acts_exactly_like_one_scan_of_the_whole_text(seed: int, kind: str) -> None:
    """Redactions, blocks and halts: the same for any chunking as for the whole text."""
    rng = random.Random(seed)
    pieces = [*_PIECES, "acme", "acmeville", "Acme", "<script", "<scripting>", "```", "é"]
    for _ in range(10):
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 30))]
        text = "".join(w + rng.choice([" ", " ", "  ", ", ", "\n", "", "."]) for w in words)
        buffer = HoldbackBuffer(_guards(kind))
        shown: list[str] = []
        stop = None
        at = 0
        while at < len(text) and stop is None:
            size = rng.choice([1, 1, 2, 3, 4, 5, 7, 11, 30])
            release = buffer.push_now(text[at : at + size])
            shown.append(release.text)
            stop = release.stop
            at += size
        if stop is None:
            release = buffer.push_now("", final=True)
            shown.append(release.text)
            stop = release.stop
        expected = _one_shot(text, kind)
        if kind != "block":
            assert _outcome(shown, stop) == expected, text
            continue
        # A block withholds what is not shown yet; what was shown before it was found must
        # be clean text ending before the blocked span.
        assert _outcome([], stop)[1] == expected[1], text
        whole = HoldbackBuffer(_guards(kind)).push_now(text, final=True).stop
        assert text.startswith("".join(shown))
        assert whole is None or len("".join(shown)) <= whole.start, text


async def test_a_restarted_answer_shows_its_first_words_at_once_again() -> None:
    log = MemoryBroker().create("r")
    sink = _stage(InlineGuards, log, [PiiGuard()])
    assert sink.token("Sure. ") is True
    sink.discard_unshown()  # the attempt failed and the run restarts (run.restart)
    sink.restart()
    seen = log.last_seq
    assert sink.token("Again. ") is True  # scanned at once, visible before the caller yields
    assert log.last_seq == seen + 1


@forms
async def test_a_guard_that_raises_fails_the_run_with_its_error_named(form: Form) -> None:
    """Inline, at the token that found it; in the worker, at the run's next call (the
    worker once let the guard's bare ValueError out at drain, as if the runnable raised)."""

    class Broken:
        name = "broken"
        window = 0

        def inspect(self, text: str, offset: int) -> Any:
            raise ValueError("bad pattern")

    sink = _stage(form, MemoryBroker().create("r"), [Broken()])
    with pytest.raises(GuardFailed, match="a guardrail failed: ValueError: bad pattern"):
        sink.token("hi")
        await asyncio.sleep(0)
        sink.token(" there")


def _shown(log: MemoryEventLog) -> str:
    return "".join(str(e.data["text"]) for e in log._events if e.type == "token")


@forms
async def test_text_held_when_an_attempt_fails_is_never_shown(form: Form) -> None:
    log = MemoryBroker().create("r")
    sink = _stage(form, log, [PiiGuard()])
    sink.token("Sure, mail jane.doe@exa")  # the address could still grow: held
    await asyncio.sleep(0)
    assert _shown(log) == "Sure, mail "
    sink.discard_unshown()  # the attempt failed; a retry continues after what was shown
    sink.token("Hello again. ")
    await sink.drain()
    assert _shown(log) == "Sure, mail Hello again. " and "jane" not in str(log._events)


@forms
async def test_a_restarted_answer_is_guarded_as_a_new_text(form: Form) -> None:
    log = MemoryBroker().create("r")
    recorder = RunRecorder(log)
    sink = form(recorder, Guardrails(guards=(PiiGuard(),)), Stops())
    sink.token("Sure. Ask jane")
    await asyncio.sleep(0)
    sink.discard_unshown()  # the attempt failed...
    sink.restart()  # ...and the run restarts: the recorder forgets "Sure. Ask "
    sink.token(f"{EMAIL} owns it")
    await sink.drain()
    assert recorder.text == "[EMAIL] owns it"
    assert [e.data["rule"] for e in log._events if e.type == "guardrail"] == ["pii.email"]


@forms
async def test_drain_releases_what_is_held_and_leaves_no_task(form: Form) -> None:
    log = MemoryBroker().create("r")
    tasks = len(asyncio.all_tasks())
    sink = _stage(form, log, [PiiGuard()])
    sink.token("write to jane.doe@example")
    sink.reasoning("thinking about jane.doe@example")
    await sink.drain()
    assert _shown(log) == "write to jane.doe@example"  # not an address (no top-level domain)
    kinds = [e.type for e in log._events]
    assert kinds == sorted(kinds, key=lambda kind: kind != "token")  # in their order
    reasoning = "".join(str(e.data["text"]) for e in log._events if e.type == "reasoning")
    assert reasoning == "thinking about jane.doe@example"
    assert len(asyncio.all_tasks()) == tasks
    sink.token("after the end")  # a closed stage takes nothing more
    assert _shown(log) == "write to jane.doe@example"


@forms
async def test_cancel_drops_held_text_and_stops_the_worker(form: Form) -> None:
    log = MemoryBroker().create("r")
    tasks = len(asyncio.all_tasks())
    sink = _stage(form, log, [PiiGuard()])
    sink.token("mail jane.doe@exa")
    await asyncio.sleep(0)
    sink.token("mple.com")
    sink.cancel()
    sink.token(" and more")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert _shown(log) == "mail "
    assert len(asyncio.all_tasks()) == tasks


async def test_inline_guards_refuse_an_async_guard() -> None:
    class Classifier:
        name = "classifier"
        window = 4

        async def inspect(self, text: str, offset: int) -> Sequence[Finding]:
            return []

    assert not Guardrails(guards=(PiiGuard(), Classifier())).synchronous
    with pytest.raises(ValueError, match="GuardWorker"):
        _stage(InlineGuards, MemoryBroker().create("r"), [PiiGuard(), Classifier()])
