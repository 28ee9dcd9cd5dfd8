"""Analyse an upload, and the seed's ``POST /create-profile``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from faceproof.api.limits import Work
from faceproof.api.openapi import AUTH, BUSY, IMAGE, error_responses
from faceproof.api.schemas import (
    AnalyzeResponse,
    AuthenticityOut,
    AuthenticityResponse,
    CreateProfileResponse,
    EvidenceOut,
    ProfileOut,
)
from faceproof.api.uploads import read_limited
from faceproof.security import Scope, require
from faceproof.service import Service

router = APIRouter()

IMAGE_ERRORS = error_responses(*IMAGE, *BUSY, *AUTH)

FaceIndex = Annotated[
    int,
    Query(
        ge=0,
        description="Which face to measure: 0 = the largest (default; a face cut by the image border counts at its "
        "whole estimated size).",
    ),
]
ImageFile = Annotated[UploadFile, File(description="A photo: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame), HEIC.")]
EvidenceScope = Annotated[
    Literal["none", "flagged", "all"],
    Query(
        description="Pictures of where the evidence lies (`evidence` in the answer, docs/authenticity.md): "
        "`flagged` for each finding that points to a fake, `all` for every finding that has a picture and could "
        "see something, `none` (the default) draws nothing.",
    ),
]
#: Route dependencies: the API key's scope must allow the call (no-ops while no key is configured).
VERIFY_SCOPE = [Depends(require(Scope.VERIFY))]
ENROL_SCOPE = [Depends(require(Scope.ENROL))]
ADMIN_SCOPE = [Depends(require(Scope.ADMIN))]


def service_of(request: Request) -> Service:
    return request.app.state.service


@router.post(
    "/analyze",
    tags=["analysis"],
    summary="Measure the face in a photo (nothing is stored)",
    response_model=AnalyzeResponse,
    responses=IMAGE_ERRORS,
    dependencies=VERIFY_SCOPE,
)
async def analyze_image(
    request: Request,
    file: ImageFile,
    work: Work,
    face_index: FaceIndex = 0,
    include_embeddings: Annotated[bool, Query(description="Return the identity vectors.")] = False,
    include_landmarks: Annotated[bool, Query(description="Return the 478-point mesh.")] = False,
) -> AnalyzeResponse:
    """Detect every face, pick one (`face_index`, default the largest), and measure it: two identity embeddings
    (SFace and dlib), the 478-point mesh with head pose, face shape, proportions and symmetry, skin tone and iris
    colour, quality flags, and a description generated from those measurements. Use it to see what faceproof
    sees before enrolling a photo."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    result = await work.run(service.analyze, data, face_index)
    return AnalyzeResponse.of(result, include_embeddings=include_embeddings, include_landmarks=include_landmarks)


@router.post(
    "/authenticity",
    tags=["authenticity"],
    summary="Is this a real camera photo of a real face?",
    response_model=AuthenticityResponse,
    responses=IMAGE_ERRORS,
    dependencies=VERIFY_SCOPE,
)
async def authenticity(
    request: Request, file: ImageFile, work: Work, face_index: FaceIndex = 0, evidence: EvidenceScope = "none"
) -> AuthenticityResponse:
    """Runs every single-image authenticity signal - frequency artefacts of generator up-sampling, noise
    residuals and their consistency across the image, recapture (moiré, half-tone, screen grids), provenance
    metadata (C2PA, IPTC DigitalSourceType, generator PNG chunks, EXIF) and the learned detectors - and fuses them
    into a calibrated `fake_probability`. Verdict: `likely_real`, `suspected_fake` (with the suspected kind:
    `generated`, `swapped`, `recaptured`, `edited`) or `inconclusive` (a face too poor to vouch for). Missing
    metadata is never evidence. Verifying against a profile (`POST /profiles/{id}/verify`) adds the checks that
    need the person: inner/outer face identity (swaps) and the person's own reality baseline. With
    `evidence=flagged` (or `all`) the answer adds a picture of where each finding's evidence lies: the learned
    detectors' class-activation maps, the swap's blending boundary, the replay's spectrum, the mesh."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    result, report = await work.run(service.authenticity, data, face_index)
    out = AuthenticityOut.of(report)
    pictures = None if evidence == "none" else await work.run(EvidenceOut.rendered, result, report, evidence)
    return AuthenticityResponse(
        **out.model_dump(),
        description=result.description,
        faces_found=len(result.faces),
        quality=result.subject.quality,
        evidence=pictures,
    )


@router.post(
    "/create-profile",
    tags=["profiles"],
    summary="Create a one-image profile from a photo (seed-compatible)",
    response_model=CreateProfileResponse,
    status_code=201,
    responses=IMAGE_ERRORS,
    dependencies=ENROL_SCOPE,
)
async def create_profile(
    request: Request, file: ImageFile, work: Work, face_index: FaceIndex = 0
) -> CreateProfileResponse:
    """The original call: upload a photo, get `{"description": ...}`. The profile is also saved; the response adds
    its `profile_id`, the stored profile and the full analysis. Read it back with `GET /profiles/{id}`."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    profile, result = await work.run(service.create_profile_from_image, data, face_index)
    return CreateProfileResponse(
        description=result.description,
        profile_id=profile.id,
        profile=ProfileOut.of(profile),
        analysis=AnalyzeResponse.of(result),
    )
