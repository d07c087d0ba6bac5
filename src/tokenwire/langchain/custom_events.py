"""What a runnable's own code streams beside the model's tokens, in events mode.

Two sources, one sink call (``RunSink.custom``):

- LangChain's ``adispatch_custom_event(name, data)`` (and the sync ``dispatch_custom_event``)
  is an ``on_custom_event`` stream event, from any runnable: a chain step, a tool, a node.
  It goes through the callbacks as the code dispatches it, so it is exactly in order with
  the tokens.
- LangGraph's ``get_stream_writer()`` payloads are dropped by ``astream_events`` unless the
  graph streams ``"custom"``. So for a LangGraph graph (possibly bound) the adapter asks for
  it (:func:`graph_stream_kwargs`): ``astream_events`` hands its keyword arguments to the
  graph's ``astream``, and each payload arrives as a root ``on_chain_stream`` chunk
  ``(namespace, "custom", payload)`` — a subgraph's too (``subgraphs=True``). The graph
  streams ``"updates"`` as well: for what it says when it pauses: an ``interrupt()``
  arrives as the root namespace's ``((), "updates", {"__interrupt__": (Interrupt, ...)})``
  (a subgraph's interrupt is repeated there, so reading the root alone sees each once);
  the root's other ``updates`` — what each node wrote — are ``RunSink.update``, and the
  root's output when the stream stops (ended or paused) is ``RunSink.state``. Asked for
  (``AdapterOptions.step_values``: a LangGraph API client streams ``values``), the graph
  streams ``"values"`` too, and its whole state after every step is ``RunSink.state`` —
  the last one is not repeated when the stream stops with that state. It costs a copy of
  the state per step (the log holds each), so it is not done for every graph run. LangGraph
  queues the payload for its stream loop (``call_soon_threadsafe``), so it reaches the
  gateway a few event-loop turns after the call: after everything streamed before the call,
  before the tokens of a model call made after it (which waits for the network), but an
  ``adispatch_custom_event`` made right after the writer call overtakes it. A graph nested
  in a chain (``graph | parser``) is streamed by the chain, which does not pass the option
  on: its writer payloads are dropped, as LangGraph drops them.

Data is converted with :func:`~tokenwire.langchain.output.to_jsonable` now, as the call
arrives, so the event is a snapshot (a node that mutates the dict after writing it does not
change what was sent). Data whose conversion raises (a ``__str__`` that raises, say) is not
carried: the sink gets ``data=None`` and an ``error`` naming its type, and the run goes on.

Node progress (``progress`` on): the ``on_chain_start`` / ``on_chain_end`` of each node of
the route's own graph — the runs LangGraph tags ``graph:step:<n>`` directly under the
root — become ``RunSink.node`` calls with the node's name and step.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

from tokenwire.langchain.approvals import approvals_of
from tokenwire.langchain.output import to_jsonable
from tokenwire.langchain.sink import NodePhase, RunSink

__all__ = [
    "NOT_WRITTEN",
    "graph_interrupts",
    "graph_stream_kwargs",
    "is_graph",
    "node_step",
    "report",
    "report_interrupt",
    "report_node",
    "report_updates",
    "state_json",
    "step_values",
    "writer_payload",
]

#: What :func:`writer_payload` returns for a chunk that is not a writer payload.
NOT_WRITTEN: Any = object()

_GRAPH_STEP = "graph:step:"
#: LangGraph's key for the interrupts of an ``updates`` chunk.
_INTERRUPT = "__interrupt__"


def graph_stream_kwargs(runnable: Runnable[Any, Any], values: bool = False) -> dict[str, Any]:
    """The ``astream_events`` keyword arguments that make a LangGraph graph stream its
    writer payloads (and, with ``values``, its state after every step); none for anything
    else (a chain would hand them to its steps)."""
    if not is_graph(runnable):
        return {}
    modes = ["custom", "updates", "values"] if values else ["custom", "updates"]
    return {"stream_mode": modes, "subgraphs": True}


def is_graph(runnable: Runnable[Any, Any]) -> bool:
    """Whether ``runnable`` is a compiled LangGraph graph (``Pregel``), bare or bound.
    LangGraph is optional: when it was never imported, nothing can be one of its graphs."""
    pregel = sys.modules.get("langgraph.pregel")
    if pregel is None:
        return False
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return isinstance(runnable, pregel.Pregel)


def writer_payload(chunk: Any) -> Any:
    """The payload of a root chunk ``(namespace, "custom", payload)``, else NOT_WRITTEN."""
    if isinstance(chunk, tuple) and len(chunk) == 3 and chunk[1] == "custom":
        return chunk[2]
    return NOT_WRITTEN


def graph_interrupts(chunk: Any) -> list[Any]:
    """The interrupts (``id``, ``value``, ``response_schema``) a root chunk
    ``((), "updates", {"__interrupt__": ...})`` reports; none for any other chunk."""
    if not (isinstance(chunk, tuple) and len(chunk) == 3 and chunk[1] == "updates"):
        return []
    namespace, _, update = chunk
    if namespace or not isinstance(update, Mapping):
        return []
    return list(update.get(_INTERRUPT) or ())


def report_updates(sink: RunSink, chunk: Any) -> None:
    """Each node's write of a root chunk ``((), "updates", {node: update})`` to
    ``sink.update`` — what LangGraph's server streams as ``updates``; the interrupts of the
    chunk are not updates (:func:`graph_interrupts`)."""
    if not (isinstance(chunk, tuple) and len(chunk) == 3 and chunk[1] == "updates"):
        return
    namespace, _, update = chunk
    if namespace or not isinstance(update, Mapping):
        return
    for name, written in update.items():
        if name == _INTERRUPT:
            continue
        try:
            plain = to_jsonable(written)
        except Exception:
            plain = None
        sink.update(str(name), plain)


def step_values(chunk: Any) -> Any:
    """The state of a root chunk ``((), "values", state)`` (LangGraph's ``values`` after a
    step), without the ``__interrupt__`` it adds when the step paused (the interrupts are
    reported from ``updates``); NOT_WRITTEN for any other chunk."""
    if not (isinstance(chunk, tuple) and len(chunk) == 3 and chunk[1] == "values"):
        return NOT_WRITTEN
    namespace, _, values = chunk
    if namespace:
        return NOT_WRITTEN
    if isinstance(values, Mapping) and _INTERRUPT in values:
        return {k: v for k, v in values.items() if k != _INTERRUPT}
    return values


def state_json(values: Any) -> Any:
    """A graph's state as JSON (None where it cannot be converted)."""
    try:
        return to_jsonable(values)
    except Exception:
        return None


