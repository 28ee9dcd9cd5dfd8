"""API keys and scopes, serve's bind rule, the bounded work queue, and what errors and logs may reveal.

Saturation and time-outs are tested deterministically: the analysis is replaced by a function that blocks on a
``threading.Event`` until the test lets it go, so "one request is running" is a fact, not a timing guess.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faceproof.api.app import create_app
from faceproof.api.limits import WorkLimiter
from faceproof.api.rate_limit import TokenBuckets
from faceproof.cli.main import app as cli_app
from faceproof.config import Settings
from faceproof.errors import NoFace, Overloaded, RequestTimedOut
from faceproof.security import KeyStore, Scope, is_loopback, is_open_path
from tests.conftest import fixture_path
from tests.server import running_server

WAIT_S = 30  # upper bound for a blocked request to show up; never reached when things work


def photo(name: str = "df01_01.jpg", field: str = "file") -> dict[str, tuple[str, bytes, str]]:
    return {field: (name, fixture_path(name).read_bytes(), "image/jpeg")}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def keys(settings: Settings) -> KeyStore:
    return KeyStore(settings.resolved_api_keys_file, cache_s=0)


def make_client(settings: Settings, **kwargs: Any) -> TestClient:
    return TestClient(create_app(settings), **kwargs)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with make_client(settings) as c:
        c.app.state.keys.cache_s = 0  # see key changes at once (servers re-read every couple of seconds)
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------------- key store


def test_key_format_hashing_and_revocation(keys: KeyStore) -> None:
    assert not keys.configured and keys.list() == [] and keys.authenticate("fp_x_y") is None
    key, token = keys.create(Scope.ENROL, "ci")
    assert re.fullmatch(r"fp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    assert keys.configured and keys.authenticate(token) == key and key.scope is Scope.ENROL
    secret = token.split("_", 2)[2]
    assert secret.encode() not in keys.path.read_bytes(), "only a hash of the secret may be stored"
    assert keys.path.stat().st_mode & 0o077 == 0, "the key file is owner-only"
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), f"fp_{key.id}_", "Bearer", "", token + "x"):
        assert keys.authenticate(wrong) is None
    other_worker = KeyStore(keys.path, cache_s=0)  # another process sharing the file
    assert other_worker.authenticate(token) == key
    assert keys.revoke(key.id) and not keys.revoke(key.id)
    assert other_worker.authenticate(token) is None
    assert other_worker.configured, "revoking every key must lock callers out, not switch auth off"
    assert [k.id for k in keys.list()] == [key.id] and keys.list()[0].revoked_at is not None


def test_unreadable_key_file_fails_closed(keys: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    keys.path.write_bytes(b"not a database, e.g. a truncated copy" * 100)
    assert keys.configured and keys.authenticate("fp_000000000000_secret") is None
    assert "cannot read the API key file" in caplog.text


def test_scopes_are_ordered() -> None:
    assert Scope.ADMIN.allows(Scope.ENROL) and Scope.ENROL.allows(Scope.VERIFY)
    assert not Scope.VERIFY.allows(Scope.ENROL) and not Scope.ENROL.allows(Scope.ADMIN)


# ---------------------------------------------------------------------------------------------------- API auth


def test_no_keys_means_auth_off(client: TestClient) -> None:
    assert client.get("/profiles").status_code == 200


def test_open_paths_need_no_key(client: TestClient, keys: KeyStore) -> None:
    keys.create(Scope.ADMIN)
    for path in ("/healthz", "/version", "/openapi.json", "/docs", "/", "/web/app.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/readyz").json()["status"] in {"ready", "not_ready"}, "readiness needs no key either"


def test_missing_wrong_and_revoked_keys_are_401(
    client: TestClient, keys: KeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faceproof.access")
    key, token = keys.create(Scope.VERIFY)
    r = client.get("/profiles")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/profiles", headers=bearer(token + "x")).status_code == 401
    # Refused before the upload is even read: an anonymous client cannot make the server parse bodies.
    assert client.post("/analyze", files=photo()).status_code == 401
    assert client.get("/profiles", headers=bearer(token)).status_code == 200
    assert client.get("/profiles", headers={"X-API-Key": token}).status_code == 200
    assert "route=/profiles status=200 duration_ms=" in caplog.text and f"key={key.id}" in caplog.text
    assert token not in caplog.text, "the access log names the key by its public id, never the secret"
    keys.revoke(key.id)
    assert client.get("/profiles", headers=bearer(token)).status_code == 401


def test_scopes_on_routes(client: TestClient, keys: KeyStore) -> None:
    verify = bearer(keys.create(Scope.VERIFY)[1])
    enrol = bearer(keys.create(Scope.ENROL)[1])
    admin = bearer(keys.create(Scope.ADMIN)[1])
    r = client.post("/profiles", headers=verify)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert r.json()["error"]["details"] == {"scope": "verify", "required": "enrol"}
    assert client.post("/profiles", headers=enrol).status_code == 422  # allowed; the form is missing
    assert client.delete("/profiles/nope", headers=enrol).status_code == 403
    assert client.get("/profiles/nope/export", headers=enrol).status_code == 403
    assert client.delete("/profiles/nope", headers=admin).json()["error"]["code"] == "profile_not_found"
    assert client.get("/profiles/nope", headers=verify).status_code == 404


def test_every_api_route_requires_a_scope(client: TestClient) -> None:
    """A new route without a scope dependency would be open to any key (or to anyone): fail loudly instead."""
    for route in client.app.routes:
        if not isinstance(route, APIRoute) or is_open_path(route.path) or not route.include_in_schema:
            continue
        names = {d.call.__qualname__ for d in route.dependant.dependencies if d.call is not None}
        assert "require.<locals>.check" in names, f"{route.methods} {route.path} has no scope"


def test_openapi_documents_both_key_headers(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


# ---------------------------------------------------------------------------------------------------- serve


def test_serve_refuses_public_bind_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("FACEPROOF_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FACEPROOF_ALLOW_UNAUTHENTICATED", raising=False)
    monkeypatch.delenv("FACEPROOF_API_KEYS_FILE", raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "without API keys" in refused.output and not calls
    assert runner.invoke(cli_app, ["serve", "--host", "127.0.0.1"]).exit_code == 0 and len(calls) == 1
    assert runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--allow-unauthenticated"]).exit_code == 0
    monkeypatch.setenv("FACEPROOF_ALLOW_UNAUTHENTICATED", "1")
    assert runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    monkeypatch.delenv("FACEPROOF_ALLOW_UNAUTHENTICATED")
    created = runner.invoke(cli_app, ["keys", "create", "--scope", "admin", "--name", "ops", "--json"])
    assert created.exit_code == 0
    assert runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"]).exit_code == 0 and len(calls) == 4
    assert calls[-1]["host"] == "0.0.0.0"


def test_keys_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("FACEPROOF_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FACEPROOF_API_KEYS_FILE", raising=False)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["keys", "create", "--scope", "verify", "--name", "kiosk"])
    token = out.stdout.strip()
    assert out.exit_code == 0 and token.startswith("fp_")
    assert runner.invoke(cli_app, ["keys", "create", "--scope", "root"]).exit_code == 2
    listed = json.loads(runner.invoke(cli_app, ["keys", "list", "--json"]).stdout)
    assert [(k["name"], k["scope"], k["revoked_at"]) for k in listed] == [("kiosk", "verify", None)]
    assert token not in runner.invoke(cli_app, ["keys", "list"]).stdout
    assert runner.invoke(cli_app, ["keys", "revoke", listed[0]["id"]]).exit_code == 0
    assert runner.invoke(cli_app, ["keys", "revoke", listed[0]["id"]]).exit_code == 1


def test_expired_keys_are_refused(client: TestClient, keys: KeyStore) -> None:
    now = datetime.now(UTC)
    _, stale = keys.create(Scope.ADMIN, "old", expires_at=now - timedelta(seconds=1))
    fresh_key, fresh = keys.create(Scope.VERIFY, "new", expires_at=now + timedelta(days=1))
    r = client.get("/profiles", headers=bearer(stale))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert client.get("/profiles", headers=bearer(fresh)).status_code == 200
    listed = {k.name: k for k in keys.list()}
    assert listed["old"].expired() and not listed["old"].active
    assert listed["new"].active and listed["new"].expires_at == fresh_key.expires_at


def test_key_files_from_before_expiry_dates_still_work(keys: KeyStore) -> None:
    """A key file written by an older faceproof has no expires_at column: its keys keep working, and the first
    write adds the column."""
    import hashlib
    import sqlite3

    keys.path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(keys.path) as conn:
        conn.execute(
            "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL, "
            "secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)"
        )
        conn.execute(
            "INSERT INTO api_keys VALUES ('0123456789ab', 'legacy', 'verify', ?, '2026-01-01T00:00:00+00:00', NULL)",
            (hashlib.sha256(b"s3cret").hexdigest(),),
        )
    assert keys.authenticate("fp_0123456789ab_s3cret") is not None
    assert keys.list()[0].expires_at is None
    keys.create(Scope.ADMIN, "new", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert keys.authenticate("fp_0123456789ab_s3cret") is not None
    assert [k.expires_at is None for k in keys.list()] == [True, False]


def test_keys_cli_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("FACEPROOF_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FACEPROOF_API_KEYS_FILE", raising=False)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["keys", "create", "--scope", "verify", "--expires-in-days", "30", "--json"])
    created = json.loads(out.stdout)
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=29.9) < expires - datetime.now(UTC) <= timedelta(days=30)
    listed = json.loads(runner.invoke(cli_app, ["keys", "list", "--json"]).stdout)
    assert listed[0]["expires_at"] == created["expires_at"] and listed[0]["active"] is True
    assert "active, expires" in runner.invoke(cli_app, ["keys", "list"]).stdout


# ---------------------------------------------------------------------------------------------------- rate limits


def test_token_buckets_refill_at_the_configured_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [None, None, None]
    assert buckets.take("a") == pytest.approx(1.0)  # empty: one token a second
    assert buckets.take("b") is None  # every caller has its own bucket
    now[0] = 2.5
    assert buckets.take("a") is None and buckets.take("a") is None
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] = 1000.0
    assert [buckets.take("a") for _ in range(4)][-1] is not None  # refilled to the burst, not beyond


def test_rate_limit_per_key_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_per_min=6, rate_limit_burst=2)
    keys = KeyStore(settings.resolved_api_keys_file, cache_s=0)
    first, second = bearer(keys.create(Scope.VERIFY)[1]), bearer(keys.create(Scope.VERIFY)[1])
    with make_client(settings) as client:
        assert [client.get("/profiles", headers=first).status_code for _ in range(2)] == [200, 200]
        limited = client.get("/profiles", headers=first)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) == 10  # 6 a minute: one every 10 s
        assert client.get("/profiles", headers=second).status_code == 200, "another key has its own allowance"
        assert all(client.get("/healthz").status_code == 200 for _ in range(5)), "health checks are never limited"
        assert client.get("/profiles").status_code == 401, "no key: refused by auth before any rate is counted"


def test_rate_limit_without_keys_is_per_address(tmp_path: Path) -> None:
    with make_client(Settings(data_dir=tmp_path, rate_limit_per_min=60, rate_limit_burst=1)) as client:
        assert client.get("/profiles").status_code == 200
        assert client.get("/profiles").status_code == 429


# ---------------------------------------------------------------------------------------------------- body size


def test_request_body_is_capped_while_it_streams(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_body_mb=0.25)
    big = fixture_path("df01_01.jpg").read_bytes()
    assert len(big) * 3 > settings.max_body_bytes > len(big)
    with make_client(settings) as client:
        declared = client.post("/analyze", content=b"x" * (settings.max_body_bytes + 1),
                               headers={"Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
        assert declared.status_code == 413 and declared.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            body = b"".join(
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n" + big + b"\r\n"
                for _ in range(3)
            )
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]
            yield b"--b--\r\n"

        multipart = {"Content-Type": "multipart/form-data; boundary=b"}
        streamed = client.post("/profiles", content=chunks(), headers=multipart)
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "request_too_large"
        assert client.get("/profiles").json()["total"] == 0
        assert client.post("/analyze", files=photo()).status_code == 200, "a request under the cap still works"


def test_enrolment_takes_at_most_twenty_photos_per_request(client: TestClient) -> None:
    tiny = ("p.jpg", b"\xff\xd8\xff", "image/jpeg")
    r = client.post("/profiles", files=[("files", tiny)] * 21)
    assert r.status_code == 422 and r.json()["error"]["details"] == {"photos": 21, "limit": 20}


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("example.org")


# ---------------------------------------------------------------------------------------------------- work queue


class Gate:
    """A stand-in for the analysis: blocks until released, and says when it has started."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *_: Any, **__: Any) -> Any:
        self.entered.set()
        assert self.release.wait(WAIT_S)
        raise NoFace("released")


