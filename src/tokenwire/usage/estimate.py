"""Token estimates for when a provider reports no usage.

The heuristic is OpenAI's rule of thumb: about four characters of English per token,
rounded up. Opt in to ``tiktoken`` (``token_estimator = "tiktoken"``) for exact counts with
OpenAI encodings — note it downloads its encoding file on first use unless it is cached
(``TIKTOKEN_CACHE_DIR``), so it is never used implicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

__all__ = ["Estimator", "estimator"]

Estimator = Callable[[str], int]


def heuristic_tokens(text: str) -> int:
    return (len(text) + 3) // 4


@lru_cache(maxsize=2)
def estimator(kind: Literal["heuristic", "tiktoken"] = "heuristic") -> Estimator:
    if kind == "heuristic":
        return heuristic_tokens
    import tiktoken

    encoding = tiktoken.get_encoding("o200k_base")

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count
