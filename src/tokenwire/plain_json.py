"""Plain JSON values out of anything a client or a runnable hands the gateway.

Every wire encoder, the audit chain and the Redis broker serialise with orjson, which refuses
what Python happily holds: strings with lone UTF-16 surrogates, integers past 64 bits,
nesting past 254 levels, objects it does not know. Such a value reaching an event log, a
cluster record or an audit body would make the one serialisation that matters raise — after
the run has started, where nothing can refuse it any more. So values that cross into those
places go through :func:`json_ready` once (run outputs, tool arguments and results, retrieved
documents, request inputs for the audit), never per token.

What cannot be kept is kept readable, not dropped: a lone surrogate becomes its ``\\udXXX``
escape, a huge integer its decimal string, a structure nested too deep the text of its
deepest part, an unknown object its ``str``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "dumps", "json_ready", "sanitized", "valid_text"]

#: Levels of nesting kept (orjson serialises at most 254; records wrap values a few deep).
MAX_DEPTH = 200

_OPTIONS = orjson.OPT_NON_STR_KEYS
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: cheap enough for every token (ASCII is one C call).

    A provider's JSON may split a surrogate pair across two chunks, or hold a lone one;
    Python keeps them, orjson (every encoder) refuses them. A pair within ``text`` becomes
    its character, a lone surrogate its ``\\udXXX`` escape."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return paired.encode("utf-8", "backslashreplace").decode()


def json_ready(value: Any) -> Any:
    """``value`` itself when orjson serialises it as it is (the cheap, common case), else a
    plain copy that it does (see :func:`sanitized`)."""
    try:
        orjson.dumps(value, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return sanitized(value)[0]
    return value


def sanitized(value: Any) -> tuple[Any, bool]:
    """A plain JSON copy of ``value`` and whether data had to be altered to make it (an
    escaped surrogate, an integer as text, nesting cut short)."""
    changed = [False]
    return _plain(value, MAX_DEPTH, changed), changed[0]


def dumps(value: Any, *, option: int = 0) -> bytes:
    """orjson's bytes of ``value``, made plain first if it has to be; never raises."""
    try:
        return orjson.dumps(value, option=option | _OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return orjson.dumps(sanitized(value)[0], option=option | _OPTIONS)


def _plain(value: Any, depth: int, changed: list[bool]) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return _text(value, changed)
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return int(value)
        changed[0] = True
        return str(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset) and depth <= 0:
        changed[0] = True
        return _text(_shallow_text(value), changed)
    if isinstance(value, Mapping):
        return {_key(k, changed): _plain(v, depth - 1, changed) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, depth - 1, changed) for item in value]
    return _known(value, depth, changed)


def _known(value: Any, depth: int, changed: list[bool]) -> Any:
    """What orjson makes of a type it knows (dataclass, datetime, UUID, enum…), else ``str``."""
    try:
        return _plain(orjson.loads(orjson.dumps(value, option=_OPTIONS)), depth, changed)
    except (orjson.JSONEncodeError, TypeError):
        # As ``default=str`` would: an object is recorded as its text, which loses nothing
        # the value was meant to carry as JSON, so it does not count as a change.
        try:
            return _text(str(value), changed)
        except Exception:  # a __str__ that raises: still an answer, never an error
            return f"<{type(value).__name__}>"


def _key(key: Any, changed: list[bool]) -> str:
    if isinstance(key, str):
        return _text(key, changed)
    return _text(str(key), changed)


def _text(text: str, changed: list[bool]) -> str:
    valid = valid_text(text)
    if valid is not text:
        changed[0] = True
    return valid


def _shallow_text(value: Any) -> str:
    """Too deep to keep as structure: its ``repr``, which Python builds without limit
    problems only up to its own recursion limit — so that, too, is guarded."""
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested deeper than {MAX_DEPTH} levels>"
