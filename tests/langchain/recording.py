"""A ``RunSink`` that remembers every call, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def token(self, text: str) -> None:
        assert isinstance(text, str) and text, "the sink must never get an empty token"
        self.calls.append(("token", text))

    def reasoning(self, text: str) -> None:
        assert isinstance(text, str) and text, "the sink must never get empty reasoning"
        self.calls.append(("reasoning", text))

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self.calls.append(("tool_start", (call_id, name, args)))

    def tool_end(
        self,
        call_id: str,
        name: str,
        output: Any,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.calls.append(("tool_end", (call_id, name, output, error)))

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self.calls.append(("retrieval", documents))

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        self.calls.append(("custom", (name, data, error)))

    def node(self, phase: str, name: str, step: int | None) -> None:
        self.calls.append(("node", (phase, name, step)))

    def update(self, name: str, update: Any) -> None:
        # Kept apart from ``calls``: a graph's state updates are not what these tests compare.
        self.updates = [*getattr(self, "updates", []), (name, update)]

    def state(self, values: Any) -> None:
        self.states = [*getattr(self, "states", []), values]

    def interrupt(
        self, interrupt_id: str, value: Any, approvals: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.calls.append(("interrupt", (interrupt_id, value, list(approvals))))

    def model(self, name: str, provider: str | None) -> None:
        # Kept apart from ``calls``: it is bookkeeping, not part of the streamed sequence.
        self.models = [*getattr(self, "models", []), (name, provider)]

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        self.calls.append(("usage", (input_tokens, output_tokens, model)))
        self.cached_input_tokens = getattr(self, "cached_input_tokens", 0) + cached_input_tokens

    def of(self, kind: str) -> list[Any]:
        return [value for name, value in self.calls if name == kind]

    @property
    def text(self) -> str:
        return "".join(self.of("token"))

    @property
    def kinds(self) -> list[str]:
        return [name for name, _ in self.calls]
