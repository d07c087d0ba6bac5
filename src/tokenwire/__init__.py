"""tokenwire: a production streaming gateway for LangChain runnables."""

from tokenwire.config import Settings
from tokenwire.events import ErrorCode, Event, EventType, RunStatus
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.api import create_router
from tokenwire.server.app import create_app, install_auth

__all__ = [
    "ErrorCode",
    "Event",
    "EventType",
    "Gateway",
    "Route",
    "RunStatus",
    "Settings",
    "create_app",
    "create_router",
    "install_auth",
]
