"""API keys: who may call the API, and with which scope.

Why this shape:

- A key is ``fp_<id>_<secret>``: 6 random bytes of public id (to find the row and to name the key in logs and
  ``faceproof keys list``) and 32 random bytes of secret (``secrets.token_urlsafe``). The full key is shown once,
  when it is created; only the SHA-256 of the secret is stored. A slow KDF (scrypt, PBKDF2) exists to make
  guessing a *low-entropy password* from its hash expensive; a 256-bit random secret cannot be guessed either
  way, and a fast hash keeps the check per request to microseconds instead of a deliberate ~100 ms.
- The presented secret's hash is compared with ``hmac.compare_digest`` (constant time), and an unknown id is
  compared against a dummy hash, so timing tells an attacker nothing about which ids exist.
- Keys live in their own small SQLite file (``keys.sqlite3`` in the data directory, or
  ``FACEPROOF_API_KEYS_FILE``), apart from the biometric store: the CLI writes it while servers run, and every
  worker process re-reads it at most every :data:`CACHE_S` seconds, so a new or revoked key takes effect in all
  workers within that time without any signalling between processes.
- Auth is off only while the file holds no key at all. Revoking every key does **not** turn auth off (that would
  silently open a server bound to a public interface); it locks every caller out until a new key is created.
- Scopes are ordered: ``verify`` < ``enrol`` < ``admin``; a key may do everything its scope and the scopes below
  it allow.

Authentication runs twice on purpose: :class:`AuthMiddleware` turns away requests without a valid key *before* any
upload is read (an anonymous client cannot make the server parse large bodies), and :func:`require` - a route
dependency - checks the key's scope and documents the scheme in the OpenAPI page.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette import types as asgi

from faceproof.api.responses import error_response
from faceproof.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

PREFIX: Final = "fp"
ID_BYTES: Final = 6
SECRET_BYTES: Final = 32
#: How long a worker trusts its in-memory copy of the key file before reading it again.
CACHE_S: Final = 2.0
_DUMMY_HASH: Final = hashlib.sha256(b"faceproof: no such key").hexdigest()

#: Paths served without a key: liveness and readiness (load balancers hold no key), version, the API documentation
#: and the web page (which asks the person for a key itself and sends it with every API call).
OPEN_PATHS: Final = frozenset(
    {"/", "/healthz", "/readyz", "/version", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
OPEN_PREFIXES: Final = ("/web/",)

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('verify', 'enrol', 'admin')),
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    expires_at TEXT
)
"""


