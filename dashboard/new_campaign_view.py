"""Sections of the New campaign page: the import, the message checks and the per-row preview."""

import logging

import pandas as pd
import phonenumbers
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.errors import InputError
from core.importing import (
    MISSING_VALUE,
    OK,
    ROW_COLUMNS,
    VERDICTS,
    ImportResult,
    check_placeholders,
    rejected_rows_csv,
)
from core.preview import RowsPreview
from dashboard import compose, launch_form

log = logging.getLogger(__name__)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_REJECTED_SHOWN = 500
_VERDICT_LABELS = {verdict: verdict.replace("_", " ") for verdict in VERDICTS}


def country_picker(default: str) -> str:
    index = REGIONS.index(default) if default in REGIONS else REGIONS.index("CY")
    return st.selectbox(
        "Default country",
        REGIONS,
        index=index,
        key="country",
        format_func=lambda region: f"{region} (+{phonenumbers.country_code_for_region(region)})",
        help="Country of the numbers written without an international prefix.",
    )


def import_with_column_choice(upload: UploadedFile | None, country: str) -> ImportResult | None:
    """Import the upload with the detected phone column, or the one the operator picks instead."""
    if upload is None:
        st.info("Upload a CSV or Excel file with one recipient per row and a phone column.")
        return None

    try:
        detected = launch_form.import_upload(upload, country=country, phone_column=None)
        columns = detected.columns
        chosen = st.selectbox(
            "Phone column",
            columns,
            index=columns.index(detected.phone_column),
            key=f"phone_column_{upload.file_id}",
            help="Detected from the header and the values; pick another column if it is wrong.",
        )
        result = detected
        if chosen != detected.phone_column:
            result = launch_form.import_upload(upload, country=country, phone_column=chosen)
    except InputError as exc:
        st.error(str(exc))
        return None

    st.caption(_format_text(result))
    return result


def _format_text(result: ImportResult) -> str:
    if result.file_format == "xlsx":
        source = f"Excel sheet {result.sheet!r}"
    else:
        source = f"CSV, {result.encoding}, delimiter {result.delimiter!r}"
    header = "with a header row" if result.has_header else "without a header row"
    return f"Read as {source}, {header}: {compose.count_noun(len(result.rows), 'row')}."


def placeholder_help(result: ImportResult | None) -> str:
    if result is None or not result.field_columns:
        return "Upload a list with more columns to personalise the message with {column}."
    return "Write {column} to insert a value from the list."


def render_placeholders(result: ImportResult | None) -> None:
    if result is not None and result.field_columns:
        names = ", ".join(f"`{{{name}}}`" for name in result.field_columns)
        st.caption(f"Placeholders from the list: {names}")


def render_sender_check(sender: str | None, error: str | None) -> None:
    if error:
        st.error(error)
    elif sender:
        st.caption(f"Sender ID {sender!r} is valid.")
    else:
        st.caption("No sender ID: SMS.to uses the account's default.")


def check_typed_message(message: str, rows: pd.DataFrame | None, country: str):
    """Check the message against the first accepted row of the list, if there is one."""
    fields = first_row_fields(rows)
    line = None
    if fields is not None:
        line = int(rows[rows["verdict"] == OK]["line"].iloc[0])
    return compose.check_message(message, sample_fields=fields, sample_line=line, region=country)


def first_row_fields(rows: pd.DataFrame | None) -> dict[str, str] | None:
    """Return the placeholder values of the first accepted row, or None without one."""
    if rows is None:
        return None
    accepted = rows[rows["verdict"] == OK]
    if accepted.empty:
        return None
    first = accepted.iloc[0]
    return {name: str(first[name]) for name in rows.columns if name not in ROW_COLUMNS}


def render_message_check(message: str, check: compose.MessageCheck) -> None:
    if check.problem:
        (st.info if not message.strip() else st.error)(check.problem)
        return

    info = check.info
    columns = st.columns(3)
    columns[0].metric("Encoding", info.encoding)
    columns[1].metric("Parts", info.parts)
    columns[2].metric(f"Units ({info.unit}s)", info.units)
    if check.sample_line is not None:
        st.caption(f"Counted for the first accepted row (line {check.sample_line}).")

    if check.ucs2_characters:
        st.warning(
            "These characters force UCS-2, which fits 70 characters in one part instead of 160:"
        )
        st.html(compose.highlight_html(message, check.ucs2_characters))
        st.dataframe(compose.ucs2_table(check.ucs2_characters), hide_index=True)


