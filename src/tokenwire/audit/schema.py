"""The audit tables.

``audit_records`` holds one row per finished run: the hashed ``body`` plus a few of its fields
copied into columns so auditors can query with SQL (verification checks that they still match
the body). ``audit_chain`` has exactly one row: the chain head, updated in the same
transaction as every append (and locked by it), and the retention checkpoint.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text

__all__ = ["CHAIN_ROW", "COPIED_COLUMNS", "chain", "metadata", "records"]

metadata = MetaData()

records = Table(
    "audit_records",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", String(), nullable=False, index=True),
    Column("route", String(), nullable=False),
    Column("status", String(), nullable=False),
    Column("key_alias", String(), nullable=True),
    Column("recorded_at", Float, nullable=False, index=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
)

chain = Table(
    "audit_chain",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("head_sequence", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    #: The last record deleted by retention (0 and the genesis hash until then).
    Column("base_sequence", BigInteger, nullable=False),
    Column("base_hash", String(64), nullable=False),
    Column("pruned_at", Float, nullable=True),
)

CHAIN_ROW = 1

#: Columns that repeat a body field (verified against it).
COPIED_COLUMNS = ("run_id", "route", "status", "key_alias", "recorded_at")
