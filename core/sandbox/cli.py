"""`smsto-console sandbox`: options and the command that runs the sandbox under uvicorn.

This module imports only argparse and the settings classes at the top, because `core.cli` calls
`add_sandbox_options` every time it builds its parser.
"""

import argparse
import logging

from core.sandbox.config import (
    DEFAULT_OUTCOME_MIX,
    DEFAULT_RETRY_SCHEDULE,
    SandboxConfig,
    parse_balance,
    parse_outcome_mix,
)
from core.sandbox.faults import SCOPES, FaultConfig

log = logging.getLogger(__name__)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction from 0 to 1")
    return value


def _seconds_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of seconds"
        ) from None


def _codes(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of status codes"
        ) from None


def _mix(text: str) -> dict[str, float]:
    try:
        return parse_outcome_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _balance(text: str):
    try:
        return parse_balance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's behaviour, report and fault options to its subcommand parser."""
    defaults = SandboxConfig()
    mix = ",".join(f"{status}={weight}" for status, weight in DEFAULT_OUTCOME_MIX.items())
    add = parser.add_argument
    add(
        "--seed",
        type=int,
        help="seed for ids, fates and faults, so runs can be compared (default: random)",
    )
    add(
        "--balance",
        type=_balance,
        default=defaults.starting_balance,
        help="starting balance in EUR (default: 10000)",
    )
    add(
        "--rate-limit",
        type=int,
        default=defaults.rate_limit,
        help="requests per second before 429; 0 for none (default: 150)",
    )
    add(
        "--outcome-mix",
        type=_mix,
        default=None,
        help=f"final statuses of valid numbers, as weights (default: {mix})",
    )

    reports = parser.add_argument_group("delivery reports")
    reports.add_argument(
        "--no-reports", action="store_true", help="send no delivery reports (statuses still change)"
    )
    reports.add_argument(
        "--callback-url", help="report URL for sends without callback_url (default: none)"
    )
    reports.add_argument(
        "--webhook-secret", help="sign reports with X-SMSTo-Signature using this secret"
    )
    reports.add_argument(
        "--sign-reports",
        action="store_true",
        help="sign reports with WEBHOOK_SECRET from the settings",
    )
    reports.add_argument(
        "--report-delay-min",
        type=float,
        default=defaults.report_delay_min,
        help="seconds before each report stage, at least (default: 0.05)",
    )
    reports.add_argument(
        "--report-delay-max",
        type=float,
        default=defaults.report_delay_max,
        help="seconds before each report stage, at most (default: 0.5)",
    )
    reports.add_argument(
        "--report-timeout",
        type=float,
        default=defaults.report_timeout,
        help="seconds a receiver has to respond 200 (default: 4)",
    )
    schedule = ",".join(f"{delay:g}" for delay in DEFAULT_RETRY_SCHEDULE)
    reports.add_argument(
        "--report-retry-schedule",
        type=_seconds_list,
        default=None,
        help=f"seconds before each retry of a failed report (default: {schedule})",
    )
    reports.add_argument(
        "--report-concurrency",
        type=int,
        default=defaults.report_concurrency,
        help="reports in flight at most (default: 32)",
    )
    reports.add_argument(
        "--duplicate-reports",
        type=_fraction,
        default=0.0,
        help="fraction of reports sent twice (default: 0)",
    )
    reports.add_argument(
        "--shuffle-reports",
        action="store_true",
        help="send each batch's reports in random order, SENT and final mixed",
    )

    faults = parser.add_argument_group("fault injection (rates are fractions of requests)")
    fault_defaults = FaultConfig()
    faults.add_argument(
        "--fault-429-rate", type=_fraction, default=0.0, help="respond 429 to this fraction"
    )
    faults.add_argument(
        "--fault-429-burst", type=int, default=0, help="respond 429 to the first N requests"
    )
    faults.add_argument(
        "--fault-5xx-rate", type=_fraction, default=0.0, help="respond with a 5xx to this fraction"
    )
    faults.add_argument(
        "--fault-5xx-codes",
        type=_codes,
        default=None,
        help="5xx codes to draw from (default: 500,502,503)",
    )
    faults.add_argument(
        "--fault-5xx-applied",
        action="store_true",
        help="carry out the request before a 5xx response",
    )
    faults.add_argument(
        "--fault-slow-rate", type=_fraction, default=0.0, help="delay the response to this fraction"
    )
    faults.add_argument(
        "--fault-slow-seconds",
        type=float,
        default=fault_defaults.slow_seconds,
        help="seconds a slow response is delayed (default: 1)",
    )
    faults.add_argument(
        "--fault-timeout-rate",
        type=_fraction,
        default=0.0,
        help="carry out, then respond after --fault-timeout-seconds",
    )
    faults.add_argument(
        "--fault-timeout-seconds",
        type=float,
        default=fault_defaults.timeout_seconds,
        help="seconds before a timed-out response (default: 35)",
    )
    faults.add_argument(
        "--fault-drop-rate",
        type=_fraction,
        default=0.0,
        help="carry out, then close the connection without response",
    )
    faults.add_argument(
        "--fault-scope",
        choices=SCOPES,
        default=fault_defaults.scope,
        help="endpoints hit: send (POST /sms/send) or all",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Build the sandbox settings from parsed command-line options."""
    faults = FaultConfig(
        rate_limit_rate=args.fault_429_rate,
        rate_limit_burst=args.fault_429_burst,
        server_error_rate=args.fault_5xx_rate,
        server_error_codes=args.fault_5xx_codes or FaultConfig().server_error_codes,
        server_error_applied=args.fault_5xx_applied,
        slow_rate=args.fault_slow_rate,
        slow_seconds=args.fault_slow_seconds,
        timeout_rate=args.fault_timeout_rate,
        timeout_seconds=args.fault_timeout_seconds,
        drop_rate=args.fault_drop_rate,
        scope=args.fault_scope,
    )
    config = SandboxConfig(
        api_key=args.api_key,
        starting_balance=args.balance,
        rate_limit=args.rate_limit,
        seed=args.seed,
        reports_enabled=not args.no_reports,
        default_callback_url=args.callback_url,
        webhook_secret=args.webhook_secret or _settings_secret(args.sign_reports),
        report_delay_min=args.report_delay_min,
        report_delay_max=args.report_delay_max,
        report_timeout=args.report_timeout,
        report_concurrency=args.report_concurrency,
        duplicate_fraction=args.duplicate_reports,
        shuffle_reports=args.shuffle_reports,
        faults=faults,
    )
    if args.outcome_mix:
        config.outcome_mix = args.outcome_mix
    if args.report_retry_schedule is not None:
        config.retry_schedule = args.report_retry_schedule
    config.validate()
    return config


def _settings_secret(requested: bool) -> str | None:
    if not requested:
        return None
    from core.settings import get_settings

    secret = get_settings().webhook_secret
    if secret is None:
        raise SystemExit(
            "--sign-reports needs WEBHOOK_SECRET to be set; set it or pass --webhook-secret."
        )
    return secret.get_secret_value()


def sandbox_command(args: argparse.Namespace) -> int:
    """Run the sandbox on `args.host`:`args.port` until SIGINT or SIGTERM."""
    import uvicorn

    from core.sandbox.app import create_app

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None

    app = create_app(config)
    log.info(
        "sandbox SMS.to on http://%s:%s (reports %s, rate limit %s/s)",
        args.host, args.port, "on" if config.reports_enabled else "off", config.rate_limit or "no",
    )  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # A timeout fault may hold a request for tens of seconds; do not wait for it on exit.
            timeout_graceful_shutdown=2,
            backlog=2048,
        )
    )
    server.run()
    return 0
