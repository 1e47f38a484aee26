"""The database engine shared by every page, and the session helper pages read through."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import init_db, make_engine, session_scope
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def _engine_for(database_url: str) -> Engine:
    # Keyed by URL, so a changed DATABASE_URL (as in tests) gets its own engine.
    engine = make_engine(database_url)
    init_db(engine)
    return engine


def settings() -> Settings:
    return get_settings()


def get_engine() -> Engine:
    """Return the engine for the configured database, created once per process and URL."""
    return _engine_for(settings().database_url)


@contextmanager
def db_session() -> Iterator[Session]:
    """Yield a session on the shared engine that commits on success."""
    with session_scope(get_engine()) as session:
        yield session
