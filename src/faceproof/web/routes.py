"""Serve the web page: ``GET /`` is the page, ``GET /web/<file>`` its script, style sheet and icon.

Only the files shipped in ``static/`` are served (a fixed allow-list read at import, so no path from the request
ever reaches the file system), and every response carries the security headers: a Content-Security-Policy that
allows only this origin (no inline script or style, no frames, no plugins), ``nosniff``, no referrer and no
framing. The routes are left out of the OpenAPI document: they are not part of the API.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import PurePosixPath
from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response

from faceproof.errors import NotFound

STATIC = files("faceproof.web") / "static"
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
ASSETS: Final = frozenset(
    entry.name
    for entry in STATIC.iterdir()
    if entry.is_file() and PurePosixPath(entry.name).suffix in MEDIA_TYPES and entry.name != "index.html"
)

router = APIRouter(include_in_schema=False)


class AssetNotFound(NotFound):
    code = "not_found"


def _static(name: str) -> Response:
    media_type = MEDIA_TYPES[PurePosixPath(name).suffix]
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers=SECURITY_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> Response:
    return _static("index.html")


@router.api_route("/web/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise AssetNotFound(f"There is no web asset named {name!r}.")
    return _static(name)
