"""Schema migrations: the migrations build exactly the tables the models describe."""

import subprocess
import sys

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from core.db import _alembic_config, init_db, make_engine
from tests.conftest import drop_everything
from tests.processes import ROOT


def _migrate_from_scratch(engine) -> None:
    with engine.connect() as connection:
        command.upgrade(_alembic_config(connection), "head")
        connection.commit()


def _schema_differences(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def _versions(engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]


def test_migrations_sqlite_match_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    _migrate_from_scratch(engine)

    assert _schema_differences(engine) == []


@pytest.mark.postgres
def test_migrations_postgres_match_models(postgres_url):
    engine = make_engine(postgres_url)
    try:
        _migrate_from_scratch(engine)
        assert _schema_differences(engine) == []
    finally:
        drop_everything(engine)
        engine.dispose()


def test_init_db_stamps_new_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    init_db(engine)
    init_db(engine)

    assert len(_versions(engine)) == 1


def test_init_db_adopts_database_without_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SQLModel.metadata.create_all(create_engine(url))
    engine = make_engine(url)

    init_db(engine)

    assert len(_versions(engine)) == 1


def test_init_db_concurrent_processes_migrate_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = f"from core.db import init_db, make_engine; init_db(make_engine({url!r}))"
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT) for _ in range(3)]

    codes = [process.wait(timeout=60) for process in processes]

    assert codes == [0, 0, 0]
    assert len(_versions(make_engine(url))) == 1