class Scope(StrEnum):
    """What a key may do; each scope includes every scope before it."""

    VERIFY = "verify"  # analyze, authenticity, verify, compare, identify, read profiles
    ENROL = "enrol"  # + create profiles, add and delete enrolment images
    ADMIN = "admin"  # + delete, patch, export and import profiles

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def allows(self, required: Scope) -> bool:
        return self.rank >= required.rank


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the secret, only what identifies and limits it."""

    id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired()


@dataclass(frozen=True)
class _Snapshot:
    read_at: float
    configured: bool
    active: dict[str, tuple[str, ApiKey]]  # id -> (secret hash, key), revoked keys left out


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None. The secret may itself contain ``_`` (urlsafe base64)."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 2 * ID_BYTES or not parts[2]:
        return None
    return parts[1], parts[2]


def _row(row: sqlite3.Row) -> ApiKey:
    revoked = row["revoked_at"]
    # key files from before expiry dates lack the column (sqlite3.Row's `in` tests values, hence .keys())
    expires = row["expires_at"] if "expires_at" in row.keys() else None  # noqa: SIM118
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=Scope(row["scope"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


class KeyStore:
    """The key file: create, list and revoke keys (CLI), and authenticate a presented key (API, cached)."""

    def __init__(self, path: Path, cache_s: float = CACHE_S) -> None:
        self.path = path
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if write and not self.path.exists():
            # Created owner-only before SQLite touches it: the file says who may read the biometric store.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        uri = self.path.resolve().as_uri() + ("" if write else "?mode=ro")
        with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as conn:
            conn.row_factory = sqlite3.Row
            if write:
                conn.execute(SCHEMA)
                columns = {r["name"] for r in conn.execute("PRAGMA table_info(api_keys)")}
                if "expires_at" not in columns:  # a key file written before keys could expire
                    conn.execute("ALTER TABLE api_keys ADD COLUMN expires_at TEXT")
            with conn:  # one transaction: commit on success, roll back on error
                yield conn

    # ------------------------------------------------------------------ management (CLI)

    def create(self, scope: Scope, name: str = "", expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """A new key and its full token; the token is not stored and cannot be shown again. After ``expires_at``
        (if given) the key is refused like a revoked one."""
        key_id = secrets.token_hex(ID_BYTES)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        key = ApiKey(id=key_id, name=name, scope=scope, created_at=datetime.now(UTC), expires_at=expires_at)
        with self._connect(write=True) as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, scope, secret_sha256, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.name,
                    key.scope.value,
                    _hash(secret),
                    key.created_at.isoformat(),
                    expires_at.isoformat() if expires_at else None,
                ),
            )
        self._snapshot = None
        log.info("api key %s created (scope %s)", key.id, key.scope.value)
        return key, f"{PREFIX}_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        with self._connect(write=False) as conn:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [_row(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key for good; False if there is no active key with that id."""
        if not self.path.exists():
            return False
        with self._connect(write=True) as conn:
            done = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            ).rowcount
        self._snapshot = None
        if done:
            log.info("api key %s revoked", key_id)
        return bool(done)

    # ------------------------------------------------------------------ checking (API)

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - snapshot.read_at < self.cache_s:
            return snapshot
        with self._lock:
            self._snapshot = self._read(previous=snapshot)
            return self._snapshot

    def _read(self, previous: _Snapshot | None) -> _Snapshot:
        now = time.monotonic()
        if not self.path.exists():
            return _Snapshot(read_at=now, configured=False, active={})
        try:
            with self._connect(write=False) as conn:
                exists = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'api_keys'").fetchone()[0]
                rows = conn.execute("SELECT * FROM api_keys").fetchall() if exists else []
        except sqlite3.Error:
            # Fail closed: keep the last good copy, or (first read) let nobody in, rather than turn auth off.
            log.exception("cannot read the API key file %s", self.path)
            return replace(previous, read_at=now) if previous else _Snapshot(now, configured=True, active={})
        active = {r["id"]: (r["secret_sha256"], _row(r)) for r in rows if r["revoked_at"] is None}
        return _Snapshot(read_at=now, configured=bool(rows), active=active)

    @property
    def configured(self) -> bool:
        """Whether any key was ever created here: then every API call needs a valid one."""
        return self._current().configured

    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key this token proves, or None (malformed, unknown, wrong secret, revoked or expired: expiry
        is checked against the clock on every call, not against the cached copy's time)."""
        parsed = _split(token) if token else None
        if parsed is None:
            return None
        key_id, secret = parsed
        stored, key = self._current().active.get(key_id, (_DUMMY_HASH, None))
        if hmac.compare_digest(stored, _hash(secret)) and key is not None and not key.expired():
            return key
        return None


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    """The key sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key else None


def token_from_scope(scope: asgi.Scope) -> str | None:
    """The key an ASGI request carries (for middlewares, which run before FastAPI parses headers)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return token_from_headers(headers.get("authorization"), headers.get("x-api-key"))


def key_id_of(token: str | None) -> str | None:
    """The public id part of a well-formed key (for rate limits and logs), without checking the secret."""
    parsed = _split(token) if token else None
    return f"key {parsed[0]}" if parsed else None


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class AuthMiddleware:
    """Turns away API calls without a valid key before their body is read (only while keys are configured)."""

    def __init__(self, app: asgi.ASGIApp, keys: KeyStore) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and not is_open_path(scope["path"]) and self.keys.configured:
            token = token_from_scope(scope)
            if self.keys.authenticate(token) is None:
                await error_response(_unauthorized(token))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unauthorized(token: str | None) -> Unauthorized:
    if token is None:
        return Unauthorized("An API key is required: send it as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    return Unauthorized("The API key is not valid (unknown, malformed, revoked or expired).")


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fp_...`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key in the `X-API-Key` header.")


def require(needed: Scope) -> Callable[..., Awaitable[None]]:
    """A route dependency: the caller's key must allow ``needed`` (a no-op while no key is configured).

    Sets ``request.state.api_key_id`` for the access log.
    """

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> None:
        keys: KeyStore = request.app.state.keys
        if not keys.configured:
            return
        token = bearer.credentials if bearer else token_from_headers(None, header)
        key = keys.authenticate(token)
        if key is None:
            raise _unauthorized(token)
        request.state.api_key_id = key.id
        if not key.scope.allows(needed):
            raise Forbidden(
                f"This API key has scope '{key.scope}'; this call needs '{needed}'.",
                scope=key.scope.value,
                required=needed.value,
            )

    return check


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only (names other than
    ``localhost`` count as public: what they resolve to can change)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
