"""Profiles: enrol from several photos, manage them, verify against them, compare two photos, identify (1:N)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from faceproof import errors
from faceproof.api import examples
from faceproof.api.limits import Work
from faceproof.api.openapi import AUTH, BUSY, IMAGE, error_responses
from faceproof.api.routes.analysis import (
    ADMIN_SCOPE,
    ENROL_SCOPE,
    IMAGE_ERRORS,
    VERIFY_SCOPE,
    EvidenceScope,
    FaceIndex,
    ImageFile,
    service_of,
)
from faceproof.api.schemas import (
    CompareResponse,
    EnrolmentResponse,
    EvidenceOut,
    IdentifyResponse,
    ImageAddedResponse,
    ProfileImageOut,
    ProfileList,
    ProfileOut,
    ProfilePatch,
    RealityBaselineOut,
    VerifyResponse,
)
from faceproof.api.uploads import read_limited
from faceproof.config import MAX_PHOTOS_PER_REQUEST
from faceproof.errors import InvalidRequest

router = APIRouter(tags=["profiles"])

NOT_FOUND = error_responses(errors.ProfileNotFound, errors.ImageNotFound, *AUTH)
ENROL_ERRORS = error_responses(*IMAGE, *BUSY, *AUTH, errors.EnrolmentRefused, errors.DuplicateExternalId)
Far = Annotated[
    float | None,
    Query(
        description="Operating point as a false-accept rate: 0.01, 0.001 (default) or 0.0001.",
        openapi_examples={
            "default": {"summary": "1 false accept in 1000 (the default)", "value": 0.001},
            "lenient": {"summary": "1 in 100: fewer false rejects", "value": 0.01},
            "strict": {"summary": "1 in 10000: fewer false accepts", "value": 0.0001},
        },
    ),
]
ProfileId = Annotated[
    str,
    Path(
        description="The profile's id, as returned by `POST /profiles`.",
        openapi_examples={"ada": {"summary": "Ada's profile", "value": examples.PROFILE_ID}},
    ),
]
ImageId = Annotated[
    str,
    Path(
        description="An enrolment photo's id, as listed by `GET /profiles/{id}/images`.",
        openapi_examples={"first": {"summary": "Ada's first photo", "value": examples.IMAGE_ID}},
    ),
]


def _metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"metadata must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("metadata must be a JSON object.")
    return value


@router.post(
    "/profiles",
    summary="Enrol a person from one or more photos",
    response_model=EnrolmentResponse,
    status_code=201,
    responses=ENROL_ERRORS,
    dependencies=ENROL_SCOPE,
)
async def create_profile(
    request: Request,
    files: Annotated[list[UploadFile], File(description=f"1..{MAX_PHOTOS_PER_REQUEST} photos of the same person.")],
    work: Work,
    name: Annotated[str, Form(max_length=200, description="Display name.", examples=["Ada"])] = "",
    external_id: Annotated[
        str | None, Form(max_length=200, description="Your own id; unique if given.", examples=["emp-0042"])
    ] = None,
    metadata: Annotated[
        str | None, Form(description="A JSON object kept with the profile.", examples=['{"team": "research"}'])
    ] = None,
    face_index: FaceIndex = 0,
) -> EnrolmentResponse:
    """Every photo must be usable for identity (sharp, well exposed, large enough, not in extreme pose) and show
    the same person as the others; otherwise the whole request is refused with `enrolment_refused` and a reason,
    and nothing is stored. The profile keeps both models' embeddings per photo, a centroid per model with the
    person's own spread, and the mean and standard deviation of every geometry measurement."""
    service = service_of(request)
    meta = _metadata(metadata)
    if len(files) > MAX_PHOTOS_PER_REQUEST:
        raise InvalidRequest(
            f"At most {MAX_PHOTOS_PER_REQUEST} photos per enrolment request; add more with POST "
            "/profiles/{id}/images.",
            photos=len(files),
            limit=MAX_PHOTOS_PER_REQUEST,
        )
    datas = [await read_limited(f, service.settings.max_upload_bytes) for f in files]
    profile, _ = await work.run(service.create_profile, datas, name, external_id, meta, face_index)
    images = await run_in_threadpool(service.list_images, profile.id)
    return EnrolmentResponse(profile=ProfileOut.of(profile), images=[ProfileImageOut.of(i) for i in images])


