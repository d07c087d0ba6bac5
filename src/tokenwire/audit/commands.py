"""``tokenwire audit verify``, ``tokenwire audit export`` and ``tokenwire audit decrypt``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenwire.config import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported only when an audit command runs
    from tokenwire.audit.store import AuditStore

__all__ = ["add_audit_commands"]

Handler = Callable[[argparse.Namespace], int]


def add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="verify or export the audit trail")
    actions = audit.add_subparsers(required=True, metavar="ACTION")

    check = actions.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    _add_location(check)
    check.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="a head printed earlier (kept outside the database): the chain must still hold it",
    )
    check.set_defaults(handler=_verify)

    export = actions.add_parser("export", help="write every record as JSONL")
    _add_location(export)
    export.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")
    export.set_defaults(handler=_export)

    decrypt = actions.add_parser(
        "decrypt",
        help="print the raw inputs an export holds encrypted (key: TOKENWIRE_AUDIT_INPUT_KEY)",
    )
    decrypt.add_argument(
        "--in", dest="source", type=Path, required=True, help="a file `audit export` wrote"
    )
    decrypt.add_argument("--run", help="only this run id")
    decrypt.set_defaults(handler=_decrypt)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: TOKENWIRE_AUDIT_URL, else SQLite)")
    parser.add_argument("--schema", help="PostgreSQL schema (default: TOKENWIRE_AUDIT_SCHEMA)")
    parser.add_argument(
        "--data-dir", help="SQLite's directory (default: TOKENWIRE_DATA_DIR, else ./data)"
    )


def _readable(command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> Handler:
    """Run an async command; a database that cannot be read is a clear message, exit 2."""

    def handler(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return asyncio.run(command(args))
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            print(f"tokenwire: cannot read the audit store: {detail}", file=sys.stderr)
            return 2

    return handler


def _store(args: argparse.Namespace) -> AuditStore:
    from tokenwire.audit.store import AuditStore, store_url

    settings = Settings()
    url = store_url(settings, url=args.url, data_dir=args.data_dir)
    return AuditStore(url, schema=args.schema or settings.audit_schema)


@_readable
async def _verify(args: argparse.Namespace) -> int:
    from tokenwire.audit.verify import verify

    store = _store(args)
    try:
        result = await verify(store, expect_head=args.expect_head)
    finally:
        await store.aclose()
    if not result.ok:
        print(
            f"audit chain BROKEN at sequence {result.bad_sequence}: {result.problem}",
            file=sys.stderr,
        )
        return 1
    print(f"audit chain OK: {result.checked} records after checkpoint {result.base_sequence}")
    print(f"head {result.head}")
    return 0


@_readable
async def _export(args: argparse.Namespace) -> int:
    from tokenwire.audit.verify import export_jsonl

    store = _store(args)
    try:
        count, head = await export_jsonl(store, args.out)
    finally:
        await store.aclose()
    print(f"exported {count} records to {args.out}")
    print(f"head {head}")
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    """One JSON line per record with ``input_encrypted``: its sequence, run id and raw input."""
    import orjson

    from tokenwire.pipeline.audit_input import InputSeal, InvalidToken

    key = Settings().audit_input_key.get_secret_value()
    if not key:
        print("tokenwire: set TOKENWIRE_AUDIT_INPUT_KEY to decrypt inputs", file=sys.stderr)
        return 2
    seal = InputSeal(key)
    with args.source.open("rb") as lines:
        for line in lines:
            record = orjson.loads(line)
            sealed = record.get("input_encrypted")
            if sealed is None or args.run not in (None, record.get("run_id")):
                continue
            try:
                raw = seal.open(sealed)
            except InvalidToken:
                print(
                    f"tokenwire: record {record.get('sequence')}: wrong key or altered input",
                    file=sys.stderr,
                )
                return 1
            entry = {"sequence": record.get("sequence"), "run_id": record.get("run_id")}
            print(orjson.dumps({**entry, "input": raw}).decode())
    return 0
