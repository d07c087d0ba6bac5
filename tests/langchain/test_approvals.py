"""HITL interrupt values → approvals, and decisions → the resume value, against the
response schemas LangChain's ``HumanInTheLoopMiddleware`` really builds (per-call mode),
published as LangGraph publishes them (their JSON schema)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain.agents.middleware.human_in_the_loop import DecisionType, _decision_schema
from langchain_core.tools import tool
from pydantic import TypeAdapter

from tokenwire.langchain.approvals import approvals_of, resume_value


@tool
def book(city: str, nights: int, pets: bool = False, tags: list[str] | None = None) -> str:
    """Book a hotel."""
    return city


def _schema(allowed: list[DecisionType]) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(_decision_schema(allowed, "book", book)).json_schema()
    return schema


def _per_call(allowed: list[DecisionType]) -> Any:
    value = {"type": "tool_approval", "tool_call_id": "c1", "name": "book", "args": {}}
    (approval,) = approvals_of("i1", value, _schema(allowed))
    return approval


@pytest.mark.parametrize(
    "allowed",
    [
        ["approve", "reject"],
        ["edit"],
        ["respond", "edit"],
        ["approve", "edit", "reject", "respond"],
    ],
)
def test_allowed_decisions_come_from_the_schema_branches(allowed: list[DecisionType]) -> None:
    order = ("approve", "edit", "reject", "respond")
    assert list(_per_call(allowed).allowed_decisions) == [d for d in order if d in allowed]


def test_a_per_call_decision_is_keyed_by_its_interrupt() -> None:
    edit = {"call_id": "c1", "type": "edit", "args": {"city": "Oslo", "nights": 2}}
    assert resume_value([_per_call(["edit"])], [edit]) == {
        "i1": {"type": "edit", "edited_action": {"name": "book", "args": edit["args"]}}
    }


@pytest.mark.parametrize(
    "args",
    [
        {"city": "Oslo", "nights": 2},
        {"city": "Oslo", "nights": "2", "pets": "yes"},  # pydantic's lax mode takes these
        {"city": "Oslo", "nights": 2.0, "tags": None, "unknown": object()},
        {"city": "Oslo", "nights": True, "tags": ["a"]},
    ],
)
def test_edits_the_schema_may_take_pass(args: dict[str, Any]) -> None:
    resume_value([_per_call(["edit"])], [{"call_id": "c1", "type": "edit", "args": args}])


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"nights": 2}, "city: required"),
        ({"city": 3, "nights": 2}, "city: must be string"),
        ({"city": "Oslo", "nights": 2.5}, "nights: must be integer"),
        ({"city": "Oslo", "nights": [2]}, "nights: must be integer"),
        ({"city": "Oslo", "nights": 2, "tags": "a"}, "tags: must be array or null"),
    ],
)
def test_edits_the_schema_refuses_are_refused(args: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        resume_value([_per_call(["edit"])], [{"call_id": "c1", "type": "edit", "args": args}])


def test_a_per_call_edit_keeps_its_tool() -> None:
    edit = {"call_id": "c1", "type": "edit", "name": "cancel", "args": {"city": "x", "nights": 1}}
    with pytest.raises(ValueError, match="must keep the tool 'book'"):
        resume_value([_per_call(["edit"])], [edit])


def test_a_type_argument_is_not_a_decision() -> None:
    @tool
    def review(type: Literal["approve", "respond"], body: str) -> str:
        """Review a pull request."""
        return body

    schema = TypeAdapter(_decision_schema(["edit", "reject"], "review", review)).json_schema()
    value = {"type": "tool_approval", "tool_call_id": "c1", "name": "review", "args": {}}
    (approval,) = approvals_of("i1", value, schema)
    assert approval.allowed_decisions == ("edit", "reject")


def test_batched_decisions_go_back_in_the_requests_order() -> None:
    value: Any = {
        "action_requests": [{"name": "book", "args": {}}, {"name": "pay", "args": {}}],
        "review_configs": [
            {"action_name": "book", "allowed_decisions": ["approve", "edit"]},
            {"action_name": "pay", "allowed_decisions": ["reject"]},
        ],
    }
    approvals = approvals_of("i1", value)
    assert [a.allowed_decisions for a in approvals] == [("approve", "edit"), ("reject",)]
    decisions = [
        {"call_id": "i1:1", "type": "reject", "message": "no"},
        {"call_id": "i1:0", "type": "edit", "args": {"anything": 1}},  # the tool checks
    ]
    assert resume_value(approvals, decisions) == {
        "i1": {
            "decisions": [
                {"type": "edit", "edited_action": {"name": "book", "args": {"anything": 1}}},
                {"type": "reject", "message": "no"},
            ]
        }
    }
