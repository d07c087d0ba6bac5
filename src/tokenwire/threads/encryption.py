"""Checkpoints encrypted at rest: a thread's state is the conversation, unmasked (a graph
resumes from what it really said), so with ``checkpoint_encryption_key`` set it never
reaches SQLite or PostgreSQL in clear.

LangGraph's ``EncryptedSerializer`` wraps its own serializer around a cipher; this one is
Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``, as the audit trail's sealed
inputs). Checkpoints written before the key was set stay readable (LangGraph tells them
apart by their type tag); a checkpoint written under another key is refused, not misread.
Generate a key with ``python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

__all__ = ["FernetCipher", "encrypted_serde"]


class FernetCipher:
    """LangGraph's ``CipherProtocol`` over Fernet."""

    name = "fernet"

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode("ascii"))

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return self.name, self._fernet.encrypt(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != self.name:
            raise ValueError(f"a checkpoint encrypted with {ciphername!r}, not {self.name!r}")
        return self._fernet.decrypt(ciphertext)


def encrypted_serde(key: str) -> SerializerProtocol | None:
    """The serializer checkpoints are written with: encrypted under ``key``, or LangGraph's
    default (None) without one."""
    return EncryptedSerializer(FernetCipher(key)) if key else None
