"""Errors as types: every failure a caller can act on has a stable machine-readable ``code``.

The API layer turns any :class:`FaceproofError` into a JSON body ``{"error": {"code", "message", ...}}`` with
the error's HTTP status, so a client never has to parse prose (the same idea as ``httpx``'s exception tree).
"""

from __future__ import annotations

from typing import Any, ClassVar


class FaceproofError(Exception):
    """Base class: a failure with a stable ``code``, a human ``message`` and an HTTP status."""

    code: ClassVar[str] = "faceproof_error"
    status_code: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ImageError(FaceproofError):
    """The upload cannot be used as an image."""


class EmptyUpload(ImageError):
    code = "empty_upload"


class NotAnImage(ImageError):
    code = "not_an_image"
    status_code = 415


class TruncatedImage(ImageError):
    code = "truncated_image"


class UploadTooLarge(ImageError):
    code = "upload_too_large"
    status_code = 413


class TooManyPixels(ImageError):
    code = "too_many_pixels"
    status_code = 413


class ImageTooSmall(ImageError):
    code = "image_too_small"
    status_code = 422


class FaceError(FaceproofError):
    """The image decodes but the face needed for the request is not there."""

    status_code = 422


class NoFace(FaceError):
    code = "no_face"


class FaceIndexOutOfRange(FaceError):
    code = "face_index_out_of_range"


class NotFound(FaceproofError):
    status_code = 404


class ProfileNotFound(NotFound):
    code = "profile_not_found"


class ImageNotFound(NotFound):
    code = "image_not_found"


class EnrolmentRefused(FaceproofError):
    """An enrolment image was refused by the quality or identity gate; nothing was changed."""

    code = "enrolment_refused"
    status_code = 422


class IncompatibleTemplate(FaceproofError):
    """A template made by another model version: comparing it would be silently wrong."""

    code = "incompatible_template"
    status_code = 409


class InvalidRequest(FaceproofError):
    """A request field is malformed (beyond what the schema can check)."""

    code = "invalid_request"
    status_code = 422


class DuplicateExternalId(FaceproofError):
    code = "duplicate_external_id"
    status_code = 409


class DuplicateProfile(FaceproofError):
    code = "duplicate_profile"
    status_code = 409


class Unauthorized(FaceproofError):
    """No API key, or one that is unknown or revoked (keys are configured, so every API call needs one)."""

    code = "unauthorized"
    status_code = 401
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="faceproof"'}


class Forbidden(FaceproofError):
    """A valid API key whose scope does not allow this call."""

    code = "forbidden"
    status_code = 403


class Overloaded(FaceproofError):
    """Every analysis slot and queue place is taken: retry shortly instead of waiting on a saturated server."""

    code = "overloaded"
    status_code = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class RequestTimedOut(FaceproofError):
    """The analysis did not finish within the configured time (waiting for a slot included)."""

    code = "timeout"
    status_code = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class InternalError(FaceproofError):
    """An unexpected failure: logged in full on the server, reported to the client without any detail."""

    code = "internal_error"
    status_code = 500


class MalformedRequest(FaceproofError):
    """The HTTP request itself could not be parsed - a broken multipart body, a text form field over the 1 MB part
    limit, too many parts - so nothing reached the service."""

    code = "malformed_request"
    status_code = 400


class RouteNotFound(NotFound):
    """No endpoint at this path (the framework's 404, in the same JSON shape as every other error)."""

    code = "not_found"


class MethodNotAllowed(FaceproofError):
    code = "method_not_allowed"
    status_code = 405


class RequestTooLarge(FaceproofError):
    """The whole request body is larger than the server accepts (cut off while it streams in)."""

    code = "request_too_large"
    status_code = 413


class RateLimited(FaceproofError):
    """This caller (API key, or address without keys) sent more requests than its per-minute allowance."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.headers = {"Retry-After": str(retry_after_s)}
