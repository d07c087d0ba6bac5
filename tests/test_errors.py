"""The exception tree drawn in ``tokenwire.errors``' docstring is the tree of its classes."""

from __future__ import annotations

import builtins
import re

from tokenwire import errors

#: `` │    ├── UnknownRoute (LookupError)      404  …``: depth from the indent, the class, its
#: builtin base.
_NODE = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)(?: \((?P<builtin>\w+)\))?")


def _drawn() -> list[tuple[str, str, str | None]]:
    """(class, drawn parent, builtin base) for every node of the drawing."""
    assert errors.__doc__ is not None
    parents = ["TokenwireError"]
    nodes = []
    for line in errors.__doc__.splitlines():
        match = _NODE.match(line[4:])  # the drawing is indented by 4
        if match is None:
            continue
        depth = len(match["indent"]) // 5  # " │    " per level
        del parents[depth + 1 :]
        nodes.append((match["name"], parents[depth], match["builtin"]))
        parents.append(match["name"])
    return nodes


def test_the_drawing_is_the_class_tree() -> None:
    nodes = _drawn()
    assert {name for name, _, _ in nodes} | {"TokenwireError"} == set(errors.__all__)
    for name, parent, builtin in nodes:
        cls = getattr(errors, name)
        assert cls.__bases__[0] is getattr(errors, parent), name
        if builtin is not None:
            assert issubclass(cls, getattr(builtins, builtin)), name


def test_every_refusal_says_its_status_and_when_to_retry() -> None:
    assert errors.UnknownRoute("chat").detail == "no route named 'chat'"
    assert errors.RegistryFull(5).retry_after == 1
    assert errors.RateLimited("more than 3 requests per minute", 0).retry_after == 1
    assert errors.InvalidRequest(["a", "b"]).errors == ("a", "b")
    assert errors.ConfigError("x").args == ("x",) and issubclass(errors.ConfigError, ValueError)
