"""Several API processes on one database, readiness, graceful shutdown: what a replicated deployment relies on.

Each server is a real ``faceproof serve`` process on loopback. PostgreSQL is the deployment backend (any worker
answers any call: nothing is cached in-process); SQLite is tested too because several workers on one machine share
its file, and there the in-process search index must notice another process's writes (generation counter).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from faceproof.api.app import create_app
from faceproof.config import Settings
from tests.conftest import fixture_path, new_postgres_database
from tests.server import running_server, wait_ready


def _photos(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (n, fixture_path(n).read_bytes(), "image/jpeg")) for n in names]


def _photo(name: str) -> dict:
    return {"file": (name, fixture_path(name).read_bytes(), "image/jpeg")}


def _two_servers_share_state(tmp_path: Path, env: dict[str, str], same_data_dir: bool) -> None:
    dir_a, dir_b = tmp_path / "a", tmp_path / ("a" if same_data_dir else "b")
    with (
        running_server(dir_a, env, tmp_path / "a.log", cli=True) as (a, _),
        running_server(dir_b, env, tmp_path / "b.log", cli=True) as (b, _),
    ):
        assert a != b
        # b answers identify before anything exists, so an index it holds must be refreshed later
        assert httpx.post(f"{b}/identify", files=_photo("df01_03.jpg"), timeout=120).json()["candidates"] == []
        created = httpx.post(f"{a}/profiles", files=_photos("df01_01.jpg", "df01_02.jpg"), data={"name": "Ada"},
                             timeout=120)  # fmt: skip
        assert created.status_code == 201, created.text
        pid = created.json()["profile"]["id"]

        assert httpx.get(f"{b}/profiles/{pid}").json()["image_count"] == 2
        verdict = httpx.post(f"{b}/profiles/{pid}/verify", files=_photo("df01_03.jpg"), timeout=120).json()
        assert verdict["verdict"] == "genuine", verdict["reasons"]
        found = httpx.post(f"{b}/identify", files=_photo("df01_03.jpg"), timeout=120).json()
        assert [c["profile_id"] for c in found["candidates"]][:1] == [pid]

        added = httpx.post(f"{b}/profiles/{pid}/images", files=_photo("df01_03.jpg"), timeout=120)
        assert added.status_code == 201, added.text
        assert httpx.get(f"{a}/profiles/{pid}").json()["image_count"] == 3

        assert httpx.delete(f"{a}/profiles/{pid}").status_code == 204
        gone = httpx.get(f"{b}/profiles/{pid}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "profile_not_found"
        again = httpx.post(f"{b}/identify", files=_photo("df01_03.jpg"), timeout=120).json()
        assert pid not in [c["profile_id"] for c in again["candidates"]]
        assert httpx.post(f"{b}/profiles/{pid}/verify", files=_photo("df01_03.jpg"), timeout=120).status_code == 404


def test_two_servers_on_one_postgres_share_every_write(postgres_url: str, tmp_path: Path) -> None:
    url = new_postgres_database(postgres_url)
    _two_servers_share_state(tmp_path, {"FACEPROOF_DATABASE_URL": url}, same_data_dir=False)


def test_two_servers_on_one_sqlite_file_share_every_write(tmp_path: Path) -> None:
    _two_servers_share_state(tmp_path, {}, same_data_dir=True)


def test_readiness_waits_for_models_and_database(postgres_url: str, tmp_path: Path) -> None:
    url = new_postgres_database(postgres_url)
    with TestClient(create_app(Settings(data_dir=tmp_path, database_url=url))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 120
        while (r := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            assert r.status_code == 503 and r.json()["status"] == "not_ready"
            time.sleep(0.2)
        assert r.json() == {
            "status": "ready",
            "models_loaded": True,
            "database": "ok",
            "analyses_running": 0,
            "analyses_waiting": 0,
        }
        admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # the database disappears under the running app
            conn.exec_driver_sql(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
        admin.dispose()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["status"] == "not_ready" and down.json()["database"].startswith("unreachable")
        assert client.get("/healthz").status_code == 200  # alive: a restart would not help, traffic should stop


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    """SIGTERM while an enrolment is being analysed: the caller still gets its 201, the profile is stored, then the
    process exits (after the application's shutdown ran: the log says so)."""
    with running_server(tmp_path, None, tmp_path / "server.log", cli=True) as (base, process):
        assert wait_ready(base)["status"] == "ready"
        answer: dict[str, httpx.Response] = {}

        def enrol() -> None:
            photos = _photos("df01_01.jpg", "df01_02.jpg", "df01_03.jpg")
            answer["r"] = httpx.post(f"{base}/profiles", files=photos, timeout=120)

        caller = threading.Thread(target=enrol)
        caller.start()
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/readyz", timeout=5).json()["analyses_running"] == 0:
            assert time.monotonic() < deadline and caller.is_alive(), "the enrolment never started"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        caller.join(timeout=120)
        # uvicorn re-raises the signal once shut down, so the exit status says "ended by SIGTERM", after the answer
        assert process.wait(timeout=60) == -signal.SIGTERM
        assert answer["r"].status_code == 201, answer["r"].text
        pid = answer["r"].json()["profile"]["id"]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/healthz", timeout=2)
    log = (tmp_path / "server.log").read_text()
    assert "Waiting for application shutdown" in log and "Application shutdown complete" in log
    with running_server(tmp_path, None, tmp_path / "server.log") as (base, _):
        assert httpx.get(f"{base}/profiles/{pid}").json()["image_count"] == 3
