"""Running totals of the delivery-report pipeline, stored in `ReportCounter` rows.

Each total changes in the same transaction as the rows it counts, so it is exact and the health
view reads a handful of rows instead of counting millions.
"""

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from core.models import ReportCounter

BODIES_ACCEPTED = "bodies_accepted"  # delivery-report bodies stored and waiting for matching
BODIES_REJECTED_AUTH = "bodies_rejected_auth"  # bad, stale or missing signature or token
BODIES_REJECTED_BODY = "bodies_rejected_body"  # not a valid report body, or too large
OPTOUTS_ACCEPTED = "optouts_accepted"
REPORTS_PARSED = "reports_parsed"  # reports read out of accepted bodies
REPORTS_MATCHED = "reports_matched"  # currently matched to a recipient (duplicates included)
REPORTS_UNMATCHED = "reports_unmatched"  # currently waiting for a recipient
REPORTS_DUPLICATE = "reports_duplicate"
REPORTS_OUT_OF_ORDER = "reports_out_of_order"

_TABLE = ReportCounter.__table__


def add_counts(executor, counts: Mapping[str, int]) -> None:
    """Add `counts` to the stored totals, creating missing rows; `executor` is a Connection or Session."""
    # Sorted by name, so that concurrent transactions (two servers, the matcher and the
    # dispatcher's rematch) lock the rows in one order and cannot deadlock on them on PostgreSQL.
    rows = [{"name": name, "value": value} for name, value in sorted(counts.items()) if value]
    if not rows:
        return

    dialect = _dialect_name(executor)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.name],
        set_={"value": _TABLE.c.value + statement.excluded.value},
    )
    executor.execute(statement, rows)


def read_counts(executor) -> dict[str, int]:
    """Return every stored total by name; a total never written is absent (read it as 0)."""
    rows = executor.execute(select(_TABLE.c.name, _TABLE.c.value)).all()
    return {name: int(value) for name, value in rows}


def _dialect_name(executor) -> str:
    bind = executor.get_bind() if hasattr(executor, "get_bind") else executor
    return bind.dialect.name