def report_interrupt(sink: RunSink, found: Any) -> None:
    """One LangGraph ``Interrupt`` to ``sink.interrupt``, with the approvals it asks for."""
    interrupt_id = str(getattr(found, "id", ""))
    try:
        value = to_jsonable(getattr(found, "value", None))
    except Exception:
        value = None
    approvals = approvals_of(interrupt_id, value, getattr(found, "response_schema", None))
    sink.interrupt(interrupt_id, value, [a.data() for a in approvals])


def report(sink: RunSink, name: str | None, data: Any) -> None:
    """``data`` as JSON to ``sink.custom`` — or, when it cannot be converted, the error."""
    try:
        plain = to_jsonable(data)
    except Exception:
        sink.custom(name, None, f"the data ({type(data).__name__}) is not JSON-serialisable")
        return
    sink.custom(name, plain)


def node_step(event: Mapping[str, Any], root_run_id: str | None) -> tuple[str, int | None] | None:
    """``(name, step)`` when ``event`` is a run of one of the root graph's nodes."""
    if event["parent_ids"] != [root_run_id]:
        return None
    for tag in event["tags"]:
        if tag.startswith(_GRAPH_STEP):
            step = tag[len(_GRAPH_STEP) :]
            return event["name"], int(step) if step.isdigit() else None
    return None


def report_node(
    sink: RunSink, phase: NodePhase, event: Mapping[str, Any], root: str | None
) -> None:
    """``sink.node`` when ``event`` starts or ends one of the root graph's nodes."""
    found = node_step(event, root)
    if found is not None:
        sink.node(phase, *found)
