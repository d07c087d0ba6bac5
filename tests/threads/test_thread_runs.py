"""Runs on LangGraph threads through a live gateway, on real SQLite and PostgreSQL
checkpointers: a graph compiled without a checkpointer pauses at ``interrupt()`` (the run
ends ``interrupted`` with an ``interrupt`` event), resumes with a ``command``, shows its
state before and after, and still resumes after the gateway restarted.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.threads.graphs import question_graph
from tokenwire import Route
from tokenwire.testing import collect, serve, test_settings

graph = question_graph


def _end(events: list[Any]) -> dict[str, Any]:
    assert [e.event for e in events].count("run.end") == 1
    data: dict[str, Any] = events[-1].data
    return data


def _thread(client: httpx.Client, thread_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/threads/{thread_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_interrupt_resume_and_restart(checkpoint_settings: dict[str, Any]) -> None:
    settings = test_settings(**checkpoint_settings)
    routes = [Route("ask", graph())]
    with serve(routes, settings) as client:
        events = collect(client, "ask", {"input": {"question": "name?"}, "thread_id": "t-1"})
        assert events[0].data["thread_id"] == "t-1"
        (paused,) = [e.data for e in events if e.event == "interrupt"]
        assert paused["value"] == {"question": "name?"} and paused["interrupt_id"]
        end = _end(events)
        assert (end["status"], end["finish_reason"]) == ("interrupted", "interrupt")
        before = _thread(client, "t-1")
        assert before["next"] == ["ask"] and before["route"] == "ask"
        assert before["values"] == {"question": "name?"}
        assert before["interrupts"] == [paused]
    with serve(routes, settings) as client:  # a restarted gateway, the same store
        assert _thread(client, "t-1")["next"] == ["ask"]
        events = collect(client, "ask", {"thread_id": "t-1", "command": {"resume": "ada"}})
        end = _end(events)
        assert end["status"] == "completed"
        assert end["output"] == {"question": "name?", "answer": "ADA"}
        after = _thread(client, "t-1")
        assert (after["next"], after["interrupts"]) == ([], [])
        assert after["values"]["answer"] == "ADA"
        history = client.get("/v1/threads/t-1/history").json()["states"]
        assert history[0]["checkpoint_id"] == after["checkpoint_id"]
        assert [s["next"] for s in history][-1] == ["__start__"]


def test_thread_id_in_config_is_the_same_thread(tmp_path: Any) -> None:
    with serve([Route("ask", graph())], data_dir=str(tmp_path)) as client:
        body = {"input": {"question": "q"}, "config": {"configurable": {"thread_id": "c-1"}}}
        assert _end(collect(client, "ask", body))["status"] == "interrupted"
        run = client.get(f"/v1/runs/{collect(client, 'ask', _resume('c-1'))[0].data['run_id']}")
        assert run.json()["thread_id"] == "c-1"
        assert _thread(client, "c-1")["values"] == {"question": "q", "answer": "YES"}


def _resume(thread_id: str, value: Any = "yes") -> dict[str, Any]:
    return {"thread_id": thread_id, "command": {"resume": value}}


def test_bad_thread_requests_are_refused_before_anything_runs(tmp_path: Any) -> None:
    chat = Route("plain", _echo())
    with serve([Route("ask", graph()), chat], data_dir=str(tmp_path)) as client:
        cases = [
            ("ask", _resume("never-ran"), 404),  # nothing to resume
            ("ask", {"command": {"resume": 1}}, 422),  # a command needs a thread
            ("ask", {"thread_id": "t", "command": {"jump": 1}}, 422),
            ("ask", {"thread_id": "t", "command": {"resume": 1}, "input": {"question": "q"}}, 422),
            ("ask", {"thread_id": "", "input": {"question": "q"}}, 422),
            ("plain", {"thread_id": "t", "input": "hi"}, 422),  # not a graph
        ]
        for route, body, status in cases:
            response = client.post(f"/v1/routes/{route}/runs", json=body)
            assert response.status_code == status, (body, response.text)
        assert client.get("/v1/threads/never-ran").status_code == 404


def _echo() -> Any:
    from langchain_core.runnables import RunnableLambda

    return RunnableLambda(lambda text: f"echo {text}")


def test_a_run_on_a_thread_by_its_own_path(tmp_path: Any) -> None:
    with serve([Route("ask", graph())], data_dir=str(tmp_path)) as client:
        assert client.post("/v1/threads/t-9/runs", json={"input": {}}).status_code == 404
        collect(client, "ask", {"input": {"question": "q"}, "thread_id": "t-9"})
        with client.stream(
            "POST",
            "/v1/threads/t-9/runs",
            json={"command": {"resume": "later"}},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            response.read()
        assert _thread(client, "t-9")["values"]["answer"] == "LATER"
        carried_on = client.post("/v1/threads/t-9/runs", json={"command": {"resume": None}})
        assert carried_on.status_code == 202, carried_on.text


def test_a_command_on_a_thread_named_in_config(tmp_path: Any) -> None:
    with serve([Route("ask", graph())], data_dir=str(tmp_path)) as client:
        config = {"configurable": {"thread_id": "cfg"}}
        collect(client, "ask", {"input": {"question": "q"}, "config": config})
        body = {"command": {"resume": "x"}, "config": config}
        assert _end(collect(client, "ask", body))["status"] == "completed"