def test_limiter_overload_queue_and_timeout() -> None:
    async def scenario() -> None:
        limiter = WorkLimiter(max_inflight=1, max_queue=1, timeout_s=WAIT_S)
        first, second = Gate(), Gate()
        a = asyncio.ensure_future(limiter.run(first))
        await asyncio.to_thread(first.entered.wait, WAIT_S)
        b = asyncio.ensure_future(limiter.run(second))
        while limiter.waiting == 0:
            await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await limiter.run(Gate())
        first.release.set()
        with pytest.raises(NoFace):
            await a
        await asyncio.to_thread(second.entered.wait, WAIT_S)  # the queued job got the slot (FIFO)
        assert limiter.running == 1 and limiter.waiting == 0
        second.release.set()
        with pytest.raises(NoFace):
            await b
        assert limiter.running == 0

    asyncio.run(scenario())


def test_limiter_timeout_keeps_the_slot_until_the_thread_ends() -> None:
    async def scenario() -> None:
        limiter = WorkLimiter(max_inflight=1, max_queue=1, timeout_s=0.2)
        gate = Gate()
        with pytest.raises(RequestTimedOut):
            await limiter.run(gate)
        assert limiter.running == 1, "the thread still runs, so the slot is still taken"
        with pytest.raises(RequestTimedOut):  # queued behind it, times out waiting
            await limiter.run(Gate())
        assert limiter.waiting == 0
        gate.release.set()
        while limiter.running:
            await asyncio.sleep(0.01)
        assert await limiter.run(lambda: 42) == 42

    asyncio.run(scenario())


