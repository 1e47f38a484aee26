"""Connections that fail soon on a lock instead of waiting, for work on the event loop.

The companion server writes report bodies and matches them on its event loop (see
`core.reports.ingest`). A connection from the pool waits up to the engine's busy timeout when
another process holds SQLite's write lock, which would freeze every request. These connections
fail at once instead, and the caller retries after an asynchronous sleep. On PostgreSQL they
wait at most POSTGRES_LOCK_TIMEOUT_MS, and `limit_statement_time` bounds a transaction's statements.
"""

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

# Far below the ingest writer's 2.5 s wait for the write lock, so the writer gets its turn.
POSTGRES_LOCK_TIMEOUT_MS = 500


def open_nonblocking(engine: Engine, *, synced_commits: bool = False) -> Connection:
    """Open a connection that does not wait for locks; close it with `discard`, not into the pool.

    On SQLite its busy timeout is 0. On PostgreSQL it waits POSTGRES_LOCK_TIMEOUT_MS for a lock.

    Its commits also never run a WAL checkpoint, because a checkpoint writes and syncs the
    database file and would stall the event loop. `checkpoint_wal` does that from a worker thread.
    With `synced_commits`, each commit syncs the WAL to disk (synchronous=FULL), so a committed
    transaction survives a power cut as well as a crash of the process.
    """
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        # The matcher holds the process's write lock while it works, so an unbounded wait for a
        # row lock (an operator's LOCK TABLE recipient, say) would make every webhook respond
        # with 503. The statement fails after this wait instead, and the caller retries later.
        connection.exec_driver_sql(f"SET lock_timeout = {POSTGRES_LOCK_TIMEOUT_MS}")
        connection.commit()
    if engine.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA busy_timeout = 0")
        connection.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        if synced_commits:
            connection.exec_driver_sql("PRAGMA synchronous = FULL")
        connection.commit()
    return connection


def checkpoint_wal(engine: Engine) -> None:
    """Copy committed WAL pages into the SQLite database file without blocking other connections."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        connection.commit()


def discard(connection: Connection | None) -> None:
    """Close `connection` without returning it to the pool, where its busy timeout would spread."""
    if connection is None:
        return
    connection.invalidate()
    connection.close()


def is_lock_error(error: OperationalError) -> bool:
    """Tell whether SQLite refused because another connection holds a lock (a retry will do)."""
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def limit_statement_time(executor: Connection | Session, milliseconds: int) -> None:
    """Make PostgreSQL cancel each statement of the current transaction after `milliseconds`.

    On other databases this does nothing.
    """
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    if bind.dialect.name != "postgresql":
        return
    # SET takes no bound parameters, so the value is formatted as an int.
    executor.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))
