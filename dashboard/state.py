"""The database engine shared by every page, and the session helper pages read through."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import init_db, make_engine, session_scope
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@st.cache_resource(show_spinner=False)
def _engine_for(database_url: str) -> Engine:
    # Keyed by URL, so a changed DATABASE_URL (as in tests) gets its own engine.
    engine = make_engine(database_url)
    init_db(engine)
    return engine


def settings() -> Settings:
    return get_settings()


def sending_mode(current: Settings) -> str:
    """Describe where campaigns are sent, naming whether a key is set but never showing it."""
    host = urlparse(current.smsto_api_url).hostname or ""
    if host in _LOOPBACK_HOSTS:
        return f"the sandbox provider at {current.smsto_api_url}"
    if current.api_key:
        return "SMS.to (API key configured)"
    return "SMS.to, but no API key is set, so nothing can be sent"


def get_engine() -> Engine:
    """Return the engine for the configured database, created once per process and URL."""
    return _engine_for(settings().database_url)


@contextmanager
def db_session() -> Iterator[Session]:
    """Yield a session on the shared engine that commits on success."""
    with session_scope(get_engine()) as session:
        yield session
