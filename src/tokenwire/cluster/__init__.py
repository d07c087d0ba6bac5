"""Replicas sharing runs through Redis: any replica serves, rejoins or cancels any run.

:mod:`.replica` is this replica's side (heartbeats, lookups, forwarding, the orphan sweeper);
:mod:`.remote` a run of another replica as seen here; :mod:`.run_record`, :mod:`.published`
and :mod:`.republish` the run records in Redis; :mod:`.orphans` ends a dead replica's runs.
"""
