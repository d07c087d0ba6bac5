"""The hold-back buffer: text is shown only after every guard has seen it with enough
right-context.

Text arriving from the model is held while a guard's match could still grow into it: at
most ``window`` characters (the longest span any guard can match), and less when a guard
can tell (``hold``) — an e-mail address cannot span a space, so prose before the last space
is safe. A span split across chunks is therefore always seen whole before any of it is
released. Released text keeps a little left-context for the next scan, so patterns with
look-behinds see what precedes them. The redacted text is the same however the stream was
chunked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from tokenwire.pipeline.findings import Action, Finding, Guard, redact

__all__ = ["NOTHING", "HoldbackBuffer", "Release", "is_async", "run_now"]

T = TypeVar("T")

_LEFT_CONTEXT = 32
_STEP = 12


@dataclass(slots=True)
class Release:
    """What may be shown now: redacted ``text``, the redactions in it, and a stop, if any."""

    text: str = ""
    redactions: list[Finding] = field(default_factory=list)
    stop: Finding | None = None


#: The common answer (nothing to release yet); shared, so never mutate a returned Release.
NOTHING = Release()


def run_now(step: Coroutine[object, None, T]) -> T:
    """Run a coroutine to its end now. With synchronous guards a push never suspends, so one
    code path serves both the inline and the awaiting callers."""
    try:
        step.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    step.close()
    raise TypeError("a guard's inspect awaited something: declare async guards with `async def`")


def _hold_of(guard: Guard) -> Callable[[str], int]:
    hold: Callable[[str], int] | None = getattr(guard, "hold", None)
    if hold is not None:
        return hold
    window = guard.window
    return lambda text: window


def is_async(guard: Guard) -> bool:
    """Whether the guard's ``inspect`` must be awaited (an async classifier)."""
    return inspect.iscoroutinefunction(guard.inspect)


class HoldbackBuffer:
    """Per-run state (never shared): the held text and the released left-context.

    How much is held is up to the guards: a guard with ``hold(text)`` says how many trailing
    characters a match could still grow into (the PII guard: the trailing run of characters
    an address or a number can contain, so most prose is released at once); any other guard
    holds its whole ``window``. ``window`` given here is a floor for all of them.
    """

    def __init__(self, guards: Sequence[Guard], window: int | None = None) -> None:
        self._guards = list(guards)
        self._floor = window or 0
        self.window = max(self._floor, *(g.window for g in self._guards), 0)
        self._holds = [_hold_of(g) for g in self._guards]
        # A scan costs O(held text) whatever arrived: looking again only once `step` more
        # characters came divides the per-token cost by about step / token length, for at
        # most `step` characters of delay. Until something has been released every push is
        # looked at, so the answer's first words show without that delay (time to first
        # token: at 50 tokens/s, `step` characters are about 60 ms).
        self.step = min(_STEP, self.window)
        self._next_look = 0
        self._held = ""
        self._context = ""

    @property
    def held(self) -> str:
        return self._held

    def discard(self) -> None:
        """Forget the held text (its attempt failed); released context stays."""
        self._held = ""
        self._next_look = self._look_after(0)

    def restart(self) -> None:
        """A new answer replaces what was shown (``run.restart``: the client discards it):
        the released text is no longer what precedes the next, so it is no left-context
        either — "Sure." before "jane@example.com" would hide the address from a detector
        that looks behind for word characters."""
        self._held = self._context = ""
        self._next_look = 0

    def _look_after(self, held: int) -> int:
        """When to scan next, with ``held`` characters held: at the next push while nothing
        was ever released (``_context`` is what was) and less than a step is held, else
        after ``step`` more characters — so text that is never released (a stop pending at
        its start) is not scanned on every push."""
        if self._context or held >= self.step:
            return held + self.step
        return 0

    async def push(self, text: str, *, final: bool = False) -> Release:
        """Add model text; return what can be released (everything, when ``final``)."""
        keep = self._due(text, final)
        if keep is None:
            return NOTHING
        return await self._scan(keep)

    def push_now(self, text: str, *, final: bool = False) -> Release:
        """``push`` without an await, for buffers whose guards are all synchronous (most
        pushes scan nothing: no coroutine for them)."""
        keep = self._due(text, final)
        if keep is None:
            return NOTHING
        return run_now(self._scan(keep))

    async def _scan(self, keep: int) -> Release:
        scan, offset = self._context + self._held, len(self._context)
        return self._settle(scan, offset, await self._inspect(scan, offset), keep)

    def _due(self, text: str, final: bool) -> int | None:
        """Hold ``text``; when a scan is due, how many trailing characters to keep."""
        held = self._held = self._held + text
        if not held:
            return None
        if final:
            return 0
        if len(held) < self._next_look:
            return None
        keep = self._floor
        for hold in self._holds:
            keep = max(keep, hold(held))
        if keep >= len(held):
            self._next_look = self._look_after(len(held))
            return None
        return keep

    def _settle(self, scan: str, offset: int, findings: list[Finding], keep: int) -> Release:
        held = self._held
        boundary = len(held) - keep  # text before it can no longer change any guard's mind
        stop = _first_stop(findings, offset)
        # A stop ends the run only once settled: it and every match overlapping it, directly
        # or through others, lie before the kept tail. Otherwise it may still vanish ("acme"
        # → "acmeville") or lose to a match still growing there.
        stop_at = (
            None if stop is None else (stop.start - offset if stop.action is Action.HALT else 0)
        )
        if stop is not None and _cluster_end(stop, findings) - offset <= boundary:
            cut = max(stop_at or 0, 0)
            release = self._release(scan, offset, cut, findings)
            self._held = ""
            release.stop = stop
            return release
        if stop_at is not None:  # pending: nothing from where it would cut is released
            boundary = min(boundary, max(stop_at, 0))
        cut = _not_inside_a_span(boundary, offset, findings)
        if cut <= 0:
            self._next_look = self._look_after(len(held))
            return NOTHING
        release = self._release(scan, offset, cut, findings)
        self._context = (self._context + held[:cut])[-_LEFT_CONTEXT:]
        self._held = held[cut:]
        self._next_look = self._look_after(len(self._held))
        return release

    async def _inspect(self, scan: str, offset: int) -> list[Finding]:
        findings: list[Finding] = []
        for guard in self._guards:
            result = guard.inspect(scan, offset)
            if inspect.isawaitable(result):
                result = await result
            findings.extend(f for f in result if f.end > offset)
        return findings

    @staticmethod
    def _release(scan: str, offset: int, cut: int, findings: list[Finding]) -> Release:
        """Redacted ``scan[offset:offset + cut]`` and the redactions inside it."""
        return Release(*redact(scan, offset, offset + cut, findings))


def _first_stop(findings: list[Finding], offset: int) -> Finding | None:
    stops = [f for f in findings if f.action is Action.BLOCK or f.action is Action.HALT]
    return min(stops, key=lambda f: f.start) if stops else None


def _cluster_end(finding: Finding, findings: list[Finding]) -> int:
    """Where the group of spans overlapping ``finding`` (transitively) ends."""
    start, end = finding.start, finding.end
    grown = True
    while grown:
        grown = False
        for other in findings:
            if other.start < end and start < other.end and (other.start < start or other.end > end):
                start, end = min(start, other.start), max(end, other.end)
                grown = True
    return end


def _not_inside_a_span(cut: int, offset: int, findings: list[Finding]) -> int:
    """Move the cut back to the start of any span it would split."""
    moved = True
    while moved:
        moved = False
        for finding in findings:
            if finding.start - offset < cut < finding.end - offset:
                cut = max(finding.start - offset, 0)
                moved = True
    return cut
