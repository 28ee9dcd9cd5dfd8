"""Documented error responses for ``/docs``: one example per error code, built from the error classes themselves.

Why generated: the codes a client must handle live in :mod:`faceproof.errors`; writing the examples by hand beside
each route would drift from them. Every route lists the error classes it can raise, grouped here by HTTP status.
"""

from __future__ import annotations

from typing import Any

from faceproof import errors
from faceproof.api.schemas import ErrorResponse

#: A realistic message per code, shown in the examples (the real message says more, with the numbers).
EXAMPLE_MESSAGES: dict[str, str] = {
    "empty_upload": "The upload is empty: send the image file's bytes.",
    "truncated_image": "The image file is damaged or truncated: image file is truncated.",
    "malformed_request": "Did not find boundary character 55 at index 2",
    "upload_too_large": "The upload is 22.4 MB; the limit is 15.7 MB.",
    "too_many_pixels": "The image is 30000x30000 = 900.0 MP; the limit is 40.0 MP.",
    "not_an_image": "The upload is not an image in a supported format (BMP, GIF, HEIF, JPEG, MPO, PNG, TIFF, WEBP).",
    "image_too_small": "The image is 48x60; both sides must be at least 64 px.",
    "no_face": "No face was found in the image.",
    "face_index_out_of_range": "face_index 3 is out of range: the image has 1 face(s), numbered from 0 (largest).",
    "invalid_request": "The request is missing or has invalid fields.",
    "enrolment_refused": "Photo 2 does not show the enrolled person (match probability 0.004).",
    "profile_not_found": "No profile with id '3f2c…'.",
    "image_not_found": "Profile '3f2c…' has no image '9a1b…'.",
    "duplicate_external_id": "A profile with external_id 'emp-0042' exists already.",
    "duplicate_profile": "A profile with id '3f2c…' exists already.",
    "unauthorized": "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
    "forbidden": "This key's scope 'verify' does not allow this call (needs 'enrol').",
    "overloaded": "The server is busy; retry in a second.",
    "timeout": "The analysis did not finish within 60 s.",
    "request_too_large": "The request body is larger than the 315.6 MB this server accepts.",
    "rate_limited": "Too many requests: retry in 4 s.",
}

IMAGE = (errors.EmptyUpload, errors.TruncatedImage, errors.UploadTooLarge, errors.TooManyPixels, errors.NotAnImage,
         errors.ImageTooSmall, errors.NoFace, errors.FaceIndexOutOfRange, errors.InvalidRequest,
         errors.RequestTooLarge)  # fmt: skip
BUSY = (errors.Overloaded, errors.RequestTimedOut)
AUTH = (errors.Unauthorized, errors.Forbidden, errors.RateLimited)


def error_responses(*classes: type[errors.FaceproofError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error classes: per HTTP status, the shared error model and one named example
    per code."""
    by_status: dict[int, list[type[errors.FaceproofError]]] = {}
    for cls in classes:
        by_status.setdefault(cls.status_code, []).append(cls)
    out: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        codes = sorted({c.code for c in group})
        examples = {
            code: {"summary": code, "value": {"error": {"code": code, "message": EXAMPLE_MESSAGES.get(code, code)}}}
            for code in codes
        }
        out[status] = {
            "model": ErrorResponse,
            "description": ", ".join(f"`{c}`" for c in codes),
            "content": {"application/json": {"examples": examples}},
        }
    return out
