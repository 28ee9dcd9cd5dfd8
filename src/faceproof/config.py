"""Settings read once from ``FACEPROOF_*`` environment variables (12-factor style, no config files needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


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

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'faceproof.sqlite3').resolve()}"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            data_dir=Path(env.get("FACEPROOF_DATA_DIR", "data")),
            database_url=env.get("FACEPROOF_DATABASE_URL", ""),
            max_upload_mb=float(env.get("FACEPROOF_MAX_UPLOAD_MB", "15")),
            max_pixels=int(float(env.get("FACEPROOF_MAX_PIXELS", "40000000"))),
            min_side=int(env.get("FACEPROOF_MIN_SIDE", "64")),
            store_images=_env_bool("FACEPROOF_STORE_IMAGES", False),
            far_target=float(env.get("FACEPROOF_FAR", "1e-3")),
            log_level=env.get("FACEPROOF_LOG_LEVEL", "INFO"),
        )
