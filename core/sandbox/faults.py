"""Fault injection: responses that go wrong on purpose, so clients can be tested against them.

Each fault has a rate (the fraction of requests it hits, drawn from a seeded generator). Faults
hit the sending endpoint (`POST /sms/send`) unless `scope` is "all", which extends them to every
SMS.to endpoint; the `/_sandbox/` control endpoints are never hit.

| fault | the request is applied | what the client sees |
| --- | --- | --- |
| rate limit (429) | no | HTTP 429 |
| server error (5xx) | no, unless `server_error_applied` | HTTP 500, 502 or 503 |
| slow | yes | the normal response after `slow_seconds` |
| timeout | yes, before the wait | the normal response after `timeout_seconds`, usually too late |
| drop | yes | the connection closes without any response |
"""

import logging
import random
from dataclasses import dataclass, field, fields

log = logging.getLogger(__name__)

RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
SLOW = "slow"
TIMEOUT = "timeout"
DROP = "drop"

SCOPES = ("send", "all")


@dataclass
class FaultConfig:
    """Fault rates and timings; every rate is a fraction of requests from 0 to 1."""

    rate_limit_rate: float = 0.0
    # The next N requests in scope get 429, then the count drops back to 0.
    rate_limit_burst: int = 0
    server_error_rate: float = 0.0
    server_error_codes: list[int] = field(default_factory=lambda: [500, 502, 503])
    server_error_applied: bool = False
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 35.0
    drop_rate: float = 0.0
    scope: str = "send"

    def validate(self) -> None:
        """Raise ValueError naming the first field whose value cannot be used."""
        for name in (
            "rate_limit_rate",
            "server_error_rate",
            "slow_rate",
            "timeout_rate",
            "drop_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Fault {name} is {value}; give a fraction from 0 to 1.")
        for name in ("slow_seconds", "timeout_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"Fault {name} is {getattr(self, name)}; give 0 seconds or more.")
        if self.rate_limit_burst < 0:
            raise ValueError(f"Fault rate_limit_burst is {self.rate_limit_burst}; give 0 or more.")
        if not self.server_error_codes or any(not 500 <= c <= 599 for c in self.server_error_codes):
            raise ValueError(
                f"Fault server_error_codes {self.server_error_codes} must be 5xx codes."
            )
        if self.scope not in SCOPES:
            raise ValueError(
                f"Fault scope {self.scope!r} is unknown; use one of {', '.join(SCOPES)}."
            )

    def to_dict(self) -> dict:
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class Fault:
    """One decision: which fault hits this request, with its status code or wait."""

    kind: str
    status_code: int = 0
    seconds: float = 0.0
    # Whether the request is carried out (added to the ledger) despite the fault.
    applied: bool = False


class FaultInjector:
    """Decide per request which fault, if any, hits it; counts each kind it injects."""

    def __init__(self, *, seed: int | None) -> None:
        self.counts: dict[str, int] = {RATE_LIMIT: 0, SERVER_ERROR: 0, SLOW: 0, TIMEOUT: 0, DROP: 0}
        self._random = random.Random(seed)

    @staticmethod
    def in_scope(config: FaultConfig, method: str, path: str) -> bool:
        if config.scope == "all":
            return True
        return method == "POST" and path == "/sms/send"

    def decide(self, config: FaultConfig) -> Fault | None:
        """Draw the fault for one request in scope, or None for a normal response."""
        fault = self._draw(config)
        if fault is not None:
            self.counts[fault.kind] += 1
            log.debug("injecting fault %s", fault)
        return fault

    def _draw(self, config: FaultConfig) -> Fault | None:
        if config.rate_limit_burst > 0:
            config.rate_limit_burst -= 1
            return Fault(RATE_LIMIT, status_code=429)

        draw = self._random.random
        if draw() < config.rate_limit_rate:
            return Fault(RATE_LIMIT, status_code=429)
        if draw() < config.server_error_rate:
            code = self._random.choice(config.server_error_codes)
            return Fault(SERVER_ERROR, status_code=code, applied=config.server_error_applied)
        if draw() < config.drop_rate:
            return Fault(DROP, applied=True)
        if draw() < config.timeout_rate:
            return Fault(TIMEOUT, seconds=config.timeout_seconds, applied=True)
        if draw() < config.slow_rate:
            return Fault(SLOW, seconds=config.slow_seconds, applied=True)
        return None