@router.get("/profiles", summary="List profiles (paginated)", response_model=ProfileList, dependencies=VERIFY_SCOPE)
async def list_profiles(
    request: Request,
    offset: Annotated[int, Query(ge=0, description="How many profiles to skip, in creation order.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many profiles in the answer.")] = 50,
) -> ProfileList:
    """Profiles in creation order, `limit` at a time from `offset`, with `total` for paging. Each item carries the
    description and the aggregated measurements; templates are never listed."""
    items, total = await run_in_threadpool(service_of(request).list_profiles, offset, limit)
    return ProfileList(items=[ProfileOut.of(p) for p in items], total=total, offset=offset, limit=limit)


@router.get(
    "/profiles/{profile_id}",
    summary="Read a profile",
    response_model=ProfileOut,
    responses=NOT_FOUND,
    dependencies=VERIFY_SCOPE,
)
async def get_profile(request: Request, profile_id: ProfileId) -> ProfileOut:
    """The profile's name, description, image count and aggregated measurements (no raw images)."""
    return ProfileOut.of(await run_in_threadpool(service_of(request).get_profile, profile_id))


@router.patch(
    "/profiles/{profile_id}",
    summary="Rename or re-tag a profile",
    response_model=ProfileOut,
    responses=NOT_FOUND,
    dependencies=ENROL_SCOPE,
)
async def patch_profile(request: Request, profile_id: ProfileId, patch: ProfilePatch) -> ProfileOut:
    """Change the name, your external id (unique) or the metadata. Measurements and templates change only by adding
    or removing photos. Send only the fields to change."""
    changes = patch.model_dump(exclude_unset=True)
    return ProfileOut.of(await run_in_threadpool(lambda: service_of(request).update_profile(profile_id, **changes)))


@router.delete(
    "/profiles/{profile_id}",
    summary="Delete a profile and everything derived from it",
    status_code=204,
    responses=NOT_FOUND,
    dependencies=ADMIN_SCOPE,
)
async def delete_profile(request: Request, profile_id: ProfileId) -> Response:
    """Deletes the profile, its embeddings and measurements (and stored images, if any). Not recoverable."""
    await run_in_threadpool(service_of(request).delete_profile, profile_id)
    return Response(status_code=204)


@router.get(
    "/profiles/{profile_id}/export",
    summary="Export a profile as JSON (no raw images)",
    response_model=dict[str, Any],
    responses={200: {"content": {"application/json": {"examples": examples.EXPORT_EXAMPLES}}}, **NOT_FOUND},
    dependencies=ADMIN_SCOPE,
)
async def export_profile(request: Request, profile_id: ProfileId) -> dict[str, Any]:
    """A self-contained, versioned document: the profile, each image's measurements and templates (model@version
    tagged). Import it elsewhere with `POST /profiles/import`. Templates are biometric data: protect the file."""
    service = service_of(request)
    await run_in_threadpool(service.get_profile, profile_id)
    return await run_in_threadpool(service.store.export_profile, profile_id)


@router.post(
    "/profiles/import",
    summary="Import a profile exported by faceproof",
    response_model=ProfileOut,
    status_code=201,
    responses=error_responses(errors.DuplicateProfile, errors.DuplicateExternalId, errors.InvalidRequest, *AUTH),
    dependencies=ADMIN_SCOPE,
)
async def import_profile(
    request: Request, document: Annotated[dict[str, Any], Body(openapi_examples=examples.EXPORT_EXAMPLES)]
) -> ProfileOut:
    """Restores a profile written by `GET /profiles/{id}/export` (or `faceproof export`), keeping its id."""
    service = service_of(request)
    return ProfileOut.of(await run_in_threadpool(service.import_profile, document))


@router.get(
    "/profiles/{profile_id}/images",
    summary="List a profile's enrolment images",
    response_model=list[ProfileImageOut],
    responses=NOT_FOUND,
    dependencies=VERIFY_SCOPE,
)
async def list_images(request: Request, profile_id: ProfileId) -> list[ProfileImageOut]:
    """The enrolment photos behind the profile: per photo its description, quality figures and face box (and
    whether the raw bytes are stored - only with `FACEPROOF_STORE_IMAGES=1`)."""
    return [ProfileImageOut.of(i) for i in await run_in_threadpool(service_of(request).list_images, profile_id)]


@router.get(
    "/profiles/{profile_id}/reality-baseline",
    summary="A profile's reality baseline, feature by feature",
    response_model=RealityBaselineOut,
    responses=NOT_FOUND,
    dependencies=VERIFY_SCOPE,
)
async def reality_baseline(request: Request, profile_id: ProfileId) -> RealityBaselineOut:
    """The authenticity features measured on the enrolment photos (each photo's value, their mean and spread) and,
    per feature, the band `[low, high]` a new photo's value must stay within: outside it, verification reports a
    `reality_baseline` finding (evidence to weigh, never a verdict on its own). The median and spread of the
    training images put the person's photos in context. The web page draws it as a plot."""
    service = service_of(request)
    profile = await run_in_threadpool(service.get_profile, profile_id)
    images = await run_in_threadpool(service.list_images, profile_id)
    return await run_in_threadpool(RealityBaselineOut.of, profile, images)


