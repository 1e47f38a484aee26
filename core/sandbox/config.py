"""Settings of one sandbox run, from command-line options and changed at run time by JSON.

`POST /_sandbox/config` takes a JSON object with any of the `RUNTIME_FIELDS` and the fault
settings under "faults"; fields left out keep their values.
"""

import copy
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation

from core.sandbox.faults import FaultConfig
from core.statuses import FINAL

# Default fate of a recipient whose number is valid: most are delivered, a few are not.
DEFAULT_OUTCOME_MIX = {"DELIVERED": 0.9, "FAILED": 0.04, "UNDELIVERED": 0.03, "EXPIRED": 0.03}
DEFAULT_RETRY_SCHEDULE = [1.0, 2.0, 4.0, 8.0]


@dataclass
class SandboxConfig:
    """Settings of a sandbox run; money in EUR, times in seconds."""

    api_key: str = "sandbox"
    starting_balance: Decimal = Decimal(10000)
    # Requests per second over all SMS.to endpoints; 0 turns the limit off.
    rate_limit: int = 150
    # Seeds ids, fates and fault draws; None draws a fresh seed.
    seed: int | None = None
    outcome_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OUTCOME_MIX))
    reports_enabled: bool = True
    # Where reports of a send without callback_url go; None drops them unsent.
    default_callback_url: str | None = None
    webhook_secret: str | None = None
    report_delay_min: float = 0.05
    report_delay_max: float = 0.5
    # A report that gets no HTTP 200 within this time counts as failed and is retried.
    report_timeout: float = 4.0
    # Wait before each retry; SMS.to waits 1 h, 2 h, 4 h, ..., compressed here to seconds.
    retry_schedule: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE))
    report_concurrency: int = 32
    duplicate_fraction: float = 0.0
    shuffle_reports: bool = False
    # E.164 numbers that opted out: they get UNSUBSCRIBED unless a send sets bypass_optout.
    optouts: list[str] = field(default_factory=list)
    # Contact lists for sends with list_id, keyed by the id as a string.
    contact_lists: dict[str, list[str]] = field(default_factory=dict)
    faults: FaultConfig = field(default_factory=FaultConfig)

    def validate(self) -> None:
        """Raise ValueError naming the first setting whose value cannot be used."""
        validate_outcome_mix(self.outcome_mix)
        if self.rate_limit < 0:
            raise ValueError(f"rate_limit is {self.rate_limit}; give 0 (no limit) or more.")
        if not 0 <= self.report_delay_min <= self.report_delay_max:
            raise ValueError(
                f"Report delays {self.report_delay_min}..{self.report_delay_max} s are not an "
                "interval; give 0 <= report_delay_min <= report_delay_max."
            )
        if self.report_timeout <= 0 or self.report_concurrency < 1:
            raise ValueError("report_timeout must be above 0 s and report_concurrency at least 1.")
        if any(delay < 0 for delay in self.retry_schedule):
            raise ValueError(f"retry_schedule {self.retry_schedule} has a negative delay.")
        if not 0.0 <= self.duplicate_fraction <= 1.0:
            raise ValueError(f"duplicate_fraction is {self.duplicate_fraction}; give 0 to 1.")
        self.faults.validate()

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready values, without the API key and webhook secret."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["starting_balance"] = str(self.starting_balance)
        data["faults"] = self.faults.to_dict()
        data["api_key"] = "<set>"
        data["webhook_secret"] = "<set>" if self.webhook_secret else None
        return data

    def copy(self) -> "SandboxConfig":
        return copy.deepcopy(self)


# Settings that `POST /_sandbox/config` may change, with the type each must have.
RUNTIME_FIELDS: dict[str, type | tuple[type, ...]] = {
    "api_key": str,
    "rate_limit": int,
    "outcome_mix": dict,
    "reports_enabled": bool,
    "default_callback_url": (str, type(None)),
    "webhook_secret": (str, type(None)),
    "report_delay_min": (int, float),
    "report_delay_max": (int, float),
    "report_timeout": (int, float),
    "retry_schedule": list,
    "duplicate_fraction": (int, float),
    "shuffle_reports": bool,
    "optouts": list,
    "contact_lists": dict,
}


