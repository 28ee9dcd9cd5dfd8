"""A real faceproof server in a subprocess for the tests that need one (browser, crash, memory): one helper.

Why a subprocess and not TestClient: a browser needs a real socket, a crash test must SIGKILL the server without
killing pytest, and a memory test must read the server's own peak RSS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    *,
    cli: bool = False,
    serve_args: tuple[str, ...] = (),
    start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn serving ``create_app`` (``cli``: through ``faceproof serve`` plus ``serve_args``) on a free loopback
    port with its own data folder; yields (base URL, process) once ``/healthz`` answers, and stops the process
    gracefully (SIGTERM) when the block ends (unless a test killed it already). ``scripts/load_test.py`` uses it
    too."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "FACEPROOF_DATABASE_URL"}  # SQLite unless env says
    full_env = {**inherited, "FACEPROOF_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", **(env or {})}
    command = [sys.executable, "-m", "uvicorn", "faceproof.api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    if cli:
        command = [str(Path(sys.executable).with_name("faceproof")), "serve", "--port", str(port), *serve_args]
    with log_path.open("ab") if log_path else open(os.devnull, "wb") as log:
        process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                details = log_path.read_text(errors="replace")[-2000:] if log_path else ""
                raise RuntimeError(f"the server did not start (exit code {process.poll()}) {details}")
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


def wait_ready(base: str, timeout_s: float = 120.0) -> dict:
    """Poll ``/readyz`` until it answers 200 (models loaded, database reachable) or ``timeout_s`` passes; returns
    the last readiness body."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = httpx.get(f"{base}/readyz", timeout=5)
        if r.status_code == 200 or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.2)
