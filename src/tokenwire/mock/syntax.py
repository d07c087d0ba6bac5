"""The mock's request syntax as its users read it (``tokenwire mock-provider --help``,
docs/mock.md): the model name's settings, the ``x-mock-*`` headers, faults, tool calls.

A test checks that every setting and header :mod:`tokenwire.mock.profile` parses is here.
"""

from __future__ import annotations

__all__ = ["MODEL_SYNTAX"]

MODEL_SYNTAX = """\
Point any OpenAI client at http://HOST:PORT/v1 (any api_key). The model name chooses how
the mock behaves: "mock" or "mock-ANYTHING", optionally followed by @settings:

  mock@ttft=300,itl=20,jitter=5,tokens=40,fault=drop:5,reasoning=1

  ttft=MS       delay before the first content token (milliseconds; default 0)
  itl=MS        delay between tokens (default 0)
  jitter=MS     +/- uniform jitter on each delay, seeded by the request (reproducible)
  tokens=N      reply with exactly N words (cut, or extended from a fixed corpus)
  fault=SPEC    inject a failure (below)
  reasoning=1   stream reasoning_content deltas ("Thinking about it...") first

Each setting can also be sent as a header, which wins over the model name:
  x-mock-ttft-ms, x-mock-itl-ms, x-mock-jitter-ms, x-mock-tokens, x-mock-fault,
  x-mock-reasoning; x-mock-fault-key names the counter of an xK fault.

Faults (fault=SPEC / x-mock-fault), each optionally suffixed xK to fire only on the
first K requests of a fault key (x-mock-fault-key, else the whole model string):
  429, 500, ...   that HTTP status (any 4xx/5xx) with an OpenAI error body, before streaming
  drop:N          abort the connection after N tokens (the body is left unterminated)
  stall:N:S       after N tokens pause S seconds, then go on
  malformed:N     after N tokens send "data: {not json", then go on
  none            no fault (overrides a default profile's)

Replies are deterministic: "You said: " + the last user message (its first 40 words);
after a tool message, "The tool returned: " + its text. max_tokens /
max_completion_tokens cut the reply (finish_reason "length").

Tool calls come from the request, not the model name: with "tools" (and tool_choice not
"none") and a user message last, the reply is a call of the tool tool_choice names, else
of the first tool the user message names, else of the first tool. Its arguments are read
from the message as name=value (or name: value), else the schema's first enum value,
else a placeholder of the parameter's type. A message naming several tools
("use get_weather and get_time") calls each in turn, one per round trip, then answers.

Inspection: GET /mock/requests (?request_id=, ?model=) lists what was asked and how it
ended; DELETE /mock/requests clears it; GET /mock/stats; DELETE /mock/faults resets the
xK counters.
"""
