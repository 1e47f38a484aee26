"""Real Chromium (through Playwright) against a real `streamlit run` of the dashboard on loopback."""

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port, spawned

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing; install Debian's chromium package to run browser tests",
)


@contextmanager
def dashboard_server(database_url: str, log_path: Path) -> Iterator[str]:
    """Run `streamlit run dashboard/app.py` on a free loopback port; yield its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = {"DATABASE_URL": database_url, "SMSTO_API_KEY": ""}
    base = f"http://127.0.0.1:{port}"
    with spawned(command, env, f"{base}/_stcore/health", log_path):
        yield base


@contextmanager
def chromium_page() -> Iterator:
    """Yield a Playwright page in a fresh Chromium profile, closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="smsto-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1400, "height": 1000},
            )
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
