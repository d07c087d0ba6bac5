"""The ``tokenwire`` command: ``serve``, ``stats``, ``mock-provider``, ``demo``, ``config``,
``keys`` and ``audit``."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenwire.gateway import Gateway

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except (ValueError, OSError) as exc:
        print(f"tokenwire: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenwire", description="A streaming gateway for LangChain runnables."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve a runnable (or a tokenwire.toml)")
    serve.add_argument("target", nargs="?", help="path/to/file.py:attr or package.module:attr")
    serve.add_argument("--name", help="route name (default: the attribute's name)")
    serve.add_argument("--mode", choices=["auto", "tokens", "events"], default="auto")
    serve.add_argument("--config", type=Path, help="a tokenwire.toml with settings and routes")
    serve.add_argument(
        "--no-auth", action="store_true", help="serve without authentication (development only)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on one port (more than 1 needs redis_url / TOKENWIRE_REDIS_URL)",
    )
    _add_address(serve, 8000)
    serve.set_defaults(handler=_serve)

    from tokenwire.mock.syntax import MODEL_SYNTAX

    mock = commands.add_parser(
        "mock-provider",
        help="run the OpenAI-compatible mock provider",
        description="An OpenAI-compatible mock LLM provider with latency and fault injection.",
        epilog=MODEL_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_address(mock, 8001)
    mock.set_defaults(handler=_mock_provider)

    stats = commands.add_parser("stats", help="latency, tokens and cost from a JSONL sink")
    stats.add_argument("file", type=Path, help="the telemetry_jsonl file")
    stats.set_defaults(handler=_stats)

    demo = commands.add_parser("demo", help="mock provider + gateway with demo routes")
    _add_address(demo, 8000)
    demo.add_argument("--mock-port", type=int, default=0, help="mock provider port (0: any)")
    demo.set_defaults(handler=_demo)

    config = commands.add_parser("config", help="the effective configuration")
    actions = config.add_subparsers(required=True, metavar="ACTION")
    show = actions.add_parser("show", help="every setting, its value and its source")
    show.add_argument("--config", type=Path, help="a tokenwire.toml to read as serve would")
    show.set_defaults(handler=_config_show)

    from tokenwire.audit.commands import add_audit_commands
    from tokenwire.security.commands import add_keys_commands

    add_keys_commands(commands)
    add_audit_commands(commands)
    return parser


def _add_address(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)


def _serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    app, gateway = _build_app(args)  # also checks the configuration before forking
    names = ", ".join(gateway.routes)
    where = f"http://{args.host}:{args.port}"
    if args.workers == 1:
        from tokenwire.server.shutdown import serve

        print(f"tokenwire serving {names} on {where}", flush=True)
        # Not uvicorn.run: on SIGTERM live streams are drained first (reliability.shutdown).
        serve(app, gateway, host=args.host, port=args.port)
        return 0
    if not gateway.settings.redis_url:
        raise ValueError(
            "--workers > 1 needs redis_url (TOKENWIRE_REDIS_URL, or [gateway] in a "
            "tokenwire.toml): without it a client that reconnects to another worker "
            "cannot rejoin or cancel its run"
        )
    from tokenwire.server.workers import run_workers

    del app, gateway  # each worker builds its own
    print(f"tokenwire serving {names} on {where} with {args.workers} workers", flush=True)
    return run_workers(_serve_worker, args, host=args.host, port=args.port, n=args.workers)


def _serve_worker(sock: socket.socket, args: argparse.Namespace) -> None:
    import os

    from tokenwire.server.shutdown import serve

    # Signals come from the supervisor only: a Ctrl-C to the terminal's process group plus
    # the supervisor's forward would be a second signal, which uvicorn takes as force-exit.
    os.setpgrp()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app, gateway = _build_app(args)
    serve(app, gateway, sockets=[sock])


def _build_app(args: argparse.Namespace) -> tuple[Any, Gateway]:
    from tokenwire.audit.trail import audit_from_settings
    from tokenwire.gateway import Gateway
    from tokenwire.routes import Route
    from tokenwire.server.app import create_app
    from tokenwire.server.config import load_config
    from tokenwire.server.targets import load_target

    config = load_config(args.config)
    if args.no_auth:
        config.settings = config.settings.replace(auth="none")
    routes = list(config.routes)
    if args.target:
        attr, runnable = load_target(args.target)
        routes.append(Route(name=args.name or attr, runnable=runnable, mode=args.mode))
    if not routes:
        raise ValueError("nothing to serve: give a TARGET or a --config with [routes]")
    if config.settings.auth != "none" and not config.credentials.configured:
        raise ValueError(
            "no API keys configured: add [auth] keys to a tokenwire.toml (--config), "
            "or pass --no-auth to serve without authentication (development only)"
        )
    gateway = Gateway(
        routes,
        config.settings,
        prices=config.prices,
        audit=audit_from_settings(config.settings),
        credentials=config.credentials,
    )
    return create_app(gateway), gateway


def _config_show(args: argparse.Namespace) -> int:
    """What ``tokenwire serve`` would run with: each setting, its value and its source.
    Secrets print as ``**********``."""
    from tokenwire.config.file import read_config
    from tokenwire.config.show import show
    from tokenwire.server.config import SERVED_DEFAULTS

    print("\n".join(show(read_config(args.config), SERVED_DEFAULTS)))
    return 0


def _stats(args: argparse.Namespace) -> int:
    from tokenwire.telemetry.stats import format_stats, load_records

    records = load_records(args.file)
    if not records:
        print(f"{args.file}: no runs recorded yet")
        return 0
    print(format_stats(records))
    return 0


def _mock_provider(args: argparse.Namespace) -> int:
    from tokenwire.mock import run_mock_provider

    run_mock_provider(host=args.host, port=args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tokenwire.server.demo import run_demo

    run_demo(host=args.host, port=args.port, mock_port=args.mock_port)
    return 0
