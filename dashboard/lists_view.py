"""Sections of the Lists page: the stored lists, one list's rows by verdict, and its rows' cache."""

import logging

import pandas as pd
import streamlit as st

from core.importing import (
    OK,
    ROW_COLUMNS,
    VERDICTS,
    count_list_rows,
    read_list_rows,
    rejected_rows,
    rejected_rows_csv,
)
from core.models import RecipientList
from core.redact import mask_phone
from dashboard.address import keep_in_address
from dashboard.compose import count_noun
from dashboard.state import db_session

log = logging.getLogger(__name__)

_ROWS = "list_rows"
_SHOWN = 500


def lists_frame(lists: list[RecipientList]) -> pd.DataFrame:
    rows = [
        {
            "id": item.id,
            "name": item.name,
            "created": item.created_at,
            "file": item.source_filename,
            "country": item.default_country,
            "rows": item.row_count,
            "ok": item.accepted_count,
            "invalid": item.rejected_count,
            "duplicate": item.duplicate_count,
            "suppressed": item.suppressed_count,
        }
        for item in lists
    ]
    return pd.DataFrame(rows)


def pick_list(lists: list[RecipientList]) -> RecipientList:
    """Return the list named by `?list=` or chosen in the picker, keeping the address in step."""
    by_id = {item.id: item for item in lists}
    requested = st.query_params.get("list", "")
    ids = list(by_id)
    index = ids.index(int(requested)) if requested.isdigit() and int(requested) in by_id else 0
    chosen = st.selectbox(
        "List", ids, index=index, format_func=lambda key: f"#{key} {by_id[key].name}"
    )
    keep_in_address("list", str(chosen))
    return by_id[chosen]


def load_rows(list_id: int) -> pd.DataFrame:
    """Read a stored list's rows once per session and list."""
    cached = st.session_state.get(_ROWS)
    if cached is None or cached[0] != list_id:
        with db_session() as session:
            cached = (list_id, read_list_rows(session, list_id=list_id))
        st.session_state[_ROWS] = cached
    return cached[1]


def render_rows_by_verdict(recipient_list: RecipientList, rows: pd.DataFrame) -> None:
    with db_session() as session:
        counts = count_list_rows(session, list_id=recipient_list.id)
    columns = st.columns(len(VERDICTS))
    for column, verdict in zip(columns, VERDICTS):
        column.metric(verdict.replace("_", " "), counts[verdict])

    verdict = st.selectbox("Show rows", VERDICTS, key="list_verdict")
    chosen = rows[rows["verdict"] == verdict]
    st.dataframe(_rows_table(chosen, verdict).head(_SHOWN), hide_index=True)
    st.caption(
        f"{min(len(chosen), _SHOWN)} of {count_noun(len(chosen), 'row')}; accepted numbers masked."
    )

    if sum(counts.values()) - counts[OK]:
        with db_session() as session:
            rejected = rejected_rows(session, list_id=recipient_list.id)
        st.download_button(
            f"Download the rejected rows as CSV ({count_noun(len(rejected), 'row')})",
            data=rejected_rows_csv(rejected),
            file_name=f"list-{recipient_list.id}-rejected-rows.csv",
            mime="text/csv",
            on_click="ignore",
            key="download_list_rejected",
        )


def _rows_table(rows: pd.DataFrame, verdict: str) -> pd.DataFrame:
    fields = [column for column in rows.columns if column not in ROW_COLUMNS]
    if verdict == OK:
        table = rows[["line", "region", *fields]].copy()
        table.insert(1, "phone", rows["e164"].map(mask_phone))
        return table
    return rows[["line", "raw_phone", "verdict", "reason", *fields]]
