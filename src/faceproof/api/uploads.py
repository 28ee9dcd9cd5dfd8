"""Read an uploaded file without ever holding more than the configured limit in memory."""

from __future__ import annotations

from fastapi import UploadFile

from faceproof.errors import UploadTooLarge

CHUNK = 1 << 20


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes; stops reading (and raises ``upload_too_large``) one chunk past the limit."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise UploadTooLarge(
                f"The upload is larger than the {max_bytes / 1e6:.1f} MB limit.", limit_bytes=max_bytes
            )
        chunks.append(chunk)
    return b"".join(chunks)
