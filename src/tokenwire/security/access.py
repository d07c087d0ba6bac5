"""Which role each part of the HTTP surface needs — one table, read by the middleware."""

from __future__ import annotations

import re

from starlette.types import Scope

from tokenwire.security.principal import Role

__all__ = ["PUBLIC", "RUN_PATH", "STREAM_PATH", "app_path", "required_roles"]

#: Reachable without credentials: probes, the static UI (and LangServe's playground paths,
#: which redirect to it), the API description, metrics.
PUBLIC = re.compile(
    r"^/(healthz|readyz|metrics|openapi\.json|docs|redoc|ui|langserve/[^/]+/playground)(/.*)?$"
)

#: A run's own resources: the caller must own the run (or be a moderator).
RUN_PATH = re.compile(r"^/v1/runs/(?P<run_id>[^/]+)(/.*)?$")

#: A run's native SSE stream: the one place a stream token (``?token=``) is accepted.
STREAM_PATH = re.compile(r"^/v1/runs/(?P<run_id>[^/]+)/stream$")

#: Each path with the roles that may reach it (any one of them).
_RULES: list[tuple[re.Pattern[str], tuple[Role, ...]]] = [
    (re.compile(r"^/v1/audit(/.*)?$"), (Role.AUDITOR,)),
    # What actions did: auditors beside the records, moderators watching runs they halt.
    (re.compile(r"^/v1/actions/?$"), (Role.MODERATOR, Role.AUDITOR)),
    (re.compile(r"^/v1/runs/?$"), (Role.MODERATOR,)),  # the live runs list
    (re.compile(r"^/v1/telemetry(/.*)?$"), (Role.MODERATOR,)),
    (re.compile(r"^/v1/moderation(/.*)?$"), (Role.MODERATOR,)),
    # Rollouts: moderators watch them, only admins change them.
    (re.compile(r"^/v1/rollouts/[^/]+/(promote|rollback|pause|resume)/?$"), (Role.ADMIN,)),
    (re.compile(r"^/v1/rollouts(/.*)?$"), (Role.MODERATOR,)),
]


def required_roles(path: str) -> tuple[Role, ...]:
    """The roles of which the caller needs one for ``path``."""
    for pattern, roles in _RULES:
        if pattern.match(path):
            return roles
    return (Role.CLIENT,)


def app_path(scope: Scope) -> str:
    """The request's path inside this app: ``scope["path"]`` holds the ``root_path`` too
    (the app mounted under a prefix, or a proxy's ``--root-path``), and every table above
    is written without it — matched against the full path, ``/api/v1/audit`` would need
    no more than the client role."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path
