"""Liveness, readiness and version: what is running, whether it can answer now, which model versions it uses."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from faceproof import __version__
from faceproof.api import examples
from faceproof.api.schemas import HealthResponse, ModelInfo, ReadinessResponse, VersionResponse
from faceproof.models import registry

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Is the process up?", response_model=HealthResponse)
def healthz() -> HealthResponse:
    """Liveness only: answers as soon as the process serves HTTP, whatever the models and the database are doing.
    A failing liveness check means "restart this process"; use `/readyz` to decide whether to send it traffic."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    summary="Can this worker answer analysis requests now?",
    response_model=ReadinessResponse,
    responses={
        503: {
            "model": ReadinessResponse,
            "description": "Models still loading or database unreachable.",
            "content": {"application/json": {"example": examples.NOT_READY}},
        }
    },
)
def readyz(request: Request, response: Response) -> ReadinessResponse:
    """Readiness for a load balancer: 200 when every model is loaded (they load in the background at start) and
    the database answers `SELECT 1`; 503 otherwise, with the same body saying which part is missing. The current
    queue of this worker is reported too (`analyses_running`, `analyses_waiting`)."""
    database = "ok"
    try:
        request.app.state.service.store.ping()
    except Exception as exc:  # any driver error means "not reachable"; the reason is logged, not leaked
        log.warning("readiness: database unreachable: %s", exc)
        database = f"unreachable ({type(exc).__name__})"
    loaded = registry.all_loaded()
    ready = loaded and database == "ok"
    if not ready:
        response.status_code = 503
    limiter = request.app.state.limiter
    return ReadinessResponse(
        status="ready" if ready else "not_ready",
        models_loaded=loaded,
        database=database,
        analyses_running=limiter.running,
        analyses_waiting=limiter.waiting,
    )


@router.get("/version", summary="faceproof and model versions", response_model=VersionResponse)
def version(request: Request) -> VersionResponse:
    """Versions of faceproof and of every model, and whether each is loaded in this process yet (models load
    lazily on first use)."""
    del request
    return VersionResponse(faceproof=__version__, models=[ModelInfo(**m) for m in registry.describe_models()])
