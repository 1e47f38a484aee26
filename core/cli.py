"""The `smsto-console` command line, for operators who script their work.

Each subcommand is registered by an `_add_*` function and runs a handler that imports its module
lazily, so `smsto-console preview` does not pay for starting a database or a web server.
"""

import argparse
import logging
import sys
from collections.abc import Callable

from core.errors import InputError, LaunchError, NotFoundError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sandbox", help="run the sandbox SMS.to provider on loopback")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    parser.add_argument("--api-key", default="sandbox", help="the only API key it accepts")
    from core.sandbox.cli import add_sandbox_options  # light: argparse and dataclasses only

    add_sandbox_options(parser)
    parser.set_defaults(handler=_lazy("core.sandbox.cli", "sandbox_command"))


def _add_serve(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the companion server (webhooks, health, dispatcher)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument(
        "--no-dispatcher", action="store_true", help="receive reports only; run `dispatch` elsewhere"
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log a line per request (one per report)"
    )
    parser.set_defaults(handler=_lazy("core.runner", "serve_command"))


def _add_dispatch(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dispatch", help="run the dispatcher alone, sending queued campaigns")
    parser.add_argument("--once", action="store_true", help="send what is queued, then exit")
    parser.set_defaults(handler=_lazy("core.runner", "dispatch_command"))


def _add_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="start sandbox, companion server and dashboard together")
    parser.add_argument("--server-port", type=int, default=8000, help="companion server port")
    parser.add_argument("--sandbox-port", type=int, default=8765, help="sandbox provider port")
    parser.add_argument("--dashboard-port", type=int, default=8501, help="dashboard port")
    parser.set_defaults(handler=_lazy("core.runner", "run_command"))


def _add_launch(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("launch", help="import a recipient file and queue a campaign on it")
    parser.add_argument("file", help="CSV or XLSX file with a phone column")
    parser.add_argument("--message", required=True, help="message text; {column} placeholders allowed")
    parser.add_argument("--country", help="default country for national numbers (ISO code, e.g. CY)")
    parser.add_argument("--phone-column", help="column holding the phone numbers (default: detected)")
    parser.add_argument("--sender-id", help="sender ID (default: SMSTO_SENDER_ID)")
    parser.add_argument("--name", help="campaign name (default: the file name)")
    parser.add_argument("--launch-key", help="idempotency key: a second launch with it changes nothing")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="skip rows with an empty value for a placeholder instead of refusing the launch",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_lazy("core.campaign_cli", "launch_command"))


def _add_status(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="print a campaign's counts per status and its cost")
    parser.add_argument("campaign_id", type=int, help="the campaign's id, as `launch` printed it")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_lazy("core.campaign_cli", "status_command"))


def _add_preview(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("preview", help="print a message's encoding, parts and UCS-2 characters")
    parser.add_argument(
        "--message",
        required=True,
        help="message text as `launch` takes it: {{ sends {, and {column} placeholders count as empty",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_lazy("core.preview_cli", "preview_command"))


def _add_import(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="check a recipient file and store it as a list",
        description=(
            "Read FILE (CSV, TSV or XLSX), find its phone column, normalise every number to E.164 "
            "and print each row's verdict. The list is stored in the database and its id printed, "
            "unless --no-store is given. Exit code 0 when the file was read, even with rejected "
            "rows; 2 when it could not be read."
        ),
    )
    parser.add_argument("file", help="CSV, TSV or XLSX file with a phone column")
    parser.add_argument("--country", help="ISO code for numbers without a country code, e.g. CY")
    parser.add_argument("--phone-column", help="phone column's name or 1-based number (default: detected)")
    parser.add_argument("--sheet", help="workbook sheet to read (default: the first with a phone column)")
    parser.add_argument("--name", help="name of the stored list (default: the file name)")
    parser.add_argument("--no-store", action="store_true", help="only check the file; store nothing")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.set_defaults(handler=_lazy("core.importing.cli", "import_command"))


def _lazy(module: str, name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return handler


REGISTRARS = [
    _add_sandbox, _add_serve, _add_dispatch, _add_run, _add_launch, _add_status, _add_preview,
    _add_import,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsto-console", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(sub)
    return parser


# Servers log their starts, stops and retries; one-shot commands print only their result.
_LONG_RUNNING = {"sandbox", "serve", "dispatch", "run"}


def _log_level(args: argparse.Namespace) -> int:
    if args.verbose:
        return logging.DEBUG
    return logging.INFO if args.command in _LONG_RUNNING else logging.WARNING


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=_log_level(args),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # httpx logs every request at INFO, which in the sandbox means a line per delivery report.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    try:
        return args.handler(args)
    except (InputError, LaunchError, NotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
