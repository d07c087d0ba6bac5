"""The whole OpenAPI schema, checked by schemathesis against a live gateway.

Every operation is called with requests that fit its schema and requests that do not:
none may make the server fail (a 5xx). The protocol front ends' responses are also
validated against the schema (status codes, content types, bodies); the native API's
problem+json refusals are documented by status only, so it is checked for "no 5xx".

Bounded on purpose (a fixed number of derandomized examples per operation, no example
database, no shrinking), to stay well under a minute on a loaded CI: the goal is "no input
makes the server fail", not fuzzing coverage. Event-stream bodies are not validated (they
are not JSON).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.core.result import Err, Ok

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_routes
from tokenwire.server.api import START_PATH
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

EXAMPLES_PER_OPERATION = 25
#: Operations whose (schema-valid) requests also get their responses validated.
VALIDATED = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/models",
    "/langserve/",
    "/v1/routes/{route}/ui-chat",
)


def test_no_input_makes_the_server_fail(mock_server: BackgroundServer) -> None:
    app = create_app(
        demo_routes(f"{mock_server.url}/v1"), Settings(heartbeat_seconds=1, auth="none")
    )
    with BackgroundServer(app) as server:
        documented = httpx.get(f"{server.url}/openapi.json").json()["paths"]
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        results = list(schema.get_all_operations())
        broken = [r.err() for r in results if isinstance(r, Err)]
        assert not broken, broken  # schemathesis could not read an operation of the document
        operations = [r.ok() for r in results if isinstance(r, Ok)]
        every = {(method.upper(), path) for path, item in documented.items() for method in item}
        assert {(op.method.upper(), op.path) for op in operations} == every
        failures, bodies = [], Counter[str]()
        for operation in operations:
            try:
                _check(operation, bodies)
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:800])
        assert not failures, "\n\n".join(failures)
    # The native start route reads its body by hand; its schema documents it, so it was
    # called with bodies, fitting and not.
    assert bodies[START_PATH] >= EXAMPLES_PER_OPERATION


def _strategy(operation: Any) -> Any:
    positive = operation.as_strategy()
    try:
        negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    except Exception:  # nothing in the operation can be made invalid (no parameters)
        return positive
    return st.one_of(positive, negative)


def _check(operation: Any, bodies: Counter[str]) -> None:
    @given(case=_strategy(operation))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the run stays bounded
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call(timeout=15)
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, (where, response.status_code, response.text[:300])
        if not isinstance(case.body, NotSet):
            bodies[operation.path] += 1
        positive = case.meta is None or case.meta.generation.mode.is_positive
        if positive and operation.path.startswith(VALIDATED):
            case.validate_response(response)

    call()
