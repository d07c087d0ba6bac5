"""The action registry: every ``@action`` is found by its name, and a name claimed by two
module-level functions is refused."""

from __future__ import annotations

import types

import pytest
from langchain_core.tools import tool

from tokenwire.actions import action
from tokenwire.actions.registry import ActionNameTaken, lookup, register

pytestmark = pytest.mark.unit


def test_a_decorated_function_is_registered_under_its_name() -> None:
    def open_case(title: str) -> str:
        return title

    action(name="registry_open_case")(open_case)
    found = lookup("registry_open_case")
    assert found is not None and found.fn is open_case


def test_a_decorated_tool_registers_the_function_it_calls() -> None:
    @tool
    def registry_close_case(case_id: str) -> str:
        """Close a case."""
        return case_id

    action(registry_close_case)
    found = lookup("registry_close_case")
    assert found is not None and found.fn("c1") == "c1"


def _module_level(module: str) -> types.FunctionType:
    code = "def create_ticket(title):\n    return title\n"
    namespace: dict[str, object] = {"__name__": module}
    exec(code, namespace)  # two module-level functions of one name
    fn = namespace["create_ticket"]
    assert isinstance(fn, types.FunctionType)
    return fn


def test_two_module_level_functions_cannot_share_a_name() -> None:
    register("registry_taken", _module_level("crm_a"))
    with pytest.raises(ActionNameTaken, match=r"crm_b\.create_ticket claims it too"):
        register("registry_taken", _module_level("crm_b"))


def test_the_same_function_redecorated_keeps_its_name() -> None:
    fn = _module_level("crm_c")
    register("registry_again", fn)
    register("registry_again", _module_level("crm_c"))  # a reload: same origin
    assert lookup("registry_again") is not None


def test_a_local_function_replaces_what_the_name_held() -> None:
    def first() -> int:
        return 1

    def second() -> int:
        return 2

    register("registry_local", first)
    register("registry_local", second)
    found = lookup("registry_local")
    assert found is not None and found.fn() == 2
