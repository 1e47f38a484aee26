"""The report pipeline of one companion-server process: the ingest writer and the matcher.

On SQLite both run on the event loop and take turns. On other databases they run in worker
threads and share one lock around their write transactions.
"""

import threading
import time

from sqlalchemy.engine import Engine

from core.reports.ingest import IngestWriter
from core.reports.matcher import Matcher

# The ingest writer counts as busy for this long after its last commit, which makes the matcher
# pace itself during a burst of reports.
_BUSY_WINDOW_SECONDS = 0.25


class ReportPipeline:
    def __init__(
        self,
        engine: Engine,
        *,
        matcher_batch_size: int = 200,
        sweep_seconds: float = 30.0,
        linger_seconds: float = 0.002,
        store_timeout_seconds: float = 3.0,
    ) -> None:
        """`store_timeout_seconds` bounds how long a request waits for its commit before a 503;
        SMS.to gives up on a callback after 4 s, and a 503 sent before that makes it retry later."""
        self.write_lock = threading.Lock()
        self.matcher = Matcher(
            engine,
            write_lock=self.write_lock,
            batch_size=matcher_batch_size,
            sweep_seconds=sweep_seconds,
            ingest_busy=self._ingest_busy,
        )
        self.writer = IngestWriter(
            engine,
            write_lock=self.write_lock,
            linger_seconds=linger_seconds,
            timeout_seconds=store_timeout_seconds,
            on_commit=self.matcher.notify,
        )

    async def start(self) -> None:
        await self.writer.start()
        await self.matcher.start()

    async def stop(self) -> None:
        """Store what is queued, then stop the matcher; bodies it did not reach wait in the log."""
        await self.writer.stop()
        await self.matcher.stop()

    def _ingest_busy(self) -> bool:
        recent = time.monotonic() - self.writer.last_commit_at < _BUSY_WINDOW_SECONDS
        return self.writer.queued > 0 or recent