def _in_background(call: Callable[[], Any]) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def test_saturated_api_answers_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_inflight=1, max_queue=0)
    with make_client(settings) as client:
        gate = Gate()
        client.app.state.service.analyze = gate
        held = _in_background(lambda: client.post("/analyze", files=photo()))
        assert gate.entered.wait(WAIT_S)
        r = client.post("/analyze", files=photo())
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded"
        assert r.headers["Retry-After"] == "1"
        assert client.get("/healthz").status_code == 200, "light calls are never queued"
        gate.release.set()
        assert held.result(WAIT_S).json()["error"]["code"] == "no_face"


def test_slow_analysis_answers_503_timeout(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_inflight=1, max_queue=0, request_timeout_s=0.3)
    with make_client(settings) as client:
        gate = Gate()
        client.app.state.service.analyze = gate
        r = client.post("/analyze", files=photo())
        assert r.status_code == 503 and r.json()["error"]["code"] == "timeout" and r.headers["Retry-After"]
        gate.release.set()


# ---------------------------------------------------------------------------------------------------- leaks


def test_unexpected_errors_reveal_nothing(tmp_path: Path) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    with make_client(Settings(data_dir=tmp_path), raise_server_exceptions=False) as client:
        client.app.state.service.analyze = broken
        r = client.post("/analyze", files=photo())
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text


