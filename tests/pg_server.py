"""A throwaway PostgreSQL server for tests about PostgreSQL, started from the Debian binaries.

The server runs on 127.0.0.1 with a data folder under the test's temporary directory and is
stopped by `pg_ctl stop` at the end. When the binaries are missing the tests that need it are
skipped with the reason; `.ci/run` installs them.
"""

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port


def find_bin_dir() -> Path | None:
    """Return the newest PostgreSQL bin folder with initdb and pg_ctl, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root, so a root test run drops to the postgres account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + command
    return command


@contextmanager
def postgres_server(base: Path) -> Iterator[str]:
    """Start a PostgreSQL server and yield an SQLAlchemy URL of an empty database on it."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql")

    data = base / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    run = lambda *args: subprocess.run(_as_postgres_user(list(args)), check=True, capture_output=True)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(data / "server.log"), "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "smsto_test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/smsto_test"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
