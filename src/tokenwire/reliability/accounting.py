"""Usage summed over every attempt of a run, discarded ones included.

Providers report usage per call, and the recorder sums those reports over attempts. But an
attempt that died mid-stream (a drop, a stall) usually never got its report, and after a
``restart`` its text is gone from the recorder. So the text each attempt delivered without
a report is kept aside when the attempt ends, estimated like the recorder estimates, and
the sum is marked ``estimated``.
"""

from __future__ import annotations

from typing import Any, Protocol

from tokenwire.usage.estimate import Estimator, heuristic_tokens

__all__ = ["AttemptUsage"]


class _Recorder(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def usage_reports(self) -> int: ...

    def usage_data(self) -> dict[str, Any]: ...


class AttemptUsage:
    def __init__(self, recorder: _Recorder, estimate: Estimator = heuristic_tokens) -> None:
        self._recorder = recorder
        self._estimate = estimate
        self._unreported: list[str] = []
        self._reports_at_start = 0
        self._chars_at_start = 0

    def begin(self) -> None:
        self._reports_at_start = self._recorder.usage_reports
        self._chars_at_start = len(self._recorder.text)

    def end(self) -> None:
        """Call when an attempt ends, before anything clears the recorder's text."""
        if self._recorder.usage_reports == self._reports_at_start:
            delivered = self._recorder.text[self._chars_at_start :]
            if delivered:
                self._unreported.append(delivered)

    def data(self) -> dict[str, Any]:
        """The ``usage`` event's data for the whole run."""
        data = dict(self._recorder.usage_data())
        if not self._unreported:
            return data
        unreported = self._estimate("".join(self._unreported))
        if data.get("estimated"):
            # No attempt reported: the estimate covers all delivered text, discarded too.
            data["output_tokens"] = unreported
        else:
            data["output_tokens"] += unreported
            data["estimated"] = True
        return data
