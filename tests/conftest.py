"""Shared fixtures: a fresh SQLite file per test, and the case files copied under tests/data."""

import json
from pathlib import Path

import pytest

from core.db import init_db, make_engine

DATA = Path(__file__).parent / "data"


def load_case(name: str) -> dict:
    """Load `tests/data/NAME` as JSON."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def engine(tmp_path):
    """A real SQLite database file with every table created."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url():
    """An SQLAlchemy URL of a fresh database on a real PostgreSQL server started for this run."""
    import shutil
    import tempfile

    from tests.pg_server import find_bin_dir, postgres_server

    if find_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it")

    # Not under pytest's temporary folder: the server runs as the postgres user, who cannot enter it.
    base = Path(tempfile.mkdtemp(prefix="smsto-pg-"))
    base.chmod(0o755)
    try:
        with postgres_server(base) as url:
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_engine(postgres_url):
    """A PostgreSQL engine with every table created, emptied after the test."""
    engine = make_engine(postgres_url)
    init_db(engine)
    yield engine
    drop_everything(engine)
    engine.dispose()


def drop_everything(engine) -> None:
    """Drop every table, the migration version included, so the next test starts empty."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
