"""The FastAPI application: thin routes over :mod:`faceproof.service`, errors as JSON with stable codes.

``create_app(settings)`` builds an independent app (tests make one per storage backend); ``faceproof serve`` runs it
through uvicorn's factory mode (``faceproof.api.app:create_app``), configured from the environment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceproof import __version__
from faceproof.api import heap
from faceproof.api.access_log import AccessLogMiddleware
from faceproof.api.body_limit import BodyLimitMiddleware
from faceproof.api.limits import WorkLimiter
from faceproof.api.rate_limit import RateLimitMiddleware, TokenBuckets
from faceproof.api.responses import error_response
from faceproof.api.routes import analysis, profiles, system
from faceproof.config import Settings
from faceproof.errors import (
    FaceproofError,
    InternalError,
    MalformedRequest,
    MethodNotAllowed,
    RouteNotFound,
    UploadTooLarge,
)
from faceproof.models import registry
from faceproof.security import AuthMiddleware, KeyStore
from faceproof.service import Service
from faceproof.web import routes as web

log = logging.getLogger(__name__)

DESCRIPTION = """
**faceproof** builds a measured *facial profile* of a person from photos and decides whether a new image is a real
photo of that same person.

* `POST /analyze` measures a face without storing anything.
* `POST /create-profile` analyses a photo and saves it as a one-image profile (the original, seed-compatible call).
* `POST /profiles` enrols a person from several photos; `GET/PATCH/DELETE /profiles/{id}` manage it.
* `POST /profiles/{id}/verify`, `POST /compare`, `POST /identify` decide who is in a photo.
* `POST /authenticity` asks whether an image is a real camera photo of a real face.

## How to decide whether an image is a real photo of this person

1. **Enrol** the person with a few good photos (`POST /profiles`). Each is quality-gated (sharp, well exposed, face
   large enough, not in extreme pose), authenticity-gated, and must show the same person as the others. The profile
   keeps both models' templates, the geometry of the face with its own spread, and a *reality baseline*.
2. **Verify** the new image (`POST /profiles/{id}/verify`). Read `verdict` first:
   * `genuine` - the identity matches at the operating point (`match.far`, default 1 false accept in 1000) and no
     authenticity signal objects;
   * `different_person` - a usable photo whose identity score is below the threshold (a masked or noisy face is
     decided at the threshold of its own condition, `match.condition`, which holds the same false-accept rate), or
     a poor photo whose face is further from the profile than poor photos of the same person come
     (`match.clearly_different`: SFace below `match.reject_threshold`);
   * `suspected_fake` - an authenticity finding flags it (generated, swapped, recaptured, edited), whatever the
     identity says: a convincing fake of the right person is exactly what must not pass;
   * `inconclusive` - the photo is too poor to decide (see `quality.reasons`): no match, but not clearly someone
     else.
3. **Read why**: `match.match_probability` against `match.threshold`, each model's raw score, `geometry.outside`
   (measurements outside the person's own spread), and `findings`: one per signal with its score (0 = like a real
   camera photo, 1 = strong evidence of a fake), confidence and message. Missing metadata is never evidence.
4. Without a profile, `POST /authenticity` gives the single-image verdict (`likely_real`, `suspected_fake`,
   `inconclusive`); the profile adds the checks that need the person (inner vs outer face identity for swaps).

Every error is JSON: `{"error": {"code": "...", "message": "..."}}` with a stable `code` (see each endpoint's
documented responses). No raw image is stored unless the operator sets `FACEPROOF_STORE_IMAGES=1`.

When API keys are configured (`faceproof keys create`), every call except `/healthz`, `/readyz`, `/version` and
these docs needs one, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>` (401 `unauthorized`, 403
`forbidden`). A busy server answers 503 `overloaded` (or `timeout`) with `Retry-After` instead of keeping callers
waiting; a caller over its rate limit (when the operator set one) gets 429 `rate_limited` with `Retry-After`.
"""

#: Stable codes for the HTTP errors the framework raises itself, before any route code runs.
HTTP_ERROR_CODES: dict[int, str] = {
    400: MalformedRequest.code,
    404: RouteNotFound.code,
    405: MethodNotAllowed.code,
    413: UploadTooLarge.code,
}

TAGS = [
    {
        "name": "analysis",
        "description": "Measure a face: identity embeddings, geometry, appearance, quality.",
    },
    {"name": "profiles", "description": "Enrol people, verify photos against them, compare, identify (1:N)."},
    {"name": "authenticity", "description": "Is an image a real camera photo of a real face?"},
    {"name": "system", "description": "Liveness, readiness and version."},
]


def _warm_up() -> None:
    registry.load_all()
    heap.release_free_memory()  # what building the sessions freed (faceproof.api.heap)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    heap.limit_arenas()  # before the worker threads exist (faceproof.api.heap)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service.open(settings)
        app.state.service = service
        log.info("faceproof %s serving; storage %s", __version__, service.storage_label)
        if settings.warm_models:  # /readyz turns 200 when this is done; requests meanwhile load what they need
            threading.Thread(target=_warm_up, name="faceproof-warm-up", daemon=True).start()
        if not keys.configured:
            log.warning(
                "no API keys configured (%s): authentication is OFF - serve on loopback only, "
                "or create a key with 'faceproof keys create'",
                keys.path,
            )
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="faceproof",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    keys = app.state.keys = KeyStore(settings.resolved_api_keys_file)
    app.state.limiter = WorkLimiter(settings.max_inflight, settings.max_queue, settings.request_timeout_s)

    @app.exception_handler(FaceproofError)
    async def faceproof_error(_: Request, exc: FaceproofError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        # No detail leaves the server: the traceback is logged by the ASGI server, the client gets a stable code.
        return error_response(InternalError("An unexpected error occurred; it has been logged."))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        body = {
            "code": "invalid_request",
            "message": "The request is missing or has invalid fields.",
            "details": {"problems": problems},
        }
        return JSONResponse(status_code=422, content={"error": body})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own errors (an unparseable multipart body, an unknown path, a wrong method) in the same
        JSON shape as ours: without this a client got ``{"detail": ...}`` and had no code to act on. Starlette puts
        the multipart parser's reason (which limit or syntax rule the body broke) in ``detail``."""
        body = {"code": HTTP_ERROR_CODES.get(exc.status_code, "http_error"), "message": str(exc.detail)}
        return JSONResponse(status_code=exc.status_code, content={"error": body}, headers=exc.headers)

    app.include_router(analysis.router)
    app.include_router(profiles.router)
    app.include_router(system.router)
    app.include_router(web.router)
    # Outermost last: the access log sees every answer, CORS answers pre-flights before auth asks for a key, a
    # caller is authenticated before its rate is counted, and the body is capped before anything parses it.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.rate_limit_per_min > 0:
        buckets = TokenBuckets(settings.rate_limit_per_min, settings.rate_limit_burst)
        app.add_middleware(RateLimitMiddleware, buckets=buckets, keys=keys)
    app.add_middleware(AuthMiddleware, keys=keys)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(AccessLogMiddleware)
    return app
