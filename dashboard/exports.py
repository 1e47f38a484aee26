"""CSV exports of a campaign's recipients, built on request from batches of database rows."""

import csv
import io
import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.campaign_stats import iter_recipients
from core.importing import neutralise_cell
from dashboard.tables import RECIPIENT_COLUMNS, recipients_frame

log = logging.getLogger(__name__)

_BATCH = 5000


def recipients_csv(engine: Engine, *, campaign_id: int, full_phone: bool) -> bytes:
    """Return every recipient of the campaign as UTF-8 CSV, with spreadsheet formulas neutralised.

    Phones are masked unless `full_phone` is set. Rows are read in batches, so only the CSV text
    grows with the campaign, never a list of row objects.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RECIPIENT_COLUMNS)

    with Session(engine) as session:
        batch = []
        for recipient in iter_recipients(session, campaign_id=campaign_id, batch_size=_BATCH):
            batch.append(recipient)
            if len(batch) == _BATCH:
                _write_rows(writer, batch, full_phone)
                batch = []
        _write_rows(writer, batch, full_phone)

    log.info("exported campaign %s recipients (full phones: %s)", campaign_id, full_phone)
    # A BOM lets spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _write_rows(writer, recipients, full_phone: bool) -> None:
    frame = recipients_frame(recipients, full_phone=full_phone)
    for values in frame.itertuples(index=False):
        writer.writerow([neutralise_cell(value) for value in values])


def recipients_csv_callback(
    engine: Engine, *, campaign_id: int, full_phone: bool
) -> Callable[[], bytes]:
    """Return a no-argument callable for `st.download_button`, so the CSV is built only on click."""

    def build() -> bytes:
        return recipients_csv(engine, campaign_id=campaign_id, full_phone=full_phone)

    return build
