"""Engine creation, schema migrations and sessions.

SQLite runs in WAL mode, so that readers do not block the writer.
"""

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from core import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)

FIRST_REVISION = "0001"
# Any fixed 64-bit number; it only has to differ from other advisory locks on the same server.
_SCHEMA_LOCK_KEY = 7_245_118_300_221


def make_engine(url: str | URL, **pool_options) -> Engine:
    """Create an engine for `url`, creating the SQLite file's folder when needed.

    `pool_options` (such as pool_size) apply to server databases only. SQLite keeps its defaults.

    Database errors leave out the statement's parameters, because these errors get logged and
    the parameters contain phone numbers and report bodies.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool_options)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

    # A busy timeout lets the companion server, the dispatcher and the dashboard share one file.
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable in WAL mode against process crashes, which is what a 200 promises SMS.to;
    # only a power loss can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest migration, creating it in an empty database.

    An empty database gets every table at once and is stamped with the newest revision, which is
    faster than replaying each migration. Any other database is upgraded. Processes that start
    together (companion server and dashboard) take a lock first, so only one of them migrates.
    """
    with _schema_lock(engine), engine.connect() as connection:
        config = _alembic_config(connection)
        tables = set(inspect(connection).get_table_names())

        if not tables:
            SQLModel.metadata.create_all(connection)
            command.stamp(config, "head")
        elif "alembic_version" not in tables:
            # A database created before migrations existed has the first revision's schema.
            command.stamp(config, FIRST_REVISION)
            command.upgrade(config, "head")
        else:
            command.upgrade(config, "head")
        connection.commit()

    log.info("database ready at %s", engine.url.render_as_string(hide_password=True))


def _alembic_config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "core:migrations")
    config.attributes["connection"] = connection
    return config


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        yield from _file_lock(engine)
        return

    # A session-level advisory lock on PostgreSQL; closing the connection would release it too.
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK_KEY})


def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return

    with open(f"{database}.schema-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