@router.post(
    "/profiles/{profile_id}/images",
    summary="Add an enrolment photo",
    response_model=ImageAddedResponse,
    status_code=201,
    responses={**ENROL_ERRORS, **NOT_FOUND},
    dependencies=ENROL_SCOPE,
)
async def add_image(
    request: Request, profile_id: ProfileId, file: ImageFile, work: Work, face_index: FaceIndex = 0
) -> ImageAddedResponse:
    """Quality- and identity-gated like enrolment; the profile's aggregates are recomputed from all its images."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    profile, image_id, result = await work.run(service.add_image, profile_id, data, face_index)
    return ImageAddedResponse(image_id=image_id, profile=ProfileOut.of(profile), description=result.description)


@router.delete(
    "/profiles/{profile_id}/images/{image_id}",
    summary="Remove an enrolment photo",
    response_model=ProfileOut,
    responses=NOT_FOUND,
    dependencies=ENROL_SCOPE,
)
async def delete_image(request: Request, profile_id: ProfileId, image_id: ImageId) -> ProfileOut:
    """Remove one enrolment photo with its templates and measurements; the profile's centroids, spread, geometry
    statistics, reality baseline and description are recomputed from the photos that remain."""
    return ProfileOut.of(await run_in_threadpool(service_of(request).delete_image, profile_id, image_id))


@router.post(
    "/profiles/{profile_id}/verify",
    summary="Is this photo the enrolled person?",
    response_model=VerifyResponse,
    responses={**IMAGE_ERRORS, **NOT_FOUND},
    dependencies=VERIFY_SCOPE,
)
async def verify(
    request: Request,
    profile_id: ProfileId,
    file: ImageFile,
    work: Work,
    far: Far = None,
    face_index: FaceIndex = 0,
    evidence: EvidenceScope = "none",
) -> VerifyResponse:
    """Returns a verdict - `genuine`, `different_person`, `suspected_fake` or `inconclusive` - with the calibrated
    match probability, each model's raw score, the fused score, the threshold and the false-accept rate it was
    derived for, how the face's geometry sits within the person's own spread, and one reason per signal.
    A photo below the threshold whose quality is poor is `inconclusive`, never silently `different_person`.
    With `evidence=flagged` (or `all`) the answer adds a picture of where each finding's evidence lies - the
    face-swap check's blending boundary, the learned detectors' class-activation maps, the replay's spectrum, the
    mesh of a geometry outside the person's spread."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    result = await work.run(service.verify, profile_id, data, far, face_index)
    o = result.outcome
    pictures = (
        None
        if evidence == "none"
        else await work.run(EvidenceOut.rendered, result.analysis, o.authenticity, evidence, o.geometry)
    )
    return VerifyResponse.of(result, evidence=pictures)


@router.post(
    "/compare",
    summary="Are two photos the same person?",
    response_model=CompareResponse,
    responses=IMAGE_ERRORS,
    dependencies=VERIFY_SCOPE,
)
async def compare(
    request: Request, first: ImageFile, second: ImageFile, work: Work, far: Far = None
) -> CompareResponse:
    """Both photos are analysed (largest face each) and scored with both models and the calibrated fusion."""
    service = service_of(request)
    a = await read_limited(first, service.settings.max_upload_bytes)
    b = await read_limited(second, service.settings.max_upload_bytes)
    return CompareResponse.of(await work.run(service.compare, a, b, far))


@router.post(
    "/identify",
    summary="Who is this? (1:N search)",
    response_model=IdentifyResponse,
    responses=IMAGE_ERRORS,
    dependencies=VERIFY_SCOPE,
)
async def identify(
    request: Request,
    file: ImageFile,
    work: Work,
    top_k: Annotated[int, Query(ge=1, le=100, description="How many candidates to return.")] = 5,
    far: Far = None,
    face_index: FaceIndex = 0,
) -> IdentifyResponse:
    """Searches every profile's SFace templates (an HNSW index) and returns the best `top_k` profiles with their
    similarity, calibrated probability and whether each clears the threshold for `far` at its own condition (the
    photo's face state paired with those of the profile's stored photos: a profile seeded from a masked photo is
    held to a covered condition's threshold)."""
    service = service_of(request)
    data = await read_limited(file, service.settings.max_upload_bytes)
    return IdentifyResponse.of(await work.run(service.identify, data, top_k, far, face_index))
