"""From an imported file to a queued campaign: the one launch path of the CLI and the dashboard.

The accepted rows of an import become recipients, each with its rendered text's parts and
estimated cost. Rows with a missing placeholder value block the launch, unless the operator chose
to skip them. A test send is a one-recipient campaign through this same path, so the dashboard
never talks to SMS.to itself.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Engine

from core.campaigns import LaunchRequest, LaunchResult, RecipientInput, StoreList, launch_campaign
from core.errors import LaunchError
from core.importing import ROW_COLUMNS
from core.preview import placeholders, preview_rows, render
from core.sender_id import validate_sender_id
from core.sms_parts import count_parts, describe_lone_surrogate, describe_too_many_parts

log = logging.getLogger(__name__)

_BUILT_IN_COLUMNS = set(ROW_COLUMNS)


@dataclass(frozen=True)
class LaunchOptions:
    """The operator's choices for a launch, besides the recipients."""

    message: str
    name: str = ""
    sender_id: str | None = None
    launch_key: str | None = None
    default_country: str = ""
    skip_missing_values: bool = False
    scheduled_for: datetime | None = None
    timezone: str | None = None
    list_id: int | None = None


def new_launch_key() -> str:
    """Return a fresh launch key, for a form that has not been launched yet."""
    return uuid.uuid4().hex


def recipients_from_rows(
    rows: pd.DataFrame, *, message: str, skip_missing_values: bool, default_region: str | None = None
) -> list[RecipientInput]:
    """Turn an import's accepted rows into recipients with their parts and estimated cost.

    Parts and cost come from the vectorised row preview, so a million rows take about a second.
    Raises LaunchError when rows have a problem (a placeholder without a value, more than 255
    parts) and `skip_missing_values` is not set.
    """
    accepted = rows[rows["verdict"] == "ok"]
    fields_columns = [column for column in accepted.columns if column not in _BUILT_IN_COLUMNS]
    preview = preview_rows(message, accepted, country_column="region", default_region=default_region or None)

    blocked = preview.rows["problem"].notna().to_numpy()
    if blocked.any() and not skip_missing_values:
        raise LaunchError(_blocked_message(accepted, preview.rows, blocked))

    sendable = accepted[~blocked]
    estimates = preview.rows[~blocked]
    return [
        _recipient(record, fields_columns, parts, cost)
        for record, parts, cost in zip(
            sendable.to_dict("records"), estimates["parts"].tolist(), estimates["cost"].tolist()
        )
    ]


def _blocked_message(accepted: pd.DataFrame, previews: pd.DataFrame, blocked) -> str:
    lines = accepted["line"].to_numpy()[blocked]
    first_problem = previews["problem"][blocked].iloc[0]
    shown = ", ".join(str(int(line)) for line in lines[:10])
    more = " and more" if len(lines) > 10 else ""
    rows = "1 row cannot" if len(lines) == 1 else f"{len(lines)} rows cannot"
    where = "line" if len(lines) == 1 else "lines"
    return (
        f"{rows} be sent as written ({where} {shown}{more}). The first: {first_problem} "
        "Correct those rows, or skip them (--skip-missing on the command line)."
    )


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def _recipient(record: dict, fields_columns: list[str], parts: int, cost) -> RecipientInput:
    return RecipientInput(
        phone=record["e164"],
        region=record.get("region") or None,
        line=int(record["line"]),
        fields={column: _cell(record.get(column)) for column in fields_columns},
        estimated_parts=int(parts),
        estimated_cost=cost,
    )


def build_request(rows: pd.DataFrame, *, options: LaunchOptions) -> LaunchRequest:
    """Check the message, sender ID and placeholders, and build the launch; nothing is written."""
    _check_message_text(options.message)
    sender_id = validate_sender_id(options.sender_id) if options.sender_id else None
    _check_placeholder_columns(rows, options.message)
    recipients = recipients_from_rows(
        rows,
        message=options.message,
        skip_missing_values=options.skip_missing_values,
        default_region=options.default_country,
    )

    return LaunchRequest(
        launch_key=options.launch_key or new_launch_key(),
        message=options.message,
        recipients=recipients,
        name=options.name,
        sender_id=sender_id,
        list_id=options.list_id,
        default_country=options.default_country,
        personalised=bool(placeholders(options.message)),
        scheduled_for=options.scheduled_for,
        timezone=options.timezone,
    )


def _check_message_text(message: str) -> None:
    if not message.strip():
        raise LaunchError("The message is empty; write the text to send before launching.")
    lone_surrogate = describe_lone_surrogate(message)
    if lone_surrogate:
        raise LaunchError(lone_surrogate)

    # When the fixed text alone is too long, every row is, so one error with the count is raised.
    # Rows that only their values make too long are rejected one by one by the row preview.
    fixed_parts = count_parts(render(message, {}, allow_missing=True)).parts
    too_many_parts = describe_too_many_parts(fixed_parts)
    if too_many_parts:
        raise LaunchError(too_many_parts)


def _check_placeholder_columns(rows: pd.DataFrame, message: str) -> None:
    columns = [column for column in rows.columns if column not in _BUILT_IN_COLUMNS]
    unknown = [name for name in placeholders(message) if name not in columns]
    if unknown:
        listed = ", ".join(columns) or "none besides the phone"
        raise LaunchError(
            f"The message uses {{{unknown[0]}}}, but the list has no column {unknown[0]!r} "
            f"(its columns: {listed}). Rename the placeholder or add the column to the file."
        )


def launch_rows(
    engine: Engine, *, rows: pd.DataFrame, options: LaunchOptions, store_list: StoreList | None = None
) -> LaunchResult:
    """Validate the options, build the recipients and write the campaign once per launch key.

    `store_list` writes the recipient list in the campaign's transaction (see `launch_campaign`).
    """
    return launch_campaign(engine, build_request(rows, options=options), store_list=store_list)