def rows_for_message(
    rows: pd.DataFrame | None, check: compose.MessageCheck
) -> tuple[pd.DataFrame | None, str | None]:
    """Return the list's rows with `missing_value` verdicts for the message's placeholders."""
    if rows is None:
        return None, None
    if check.problem or not check.placeholders:
        return rows, None
    try:
        return check_placeholders(rows, check.placeholders), None
    except InputError as exc:
        return rows, str(exc)


def sendable_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the rows the message can go to: accepted, even if missing a placeholder value."""
    return rows[rows["verdict"].isin([OK, MISSING_VALUE])]


def preview_for_message(
    rows: pd.DataFrame | None,
    message: str,
    country: str,
    check: compose.MessageCheck,
    placeholder_error: str | None,
) -> RowsPreview | None:
    """Count the parts and cost of every row the message may go to, or None when it cannot."""
    if rows is None or placeholder_error or check.problem:
        return None
    return compose.preview_campaign(message, sendable_rows(rows), region=country)


def render_rows_preview(
    rows: pd.DataFrame | None,
    preview: RowsPreview | None,
    message: str,
    country: str,
    placeholder_error: str | None,
    *,
    show_verdicts: bool = True,
) -> None:
    if rows is None:
        return
    if show_verdicts:
        render_verdicts(rows)
    if placeholder_error:
        st.error(placeholder_error)
        return
    if preview is None:
        return

    candidates = sendable_rows(rows)
    st.subheader("Preview per row")
    st.dataframe(compose.sample_preview(message, candidates, region=country), hide_index=True)
    shown = compose.count_noun(min(len(candidates), compose.SAMPLE_ROWS), "row")
    st.caption(f"The first {shown} of the list; costs in EUR, none for a row that is skipped.")
    st.subheader("Totals per country")
    st.dataframe(compose.totals_table(preview), hide_index=True)
    st.caption(totals_text(preview))


def totals_text(preview: RowsPreview) -> str:
    sent = compose.count_noun(preview.recipients, "row")
    if not preview.skipped:
        return f"The totals cover all {sent}."
    skipped = compose.count_noun(preview.skipped, "row")
    verb = "is" if preview.skipped == 1 else "are"
    return (
        f"The totals cover the {sent} that will be sent. {skipped} with a problem (such as a "
        f"missing placeholder value) {verb} skipped and not counted."
    )


def render_verdicts(rows: pd.DataFrame) -> None:
    st.subheader("Import verdicts")
    counts = rows["verdict"].value_counts()
    columns = st.columns(len(VERDICTS))
    for column, verdict in zip(columns, VERDICTS):
        column.metric(_VERDICT_LABELS[verdict], int(counts.get(verdict, 0)))

    rejected = rows[rows["verdict"] != OK]
    if rejected.empty:
        st.caption("Every row can be sent.")
        return
    shown = rejected[["line", "raw_phone", "verdict", "reason"]].head(_REJECTED_SHOWN)
    st.dataframe(shown, hide_index=True)
    st.download_button(
        f"Download the rejected rows as CSV ({compose.count_noun(len(rejected), 'row')})",
        data=rejected_rows_csv(rows),
        file_name="rejected-rows.csv",
        mime="text/csv",
        on_click="ignore",
        key="download_rejected",
    )


def render_missing_values(preview: RowsPreview | None, rows: pd.DataFrame | None) -> bool:
    """Flag rows with a blank placeholder value and return whether the operator skips them."""
    if preview is None or rows is None:
        return False
    missing = rows[rows["verdict"] == MISSING_VALUE]
    if missing.empty:
        return False

    lines = ", ".join(str(line) for line in missing["line"].head(10))
    more = "…" if len(missing) > 10 else ""
    st.warning(
        f"Rows with no value for a placeholder the message uses: {len(missing)} "
        f"(lines {lines}{more}); the rejected rows above give each reason."
    )
    return st.checkbox(
        f"Skip the rows with a missing value ({len(missing)}) and send to the others",
        key="skip_missing",
    )
