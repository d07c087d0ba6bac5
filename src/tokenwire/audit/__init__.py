"""The audit trail: a tamper-evident record of what every run delivered."""

from tokenwire.audit.chain import GENESIS_HASH, ChainCheck, Link, canonical_json, link_hash
from tokenwire.audit.record import audit_entry, delivered_output
from tokenwire.audit.store import AuditStore, AuditStoreMissing, ChainState, store_url
from tokenwire.audit.trail import AuditTrail, audit_from_settings
from tokenwire.audit.verify import Verification, export_jsonl, verify

__all__ = [
    "GENESIS_HASH",
    "AuditStore",
    "AuditStoreMissing",
    "AuditTrail",
    "ChainCheck",
    "ChainState",
    "Link",
    "Verification",
    "audit_entry",
    "audit_from_settings",
    "canonical_json",
    "delivered_output",
    "export_jsonl",
    "link_hash",
    "store_url",
    "verify",
]
