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
