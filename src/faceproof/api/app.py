"""The FastAPI application: thin routes over :mod:`faceproof.service`, errors as JSON with stable codes.

``create_app(settings)`` builds an independent app (tests make one per storage backend); ``faceproof serve`` runs it
through uvicorn's factory mode (``faceproof.api.app:create_app``), configured from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from faceproof import __version__
from faceproof.api.routes import analysis, profiles, system
from faceproof.config import Settings
from faceproof.errors import FaceproofError
from faceproof.service import Service
from faceproof.web import routes as web

log = logging.getLogger(__name__)

DESCRIPTION = """
**faceproof** builds a measured *facial profile* of a person from photos and decides whether a new image is a real
photo of that same person.

* `POST /analyze` measures a face without storing anything.
* `POST /create-profile` analyses a photo and saves it as a one-image profile (the original, seed-compatible call).
* `GET /profiles/{id}` returns a stored profile.

Every error is JSON: `{"error": {"code": "...", "message": "..."}}` with a stable `code` (see each endpoint's
documented responses). No raw image is stored unless the operator sets `FACEPROOF_STORE_IMAGES=1`.
"""

TAGS = [
    {
        "name": "analysis",
        "description": "Measure a face: identity embeddings, geometry, appearance, quality.",
    },
    {"name": "profiles", "description": "Enrol people, verify photos against them, compare, identify (1:N)."},
    {"name": "authenticity", "description": "Is an image a real camera photo of a real face?"},
    {"name": "system", "description": "Health and version."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service.open(settings)
        app.state.service = service
        log.info("faceproof %s serving; storage %s", __version__, service.storage_label)
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

    @app.exception_handler(FaceproofError)
    async def faceproof_error(_: Request, exc: FaceproofError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.to_dict()})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        body = {
            "code": "invalid_request",
            "message": "The request is missing or has invalid fields.",
            "details": {"problems": problems},
        }
        return JSONResponse(status_code=422, content={"error": body})

    app.include_router(analysis.router)
    app.include_router(profiles.router)
    app.include_router(system.router)
    app.include_router(web.router)
    return app
