"""The report pipeline of one companion-server process: the ingest writer, the matcher and, on
SQLite, a WAL checkpointer.

On SQLite the writer and the matcher run on the event loop and take turns, and the checkpoint
runs in a worker thread. On other databases they run in worker threads and share one lock around
their write transactions.
"""

import asyncio
import contextlib
import logging
import threading
import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from core.reports.connections import checkpoint_wal
from core.reports.ingest import IngestWriter
from core.reports.matcher import Matcher

log = logging.getLogger(__name__)

# The ingest writer counts as busy for this long after its last commit, which makes the matcher
# pace itself during a burst of reports.
_BUSY_WINDOW_SECONDS = 0.25
_CHECKPOINT_SECONDS = 1.0


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
        """`store_timeout_seconds` bounds how long a request waits for its commit before a 503.
        SMS.to gives up on a callback after 4 s, and a 503 sent before that makes it retry later."""
        self._engine = engine
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
        self._checkpointer: asyncio.Task | None = None

    async def start(self) -> None:
        await self.writer.start()
        await self.matcher.start()
        if self._engine.dialect.name == "sqlite":
            self._checkpointer = asyncio.create_task(self._checkpoint_often(), name="wal-checkpoint")

    async def stop(self) -> None:
        """Store what is queued, then stop the matcher; bodies it did not reach wait in the log."""
        await self.writer.stop()
        await self.matcher.stop()
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer

    def _ingest_busy(self) -> bool:
        recent = time.monotonic() - self.writer.last_commit_at < _BUSY_WINDOW_SECONDS
        return self.writer.queued > 0 or recent

    async def _checkpoint_often(self) -> None:
        # The writer's and matcher's connections never checkpoint (see open_nonblocking), so the
        # WAL would grow without bound if nothing else did.
        while True:
            await asyncio.sleep(_CHECKPOINT_SECONDS)
            try:
                await asyncio.to_thread(checkpoint_wal, self._engine)
            except OperationalError as error:
                log.warning("WAL checkpoint failed, retrying in %.0f s: %s", _CHECKPOINT_SECONDS, error)