def test_cors_is_off_unless_configured(tmp_path: Path) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with make_client(Settings(data_dir=tmp_path)) as client:
        assert "access-control-allow-origin" not in client.options("/analyze", headers=preflight).headers
        assert "access-control-allow-origin" not in client.get("/healthz", headers=preflight).headers
    with make_client(Settings(data_dir=tmp_path, cors_origins=("https://app.example",))) as client:
        r = client.options("/analyze", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_logs_hold_no_biometric_data(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    enrolled = client.post("/create-profile", files=photo())
    assert enrolled.status_code == 201
    analysed = client.post("/analyze", files=photo("df01_02.jpg"), params={"include_embeddings": True})
    vector = analysed.json()["subject"]["identity"][0]["vector"]
    access = [r.getMessage() for r in caplog.records if r.name == "faceproof.access"]
    assert any("route=/analyze status=200" in line for line in access)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(str(x) in text for x in vector[:8]), "an embedding value was logged"
    assert not re.search(r"(-?\d+\.\d+,\s*){16}", text), "a list of floats (an embedding?) was logged"
    assert "JFIF" not in text and "\\xff\\xd8" not in text, "image bytes were logged"


# ---------------------------------------------------------------------------------------------------- web page


def test_web_page_works_with_keys(tmp_path: Path) -> None:
    """The page loads without a key, says a key is needed, and works once one is entered in its key box."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    data_dir = tmp_path / "data"
    _, token = KeyStore(Settings(data_dir=data_dir).resolved_api_keys_file).create(Scope.ENROL, "web")
    with running_server(data_dir, log_path=tmp_path / "server.log") as (base, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page()
        uncaught: list[str] = []
        page.on("pageerror", lambda exc: uncaught.append(str(exc)))
        page.goto(base)
        expect(page.locator("#verify-error")).to_contain_text("API key is required")
        expect(page.locator("#key-box")).to_have_attribute("open", "")
        page.get_by_label("API key").fill(token)
        page.get_by_role("button", name="Use this key").click()
        expect(page.locator("#verify-error")).to_be_hidden()
        expect(page.locator("#verify-profile")).to_contain_text("No profile yet")
        assert page.evaluate("sessionStorage.getItem('faceproof.apiKey')") == token
        browser.close()
    assert not uncaught
