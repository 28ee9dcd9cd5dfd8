"""Shared fixtures: the fixture photos (in the repo, with their licences) and the optional dev set."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy

from faceproof.detect import detect_faces
from faceproof.intake import decode_image
from tests.pg import postgres_server

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLCONFIGDIR", str(Path(__file__).resolve().parents[1] / ".venv" / ".mplconfig"))

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "images"
SHARED_DATA = Path(os.environ.get("FACEPROOF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def fixture_path(name: str) -> Path:
    return FIXTURES / name


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full development set; tests that need it skip cleanly on a fresh clone without ../shared."""
    if not (SHARED_DATA / "manifest.csv").exists():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def df01_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    """A service in a fresh folder with one profile enrolled from ``df01_01.jpg``: (service, profile id)."""
    from faceproof.config import Settings
    from faceproof.service import Service

    service = Service.open(Settings(data_dir=Path(tmp_path_factory.mktemp("df01"))))
    profile, _ = service.create_profile([fixture_path("df01_01.jpg").read_bytes()], name="df01")
    yield service, profile.id
    service.close()


def load_rgb(name: str) -> np.ndarray:
    """A fixture photo decoded by faceproof's own intake (upright 8-bit RGB)."""
    return decode_image(fixture_path(name).read_bytes()).rgb


def largest_box(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """The largest face's (x, y, w, h), by the production detector."""
    faces = detect_faces(rgb)
    assert faces, "fixture must contain a face"
    return faces[0].box


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL + pgvector server for the whole session (skipped only where it cannot start, unless
    FACEPROOF_REQUIRE_POSTGRES=1, as in CI, where that is a failure)."""
    try:
        server = postgres_server()
        url = server.__enter__()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("FACEPROOF_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL could not start: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend: the same tests run against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'faceproof.sqlite3'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


def new_postgres_database(server_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
