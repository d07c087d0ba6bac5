"""Threads: the LangGraph checkpointer the gateway supplies to graphs served on threads.

- :func:`open_checkpointer` — SQLite at ``<data_dir>/checkpoints.db`` by default, PostgreSQL
  (``Settings.checkpoint_url``, tables in ``checkpoint_schema``) when configured, so a
  thread survives a restart and is shared by every replica.
- :class:`ThreadLocks` — runs of one thread never interleave within this process.
"""

from tokenwire.threads.checkpointer import checkpoint_target, open_checkpointer
from tokenwire.threads.locks import ThreadBusy, ThreadLocks

__all__ = ["ThreadBusy", "ThreadLocks", "checkpoint_target", "open_checkpointer"]
