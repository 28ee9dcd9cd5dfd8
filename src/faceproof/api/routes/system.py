"""Liveness and version: what is running, and which model versions a template was made with."""

from __future__ import annotations

from fastapi import APIRouter, Request

from faceproof import __version__
from faceproof.api.schemas import HealthResponse, ModelInfo, VersionResponse
from faceproof.models import registry

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Is the process up?", response_model=HealthResponse)
def healthz() -> HealthResponse:
    """Liveness only: answers as soon as the process serves HTTP (models load lazily on first use)."""
    return HealthResponse(status="ok")


@router.get("/version", summary="faceproof and model versions", response_model=VersionResponse)
def version(request: Request) -> VersionResponse:
    """Versions of faceproof and of every model, and whether each is loaded in this process yet (models load
    lazily on first use)."""
    del request
    return VersionResponse(faceproof=__version__, models=[ModelInfo(**m) for m in registry.describe_models()])