def validate_outcome_mix(mix: dict[str, float]) -> None:
    """Raise ValueError unless the mix maps final statuses to weights with a positive sum."""
    if not mix:
        raise ValueError("The outcome mix is empty; give weights such as DELIVERED=0.9,FAILED=0.1.")
    for status, weight in mix.items():
        if status not in FINAL:
            raise ValueError(
                f"Outcome {status!r} is not a final status; use {', '.join(sorted(FINAL))}."
            )
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            raise ValueError(f"Outcome {status} has weight {weight!r}; give a number of 0 or more.")
    if sum(mix.values()) <= 0:
        raise ValueError("The outcome mix weights add up to 0; give at least one positive weight.")


def parse_outcome_mix(text: str) -> dict[str, float]:
    """Parse "DELIVERED=0.9,FAILED=0.1" into a mix; raise ValueError naming a bad entry."""
    mix: dict[str, float] = {}
    for entry in filter(None, (item.strip() for item in text.split(","))):
        status, _, weight = entry.partition("=")
        try:
            mix[status.strip().upper()] = float(weight)
        except ValueError:
            raise ValueError(
                f"Outcome {entry!r} is not STATUS=WEIGHT, e.g. DELIVERED=0.9."
            ) from None
    validate_outcome_mix(mix)
    return mix


def parse_balance(value: object) -> Decimal:
    """Parse a balance in EUR; raise ValueError unless it is a finite amount of 0 or more."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"Balance {value!r} is not an amount; give EUR such as 10000.") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"Balance {value!r} must be a finite amount of 0 or more.")
    return amount


def apply_update(config: SandboxConfig, data: dict) -> None:
    """Apply a JSON update to `config` in place; raise ValueError and change nothing if invalid."""
    updated = config.copy()
    unknown = set(data) - set(RUNTIME_FIELDS) - {"faults"}
    if unknown:
        known = ", ".join(sorted(RUNTIME_FIELDS) + ["faults"])
        raise ValueError(
            f"Unknown settings {sorted(unknown)}; the settings that can change: {known}."
        )

    for name, value in data.items():
        if name == "faults":
            _update_faults(updated.faults, value)
            continue
        if not isinstance(value, RUNTIME_FIELDS[name]) or _is_bool_for_number(name, value):
            raise ValueError(f"Setting {name} has the wrong type ({type(value).__name__}).")
        setattr(updated, name, _normalise(name, value))

    updated.validate()
    for item in fields(config):
        setattr(config, item.name, getattr(updated, item.name))


def _update_faults(faults: FaultConfig, data: object) -> None:
    if not isinstance(data, dict):
        raise TypeError("Setting faults must be a JSON object of fault settings.")
    known = {item.name: item for item in fields(faults)}
    for name, value in data.items():
        if name not in known:
            raise ValueError(f"Unknown fault setting {name!r}; known: {', '.join(sorted(known))}.")
        default = getattr(FaultConfig(), name)
        if isinstance(value, bool) != isinstance(default, bool):
            raise ValueError(f"Fault setting {name} has the wrong type ({type(value).__name__}).")
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if not isinstance(value, type(default)):
            raise TypeError(f"Fault setting {name} has the wrong type ({type(value).__name__}).")
        setattr(faults, name, value)


def _is_bool_for_number(name: str, value: object) -> bool:
    # bool is a subclass of int, so `true` would otherwise pass as a rate or a delay.
    return isinstance(value, bool) and RUNTIME_FIELDS[name] is not bool


def _normalise(name: str, value: object) -> object:
    if name == "outcome_mix":
        return {str(status).upper(): weight for status, weight in value.items()}
    if name == "retry_schedule":
        return [float(delay) for delay in value]
    if name == "contact_lists":
        return {str(key): [str(phone) for phone in phones] for key, phones in value.items()}
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and RUNTIME_FIELDS[name] == (int, float)
    ):
        return float(value)
    return value
