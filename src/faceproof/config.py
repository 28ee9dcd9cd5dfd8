"""Settings read once from ``FACEPROOF_*`` environment variables (12-factor style, no config files needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Default analysis concurrency per worker process: CPU-bound work beyond a couple per core only adds latency.
DEFAULT_MAX_INFLIGHT = 2 * (os.cpu_count() or 1)
#: Photos one enrolment request may carry (more are added with ``POST /profiles/{id}/images``).
MAX_PHOTOS_PER_REQUEST = 20


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Every knob of the service. Build with :meth:`from_env`; pass explicitly in tests."""

    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""
    max_upload_mb: float = 15.0
    max_pixels: int = 40_000_000
    min_side: int = 64
    store_images: bool = False
    far_target: float = 1e-3
    log_level: str = "INFO"
    #: SQLite file of API keys (hashed); default ``keys.sqlite3`` in the data directory. No keys: auth is off.
    api_keys_file: Path | None = None
    #: Serve without keys on a non-loopback interface (``faceproof serve`` refuses otherwise).
    allow_unauthenticated: bool = False
    #: Analysis requests running at once in one worker; beyond that they wait in a queue of ``max_queue``.
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    max_queue: int = 2 * DEFAULT_MAX_INFLIGHT
    #: Longest an analysis request may take, queueing included, before it is answered 503 ``timeout``.
    request_timeout_s: float = 60.0
    #: Origins allowed to call the API from a browser (CORS); empty = no CORS headers at all.
    cors_origins: tuple[str, ...] = ()
    #: Load every model in the background when the server starts (``/readyz`` reports when done).
    warm_models: bool = True
    #: Largest whole request body (MB), enforced while it streams in; default: room for the most photos one
    #: request may carry, plus 1 MB of form fields.
    max_body_mb: float | None = None
    #: Requests per minute per API key (or client address while no keys exist) in each worker; 0 = no limit.
    rate_limit_per_min: float = 0.0
    #: Requests a caller may send at once before the per-minute rate applies.
    rate_limit_burst: int = 10

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        if self.max_body_mb is not None:
            return int(self.max_body_mb * 1024 * 1024)
        return self.max_upload_bytes * MAX_PHOTOS_PER_REQUEST + 1024 * 1024

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'faceproof.sqlite3').resolve()}"

    @property
    def resolved_api_keys_file(self) -> Path:
        return self.api_keys_file or self.data_dir / "keys.sqlite3"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        inflight = int(env.get("FACEPROOF_MAX_INFLIGHT", str(DEFAULT_MAX_INFLIGHT)))
        return cls(
            data_dir=Path(env.get("FACEPROOF_DATA_DIR", "data")),
            database_url=env.get("FACEPROOF_DATABASE_URL", ""),
            max_upload_mb=float(env.get("FACEPROOF_MAX_UPLOAD_MB", "15")),
            max_pixels=int(float(env.get("FACEPROOF_MAX_PIXELS", "40000000"))),
            min_side=int(env.get("FACEPROOF_MIN_SIDE", "64")),
            store_images=_env_bool("FACEPROOF_STORE_IMAGES", False),
            far_target=float(env.get("FACEPROOF_FAR", "1e-3")),
            log_level=env.get("FACEPROOF_LOG_LEVEL", "INFO"),
            api_keys_file=Path(env["FACEPROOF_API_KEYS_FILE"]) if env.get("FACEPROOF_API_KEYS_FILE") else None,
            allow_unauthenticated=_env_bool("FACEPROOF_ALLOW_UNAUTHENTICATED", False),
            max_inflight=inflight,
            max_queue=int(env.get("FACEPROOF_MAX_QUEUE", str(2 * inflight))),
            request_timeout_s=float(env.get("FACEPROOF_REQUEST_TIMEOUT_S", "60")),
            warm_models=_env_bool("FACEPROOF_WARM_MODELS", True),
            max_body_mb=float(env["FACEPROOF_MAX_BODY_MB"]) if env.get("FACEPROOF_MAX_BODY_MB") else None,
            rate_limit_per_min=float(env.get("FACEPROOF_RATE_LIMIT_PER_MIN", "0")),
            rate_limit_burst=int(env.get("FACEPROOF_RATE_LIMIT_BURST", "10")),
            cors_origins=tuple(o.strip() for o in env.get("FACEPROOF_CORS_ORIGINS", "").split(",") if o.strip()),
        )
