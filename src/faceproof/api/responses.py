"""The one JSON shape of every error answer: ``{"error": {"code", "message", "details"}}`` with the error's status
and headers (``Retry-After``, ``WWW-Authenticate``).

Why one function: the exception handlers answer errors raised inside routes, while the middlewares (auth, rate
limit, body cap) answer before any route runs; all of them must send exactly the same body and headers.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from faceproof.errors import FaceproofError


def error_response(error: FaceproofError) -> JSONResponse:
    """``error`` as the HTTP response the API sends for it."""
    return JSONResponse(
        {"error": error.to_dict()}, status_code=error.status_code, headers=getattr(error, "headers", None)
    )
