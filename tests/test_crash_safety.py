"""A server killed with SIGKILL in the middle of enrolments loses nothing it acknowledged and leaves nothing
half-written.

Why SIGKILL and a real process: it is the crash no clean-up code can soften (no ``finally``, no atexit, no
connection close), the same as an OOM kill or a container being torn down. What must hold after a restart on the
same data folder:

- every enrolment answered 201 is there, with at least the images acknowledged for it (an image added by a
  request that was still in flight may or may not be there - both are correct, the client got no answer);
- no profile is half-written: each has as many images as its ``image_count`` says, and a summary of them;
- SQLite's own ``PRAGMA integrity_check`` says ``ok``.

Traffic is a few client threads on loopback, bounded in count and time; the test stops by itself.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import fixture_path
from tests.server import running_server

log = logging.getLogger(__name__)

CLIENTS = 3
ACKS_BEFORE_KILL = 4  # enrolments acknowledged before the kill (the rest are cut off mid-flight)
CLIENT_DEADLINE_S = 45  # hard stop for the clients, whatever happens
PHOTOS = [fixture_path(n).read_bytes() for n in ("df01_01.jpg", "df01_02.jpg")]


@dataclass
class Ledger:
    """What the server acknowledged: profile id -> images it confirmed, plus requests still in flight."""

    acked: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def _client(base: str, number: int, ledger: Ledger) -> None:
    """Enrol one photo, add the second, repeat, until the server dies or the ledger says stop."""
    deadline = time.monotonic() + CLIENT_DEADLINE_S
    with httpx.Client(base_url=base, timeout=CLIENT_DEADLINE_S) as http:
        round_ = 0
        while not ledger.stop.is_set() and time.monotonic() < deadline:
            round_ += 1
            try:
                with ledger.lock:
                    ledger.in_flight += 1
                created = http.post(
                    "/profiles",
                    files=[("files", ("a.jpg", PHOTOS[0], "image/jpeg"))],
                    data={"name": f"client {number}", "external_id": f"c{number}-{round_}"},
                )
                assert created.status_code == 201, created.text
                pid = created.json()["profile"]["id"]
                with ledger.lock:
                    ledger.acked[pid] = 1
                added = http.post(f"/profiles/{pid}/images", files={"file": ("b.jpg", PHOTOS[1], "image/jpeg")})
                assert added.status_code == 201, added.text
                with ledger.lock:
                    ledger.acked[pid] = 2
            except httpx.TransportError:
                return  # the server is gone: exactly what the test does to it
            finally:
                with ledger.lock:
                    ledger.in_flight -= 1


def test_sigkill_mid_enrolment_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "server.log"
    ledger = Ledger()
    with running_server(data_dir, log_path=log_path) as (base, process):
        clients = [threading.Thread(target=_client, args=(base, n, ledger)) for n in range(CLIENTS)]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + CLIENT_DEADLINE_S
        while len(ledger.acked) < ACKS_BEFORE_KILL or ledger.in_flight == 0:
            assert time.monotonic() < deadline, f"too few enrolments before the deadline: {log_path.read_text()}"
            assert all(t.is_alive() for t in clients), f"a client failed early: {log_path.read_text()}"
            time.sleep(0.05)
        with ledger.lock:
            log.info(
                "SIGKILL with %d enrolments acknowledged, %d requests in flight", len(ledger.acked), ledger.in_flight
            )
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        ledger.stop.set()
        for thread in clients:
            thread.join(timeout=CLIENT_DEADLINE_S)
        assert not any(t.is_alive() for t in clients)
    acked = dict(ledger.acked)
    assert len(acked) >= ACKS_BEFORE_KILL

    with running_server(data_dir, log_path=log_path) as (base, _), httpx.Client(base_url=base, timeout=30) as http:
        listing = http.get("/profiles", params={"limit": 500}).json()
        profiles = {p["id"]: p for p in listing["items"]}
        assert listing["total"] == len(profiles)
        for pid, images in acked.items():
            assert pid in profiles, f"acknowledged profile {pid} is gone"
            assert profiles[pid]["image_count"] >= images, f"acknowledged image of {pid} is gone"
        for pid, profile in profiles.items():
            stored = http.get(f"/profiles/{pid}/images").json()
            assert len(stored) == profile["image_count"], f"profile {pid} is half-written"
            assert profile["summary"]["image_count"] == profile["image_count"], f"profile {pid} summary is stale"

    with sqlite3.connect(data_dir / "faceproof.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
