"""Reliability: timeouts, retries, fallbacks, circuit breakers and graceful shutdown.

Only value objects are re-exported here; the attempt loop (:mod:`.attempts`) imports the
run machinery and is imported where it is used, so ``tokenwire.routes`` can depend on this
package without a cycle.
"""

from tokenwire.reliability.breaker import BreakerPolicy
from tokenwire.reliability.fallbacks import Fallback, MidStreamPolicy
from tokenwire.reliability.retry import RetryPolicy
from tokenwire.reliability.timeouts import DeadlineExceeded

__all__ = ["BreakerPolicy", "DeadlineExceeded", "Fallback", "MidStreamPolicy", "RetryPolicy"]
