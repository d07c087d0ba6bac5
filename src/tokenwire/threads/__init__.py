"""Threads: LangGraph graphs served with the gateway's checkpointer, one run at a time.

- :func:`open_checkpointer` — SQLite at ``<data_dir>/checkpoints.db`` by default, PostgreSQL
  (``Settings.checkpoint_url``, tables in ``checkpoint_schema``) when configured, so a
  thread survives a restart and is shared by every replica.
- :mod:`.graphs` — a graph with that checkpointer, a run's thread config, a resume command.
- :mod:`.state` — a thread as ``GET /v1/threads/{id}`` shows it; its owner and route.
- :mod:`.locks` — which run holds each thread in this process (Redis: ``SharedClaims``).

LangGraph is optional (the ``threads`` extra): the modules that need it are imported by
name, never from here, so importing this package costs nothing without it.
"""

from tokenwire.threads.locks import Claims, LocalClaims
from tokenwire.threads.request import ThreadRequest

__all__ = ["Claims", "LocalClaims", "ThreadRequest"]
