"""``tokenwire keys create``: a new API key, printed once, and its ``[auth]`` entry."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tokenwire.security.new_keys import IssuedKey, KeyEntry, issue_key
from tokenwire.security.principal import Role

__all__ = ["add_keys_commands", "describe"]


def add_keys_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="make API keys")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="print a new API key (once) and the [auth] entry that admits it",
        description=(
            "Print a new random API key and the tokenwire.toml entry to paste under [auth] "
            "keys. The gateway keeps only the key's SHA-256 (key_sha256): the key itself "
            "is shown here once and stored nowhere, so hand it to its client now."
        ),
    )
    create.add_argument("--alias", required=True, help="who the key is (runs, limits, audit)")
    create.add_argument(
        "--role",
        dest="roles",
        action="append",
        choices=[role.value for role in Role],
        help="a role of the key; repeat for several (default: client)",
    )
    create.add_argument("--rpm", type=_positive(int), help="requests per minute")
    create.add_argument("--concurrent-streams", type=_positive(int), help="runs at once")
    create.add_argument("--tpm", type=_positive(int), help="tokens per minute")
    create.add_argument("--token-budget", type=_positive(int), help="tokens per budget period")
    create.add_argument("--cost-budget-usd", type=_positive(float), help="USD per budget period")
    create.add_argument("--budget-period", choices=["hour", "day", "month"])
    create.add_argument("--department", help="what metrics and cost label the key with")
    create.set_defaults(handler=_create)


def describe(issued: IssuedKey) -> str:
    """What ``keys create`` prints: the key, labelled, then the entry to paste."""
    return "\n".join(
        [
            f"API key (shown once; tokenwire keeps only its hash): {issued.secret}",
            "",
            "# tokenwire.toml: add this entry to keys under [auth]",
            "[auth]",
            "keys = [",
            f"  {issued.entry.toml()},",
            "]",
            "",
            f"# a client sends it as: Authorization: Bearer {issued.secret}",
        ]
    )


def _create(args: argparse.Namespace) -> int:
    entry = KeyEntry(
        alias=args.alias,
        roles=tuple(Role(role) for role in dict.fromkeys(args.roles or ["client"])),
        requests_per_minute=args.rpm,
        concurrent_streams=args.concurrent_streams,
        tokens_per_minute=args.tpm,
        token_budget=args.token_budget,
        cost_budget_usd=args.cost_budget_usd,
        budget_period=args.budget_period,
        department=args.department,
    )
    print(describe(issue_key(entry)))
    return 0


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")  # argparse's error names the type
    return parse
