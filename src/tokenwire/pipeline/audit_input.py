"""The request input as the audit trail keeps it, on routes that mask their input.

``audit_input`` (``[routes.NAME.guardrails]``) chooses: ``masked`` (default) records the
input masked; ``omit`` records none; ``encrypted`` records it masked *and* the raw input
encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under
``audit_input_key``, in ``input_encrypted``. An auditor holding the key reads it back::

    from tokenwire.pipeline.audit_input import InputSeal
    InputSeal(key).open(record["input_encrypted"])   # or: tokenwire audit decrypt

Generate a key with ``python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``. The raw input is sealed when the run starts, so
it never waits in memory in clear for the audit writer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tokenwire.pipeline.masking import Masking

__all__ = ["AuditedInput", "InputSeal", "InvalidToken", "audited_input"]

log = logging.getLogger("tokenwire.audit")


@dataclass(frozen=True, slots=True)
class AuditedInput:
    """What an audit record holds of the request input: ``input`` (masked, or None when
    omitted), how it was recorded (``input_recorded``) and, sealed, the raw input."""

    value: Any
    recorded: str
    sealed: str | None = None

    def fields(self) -> dict[str, Any]:
        """The record's fields besides ``input``."""
        fields: dict[str, Any] = {"input_recorded": self.recorded}
        if self.sealed is not None:
            fields["input_encrypted"] = self.sealed
        return fields


class InputSeal:
    """Encrypts raw inputs for the audit trail, and decrypts them for an auditor."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise ValueError(f"audit_input_key is not a Fernet key: {exc}") from None

    def __repr__(self) -> str:
        return "InputSeal(key=***)"

    def seal(self, value: Any) -> str:
        # Plain ``json`` (ASCII-escaped): any string survives, lone surrogates included.
        return self._fernet.encrypt(json.dumps(value, default=str).encode()).decode()

    def open(self, sealed: str) -> Any:
        """The raw input a record's ``input_encrypted`` holds (``InvalidToken``: wrong key
        or altered)."""
        return json.loads(self._fernet.decrypt(sealed.encode()))


def audited_input(masking: Masking | None, input: Any, seal: InputSeal | None) -> Any:
    """What the audit trail should keep of ``input`` under the route's ``masking``: the input
    itself when the route does not mask it, else an :class:`AuditedInput`."""
    if masking is None or not masking.covers("input"):
        return input
    if masking.audit_input == "omit":
        return AuditedInput(None, "omitted")
    value = masking.value(input)
    if masking.audit_input == "masked":
        return AuditedInput(value, "masked")
    if seal is None:
        raise ValueError('audit_input = "encrypted" needs audit_input_key')
    try:
        sealed = seal.seal(input)
    except (TypeError, ValueError, RecursionError) as exc:  # an input JSON cannot hold
        log.error("the raw input cannot be encrypted (%s): recorded masked only", type(exc))
        return AuditedInput(value, "masked")
    return AuditedInput(value, "encrypted", sealed)
