"""``tokenwire demo``: the mock provider and a gateway with the demo routes."""

from __future__ import annotations

import uvicorn

from tokenwire.config.file import read_config
from tokenwire.demo.routes import demo_gateway
from tokenwire.mock import create_mock_app
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.server.config import SERVED_DEFAULTS
from tokenwire.server.connections import server_config

__all__ = ["DEMO_PROFILE", "run_demo"]

#: Slow enough to watch tokens arrive.
DEMO_PROFILE = "ttft=250,itl=40,jitter=10"


def run_demo(host: str = "127.0.0.1", port: int = 8000, mock_port: int = 0) -> None:
    with BackgroundServer(create_mock_app(), port=mock_port) as mock:
        # The demo runs without authentication, on purpose and with a warning at start.
        settings = read_config(None).settings({**SERVED_DEFAULTS, "auth": "none"})
        app = create_app(demo_gateway(f"{mock.url}/v1", DEMO_PROFILE, settings))
        base = f"http://{host}:{port}"
        print(_banner(base, mock.url), flush=True)
        config = server_config(app, settings, host=host, port=port, log_level="warning")
        uvicorn.Server(config).run()


def _banner(base: str, mock_url: str) -> str:
    return f"""
tokenwire demo — gateway {base}   (mock LLM provider {mock_url})
routes: chat, rag, agent
web UI: {base}/ui/  (playground, {base}/ui/dashboard.html, {base}/ui/console.html)

Stream a chat answer:
  curl -N {base}/v1/routes/chat/runs -H 'Accept: text/event-stream' \\
       -H 'Content-Type: application/json' -d '{{"input": "Tell me about streaming"}}'
Citations first, then the answer:
  curl -N {base}/v1/routes/rag/runs -H 'Accept: text/event-stream' \\
       -H 'Content-Type: application/json' -d '{{"input": "What is Last-Event-ID?"}}'
An agent step:
  curl -N {base}/v1/routes/agent/runs -H 'Accept: text/event-stream' \\
       -H 'Content-Type: application/json' \\
       -d '{{"input": {{"messages": [{{"role": "user", "content": "Status of order_id=A123?"}}]}}}}'
Rejoin a stream after event 3:
  curl -N {base}/v1/runs/RUN_ID/stream -H 'Last-Event-ID: 3'
Press Ctrl+C to stop.
"""
