"""Process-level tuning for a long-running gateway.

CPython's cyclic garbage collector now and then walks every container object in the
process. Right after start-up that is mostly what importing LangChain, pydantic, FastAPI
and the routes' models created — about 150,000 objects, which nothing will ever free —
and a full pass over them stops the event loop for tens of milliseconds (every open stream
stalls meanwhile). ``gc.freeze()`` moves them to a permanent generation the collector
skips, so its passes cover only what runs created. Objects that are garbage already are
collected first, so freezing frees nothing late and loses nothing.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_heap"]

log = logging.getLogger("tokenwire")

_frozen = False


def freeze_startup_heap() -> int:
    """Collect, then freeze what exists now (once per process); returns how many objects
    were frozen (0 when already done)."""
    global _frozen
    if _frozen:
        return 0
    _frozen = True
    gc.collect()
    gc.freeze()
    count = gc.get_freeze_count()
    log.debug("froze %d start-up objects out of the garbage collector's passes", count)
    return count
