"""Use cases that combine the pipeline with storage. The API and the CLI both call these; neither holds logic.

A :class:`Service` owns one store (SQLite by default, PostgreSQL when ``FACEPROOF_DATABASE_URL`` says so) and the
settings. Analysis itself is pure (:func:`faceproof.analysis.analyze`); this layer decides what is kept, applies
the enrolment gates, and turns scores into verdicts through :mod:`faceproof.decision`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from annotated_types import Len
from pydantic import BaseModel, Field, ValidationError

from faceproof.analysis import Analysis, analyze
from faceproof.authenticity import consistency
from faceproof.authenticity.base import Finding
from faceproof.authenticity.engine import AuthenticityReport, assess, feature_values, measure_signals
from faceproof.authenticity.fusion import load_fusion
from faceproof.config import Settings
from faceproof.decision import wording
from faceproof.decision.calibration import Condition, MatchDecision, load_calibration, pair_condition
from faceproof.decision.verify import VerifyOutcome, decide_verdict, geometry_agreement, score_against
from faceproof.errors import DuplicateProfile, EnrolmentRefused, FaceproofError, InvalidRequest, ProfileNotFound
from faceproof.intake import IntakeLimits
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, dlib_embedding
from faceproof.measure.quality import face_state
from faceproof.profile.aggregate import image_document, image_embeddings, summarize
from faceproof.storage import ImageRecord, NewImage, ProfileRecord, SearchHit, Store, open_store

log = logging.getLogger(__name__)

#: Enrolment refuses a photo whose face is "clearly not" the enrolled person: below the threshold at this lenient
#: false-accept rate (1 impostor in 100 would still get through; a genuine photo almost never fails it).
ENROL_IDENTITY_FAR = 1e-2
#: Operating points the shipped calibration has thresholds for.
SUPPORTED_FARS = (1e-2, 1e-3, 1e-4)


Vector = Annotated[list[float], Len(128, 128)]


class _ExportedImage(BaseModel):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    created_at: datetime
    analysis: dict[str, Any]
    embeddings: dict[Annotated[str, Len(1, 100)], Vector]


class _ExportedProfile(BaseModel):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    name: str = Field(max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any]
    summary: dict[str, Any]
    created_at: datetime


class ProfileExport(BaseModel):
    """The shape of ``GET /profiles/{id}/export`` / ``faceproof export``: validated before anything is stored."""

    format: Literal["faceproof.profile"]
    schema_version: Literal[1]
    profile: _ExportedProfile
    images: list[_ExportedImage] = Field(max_length=1000)


@dataclass
class Probe:
    """A photo to verify, analysed once: its templates (dlib added on demand) and single-image findings."""

    analysis: Analysis
    findings: list[Finding]
    embeddings: dict[str, np.ndarray]

    def ensure_dlib(self) -> None:
        if DLIB_KEY not in self.embeddings:
            s = self.analysis.subject
            rgb, state = self.analysis.image.rgb, s.quality.face_state
            self.embeddings[DLIB_KEY] = dlib_embedding(rgb, s.face, state=state).vector

    def ensure_outer(self) -> None:
        """The outer-face template, which only the swap check reads (the inner one is taken up front)."""
        s = self.analysis.subject
        if consistency.OUTER_KEY not in self.embeddings and s.landmarks is not None:
            rgb, keys = self.analysis.image.rgb, (consistency.OUTER_KEY,)
            self.embeddings.update(consistency.region_embeddings(rgb, s.face.keypoints, s.landmarks, keys))


def prepare_probe(result: Analysis) -> Probe:
    """Everything about a probe that does not depend on the profile, computed once (evaluations reuse it). Of the
    region templates only the inner face's: whether the swap check runs depends on it (``ensure_outer``)."""
    s = result.subject
    regions = {}
    if s.landmarks is not None:
        keys = (consistency.INNER_KEY,)
        regions = consistency.region_embeddings(result.image.rgb, s.face.keypoints, s.landmarks, keys)
    embeddings = {k: e.vector for k, e in s.embeddings.items()}
    return Probe(analysis=result, findings=measure_signals(result), embeddings={**embeddings, **regions})


def verify_probe(
    probe: Probe,
    profile: ProfileRecord,
    enrolled: list[dict[str, np.ndarray]],
    far: float,
    enrolled_states: Sequence[str] = (),
) -> VerifyOutcome:
    """The verdict on one prepared probe against one profile (pure apart from the lazy dlib and outer-face
    templates). ``enrolled_states``: the face states of the profile's photos (:func:`stored_face_state`; none given:
    open, as enrolment leaves them); enrolment refuses covered and noisy photos, but the classic ``/create-profile``
    takes any photo."""
    calibration = load_calibration()
    s = probe.analysis.subject
    condition = calibration.strictest_condition(s.quality.face_state, enrolled_states, far)
    sface_score, _ = score_against({SFACE_KEY: probe.embeddings[SFACE_KEY]}, enrolled)
    scored = {SFACE_KEY: probe.embeddings[SFACE_KEY]}
    if calibration.needs_second_model(sface_score, far, condition):
        probe.ensure_dlib()
        scored[DLIB_KEY] = probe.embeddings[DLIB_KEY]
    sface_score, dlib_score = score_against(scored, enrolled)
    match = calibration.decide(sface_score, dlib_score, far, condition)
    measurements = s.geometry.measurements() if s.geometry else {}
    agreement = geometry_agreement(measurements, profile.summary.get("geometry", {}))
    features = feature_values(probe.findings)
    regions = consistency.region_scores(probe.embeddings, enrolled)
    if consistency.swap_check_applies(regions, match.same_person):
        probe.ensure_dlib()  # the swap model weighs both identity models (a swap convinces dlib, not SFace)
        probe.ensure_outer()
    evidence = consistency.swap_evidence(probe.embeddings, enrolled, agreement.agreement, s.quality.reasons)
    limits = consistency.check_limits(s.quality.reasons, features)
    conditioned = [consistency.identity_consistency(evidence, limits, match.same_person)]
    population = load_fusion().population_scale
    baseline = profile.summary.get("reality_baseline", {})
    conditioned.append(consistency.baseline_deviation(features, baseline, population))
    authenticity = assess(probe.analysis, findings=probe.findings, conditioned=conditioned)
    return decide_verdict(match, s.quality.usable_for_verification, s.quality.reasons, agreement, authenticity)


@dataclass(frozen=True)
class VerifyResult:
    profile: ProfileRecord
    analysis: Analysis
    outcome: VerifyOutcome


@dataclass(frozen=True)
class CompareResult:
    first: Analysis
    second: Analysis
    match: MatchDecision
    usable: bool
    reasons: list[str]


@dataclass(frozen=True)
class Candidate:
    profile: ProfileRecord
    image_id: str
    similarity: float
    match_probability: float
    above_threshold: bool
    threshold: float  # SFace similarity this candidate is held to, at its condition
    condition: Condition


@dataclass(frozen=True)
class IdentifyResult:
    analysis: Analysis
    candidates: list[Candidate]
    threshold: float
    far: float
    searched: str = field(default=SFACE_KEY)


@dataclass
class Service:
    settings: Settings
    store: Store

    @classmethod
    def open(cls, settings: Settings) -> Service:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings=settings, store=open_store(settings.resolved_database_url))

    @property
    def storage_label(self) -> str:
        return self.store.label

    @property
    def limits(self) -> IntakeLimits:
        s = self.settings
        return IntakeLimits(max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels, min_side=s.min_side)

    def close(self) -> None:
        self.store.close()

    # ---------------------------------------------------------------- analysis

    def analyze(self, data: bytes, face_index: int = 0, *, with_dlib: bool = True) -> Analysis:
        return analyze(data, face_index=face_index, limits=self.limits, with_dlib=with_dlib)

    # ---------------------------------------------------------------- profiles

    def create_profile_from_image(self, data: bytes, face_index: int = 0) -> tuple[ProfileRecord, Analysis]:
        """The seed's ``/create-profile``: one photo, stored as a one-image profile (no quality gate, as before)."""
        result = self.analyze(data, face_index)
        image = new_image(result, data if self.settings.store_images else None)
        summary = summarize([(image.analysis, image.embeddings)])
        profile = self.store.create_profile(name="", external_id=None, metadata={}, images=[image], summary=summary)
        log.info("profile %s created from 1 image", profile.id)
        return profile, result

    def create_profile(
        self,
        images: list[bytes],
        name: str = "",
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        face_index: int = 0,
    ) -> tuple[ProfileRecord, list[Analysis]]:
        """Enrol a person from one or more photos. All photos pass the gates or nothing is stored."""
        prepared = [self.prepare_enrolment(data, face_index, index=i) for i, data in enumerate(images)]
        profile = self.create_prepared_profile([image for image, _ in prepared], name, external_id, metadata)
        return profile, [analysis for _, analysis in prepared]

    def prepare_enrolment(self, data: bytes, face_index: int = 0, index: int = 0) -> tuple[NewImage, Analysis]:
        """:func:`prepare_enrolment` with this service's upload limits and image-retention setting."""
        keep = self.settings.store_images
        return prepare_enrolment(data, self.limits, keep_bytes=keep, face_index=face_index, index=index)

    def create_prepared_profile(
        self,
        images: list[NewImage],
        name: str = "",
        external_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ProfileRecord:
        """Store a profile from photos that passed :func:`prepare_enrolment` (batch enrolment prepares them in worker
        processes); the identity gate runs here because it needs all of them."""
        for i, image in enumerate(images):
            gate_identity(image.embeddings, [other.embeddings for j, other in enumerate(images) if j != i], i)
        summary = summarize([(img.analysis, img.embeddings) for img in images])
        profile = self.store.create_profile(
            name=name, external_id=external_id, metadata=metadata or {}, images=images, summary=summary
        )
        log.info("profile %s created from %d images", profile.id, len(images))
        return profile

    def add_image(self, profile_id: str, data: bytes, face_index: int = 0) -> tuple[ProfileRecord, str, Analysis]:
        """Add an enrolment photo; the profile's aggregates are recomputed from all its images, atomically."""
        self.get_profile(profile_id)
        new, result = self.prepare_enrolment(data, face_index)
        image_id = self.add_prepared_image(profile_id, new)
        return self.get_profile(profile_id), image_id, result

    def add_prepared_image(self, profile_id: str, new: NewImage) -> str:
        """Add a photo that passed :func:`prepare_enrolment`; the identity gate compares it with the stored images
        inside the profile's transaction, so concurrent enrolments cannot both pass against a stale list."""
        with self.store.profile_transaction(profile_id) as tx:
            existing = tx.images()
            states = [stored_face_state(img.analysis) for img in existing]
            gate_identity(new.embeddings, [img.embeddings for img in existing], 0, states)
            image_id = tx.add_image(new)
            tx.set_summary(summarize([(i.analysis, i.embeddings) for i in tx.images()]))
        log.info("profile %s: image %s added", profile_id, image_id)
        return image_id

    def delete_image(self, profile_id: str, image_id: str) -> ProfileRecord:
        self.get_profile(profile_id)
        with self.store.profile_transaction(profile_id) as tx:
            tx.delete_image(image_id)  # ImageNotFound when the image is not this profile's; nothing changes then
            tx.set_summary(summarize([(i.analysis, i.embeddings) for i in tx.images()]))
        log.info("profile %s: image %s deleted", profile_id, image_id)
        return self.get_profile(profile_id)

    def get_profile(self, profile_id: str) -> ProfileRecord:
        profile = self.store.get_profile(profile_id)
        if profile is None:
            raise ProfileNotFound(f"No profile with id {profile_id!r}.", profile_id=profile_id)
        return profile

    def list_images(self, profile_id: str) -> list[ImageRecord]:
        self.get_profile(profile_id)
        return self.store.list_images(profile_id)

    def list_profiles(self, offset: int = 0, limit: int = 50) -> tuple[list[ProfileRecord], int]:
        return self.store.list_profiles(offset=offset, limit=limit)

    def update_profile(self, profile_id: str, **changes: Any) -> ProfileRecord:
        self.get_profile(profile_id)
        return self.store.update_profile(profile_id, **changes)

    def import_profile(self, document: dict[str, Any]) -> ProfileRecord:
        """Restore an exported profile; an id that exists already is refused (never overwritten)."""
        try:
            profile_id = ProfileExport.model_validate(document).profile.id
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
            raise InvalidRequest("Not a valid faceproof profile export.", problems=problems) from exc
        if self.store.get_profile(profile_id) is not None:
            raise DuplicateProfile(f"A profile with id {profile_id!r} exists already.", profile_id=profile_id)
        try:
            return self.store.import_profile(document)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"Not a valid faceproof profile export: {exc}") from exc

    def delete_profile(self, profile_id: str) -> None:
        self.get_profile(profile_id)
        self.store.delete_profile(profile_id)
        log.info("profile %s deleted", profile_id)

    # ---------------------------------------------------------------- decisions

    def verify(self, profile_id: str, data: bytes, far: float | None = None, face_index: int = 0) -> VerifyResult:
        """Is the face in ``data`` the enrolled person, in a real photo? dlib runs only when SFace is not conclusive."""
        far = self._far(far)
        profile = self.get_profile(profile_id)
        images = self.store.list_images(profile_id)
        enrolled, states = [img.embeddings for img in images], [stored_face_state(img.analysis) for img in images]
        probe = prepare_probe(self.analyze(data, face_index, with_dlib=False))
        outcome = verify_probe(probe, profile, enrolled, far, states)
        return VerifyResult(profile=profile, analysis=probe.analysis, outcome=outcome)

    def authenticity(self, data: bytes, face_index: int = 0) -> tuple[Analysis, AuthenticityReport]:
        """Is this a real camera photo of a real face? (No profile: the single-image signals only.)"""
        result = self.analyze(data, face_index, with_dlib=False)
        return result, assess(result)

    def compare(self, first: bytes, second: bytes, far: float | None = None) -> CompareResult:
        far = self._far(far)
        a, b = self.analyze(first), self.analyze(second)
        sface = float(np.dot(a.embedding(SFACE_KEY).vector, b.embedding(SFACE_KEY).vector))
        dlib = float(np.dot(a.embedding(DLIB_KEY).vector, b.embedding(DLIB_KEY).vector))
        condition = pair_condition(a.subject.quality.face_state, b.subject.quality.face_state)
        match = load_calibration().decide(sface, dlib, far, condition)
        reasons = [
            wording.reason_unusable_photo(n, x.subject.quality.reasons)
            for n, x in ((1, a), (2, b))
            if not x.subject.quality.usable_for_verification
        ]
        usable = not reasons
        return CompareResult(first=a, second=b, match=match, usable=usable, reasons=reasons)

    def identify(self, data: bytes, top_k: int = 5, far: float | None = None, face_index: int = 0) -> IdentifyResult:
        """1:N search on SFace templates (ANN index), best image per profile, calibrated like verification: each
        candidate is held to the SFace threshold of the strictest pairing of the probe's face state with those of
        the profile's stored photos, so a profile seeded from a masked or noisy photo through the classic
        ``/create-profile`` keeps the false-accept target."""
        far = self._far(far)
        result = self.analyze(data, face_index, with_dlib=False)
        calibration = load_calibration()
        state = result.subject.quality.face_state
        threshold = calibration.threshold(far, "sface", pair_condition(state, "open"))
        hits: list[SearchHit] = self.store.search(SFACE_KEY, result.embedding(SFACE_KEY).vector, top_k)
        candidates = []
        for hit in hits:
            profile = self.store.get_profile(hit.profile_id)
            if profile is None:  # deleted between search and read
                continue
            states = [stored_face_state(img.analysis) for img in self.store.list_images(hit.profile_id)]
            condition = calibration.strictest_condition(state, states, far, model="sface")
            held_to = calibration.threshold(far, "sface", condition)
            candidates.append(
                Candidate(
                    profile=profile,
                    image_id=hit.image_id,
                    similarity=hit.similarity,
                    match_probability=calibration.match_probability(hit.similarity, None),
                    above_threshold=hit.similarity >= held_to,
                    threshold=held_to,
                    condition=condition,
                )
            )
        return IdentifyResult(analysis=result, candidates=candidates, threshold=threshold, far=far)

    def _far(self, far: float | None) -> float:
        far = far if far is not None else self.settings.far_target
        for supported in SUPPORTED_FARS:
            if abs(far - supported) <= 1e-9:
                return supported
        raise InvalidRequest(f"far must be one of {', '.join(f'{f:g}' for f in SUPPORTED_FARS)}; got {far:g}.")


# ---------------------------------------------------------------- enrolment (pure: no store, runs in batch workers)


def prepare_enrolment(
    data: bytes, limits: IntakeLimits, *, keep_bytes: bool = False, face_index: int = 0, index: int = 0
) -> tuple[NewImage, Analysis]:
    """Analyse an enrolment photo and apply the gates that need only the photo itself (quality, authenticity);
    raises :class:`EnrolmentRefused`. ``index`` numbers the photo in messages."""
    result = analyze(data, face_index=face_index, limits=limits)
    gate_quality(result, index)
    report = assess(result)
    gate_authenticity(report, index)
    return new_image(result, data if keep_bytes else None, report), result


@dataclass(frozen=True)
class FirstEnrollable:
    """What :func:`enrol_first` found: the images that passed, the photos they came from, the photos not tried, and
    why each refused photo was refused."""

    images: list[NewImage]
    used: list[Path]
    rest: list[Path]
    refused: list[tuple[Path, FaceproofError]]


def enrol_first(photos: Sequence[Path], limits: IntakeLimits, count: int = 2) -> FirstEnrollable:
    """The first ``count`` of ``photos`` that pass enrolment one after the other: the quality and authenticity gates
    (:func:`prepare_enrolment`), then the identity gate against those taken before. For building profiles from a
    person's photo folder when many are refused (LFW's soft photos), as the training and evaluation of the swap check
    do; the photos after the last one tried are left for probes."""
    images: list[NewImage] = []
    used: list[Path] = []
    refused: list[tuple[Path, FaceproofError]] = []
    rest = list(photos)
    while rest and len(images) < count:
        path = rest.pop(0)
        try:
            image, _ = prepare_enrolment(path.read_bytes(), limits, index=len(images))
            gate_identity(image.embeddings, [i.embeddings for i in images], 1)
        except FaceproofError as exc:
            refused.append((path, exc))
            continue
        images.append(image)
        used.append(path)
    return FirstEnrollable(images, used, rest, refused)


def stored_face_state(document: dict[str, Any]) -> str:
    """The face state (:attr:`~faceproof.measure.quality.Quality.face_state`) of a stored photo, from its analysis
    document; a photo stored before the cover and noise readings existed reads as open."""
    quality = document.get("quality") or {}
    return face_state(quality.get("lower_face_cover"), quality.get("noise_level"))


def gate_quality(result: Analysis, index: int) -> None:
    q = result.subject.quality
    if not q.usable_for_identity:
        raise EnrolmentRefused(
            wording.refusal_unusable(index, q.reasons),
            reason="unusable_image",
            image_index=index,
            quality_reasons=list(q.reasons),
        )


def gate_authenticity(report: AuthenticityReport, index: int) -> None:
    if report.verdict == "suspected_fake":
        raise EnrolmentRefused(
            wording.refusal_fake(index, report),
            reason="suspected_fake",
            image_index=index,
            suspected_kind=report.suspected_kind,
            fake_probability=round(report.fake_probability, 4),
        )


def gate_identity(
    probe: dict[str, np.ndarray], others: list[dict[str, np.ndarray]], index: int, states: Sequence[str] = ()
) -> None:
    """Refuse a photo that is clearly not the person of ``others`` (lenient: FAR 1e-2). The new photo passed the
    quality gate (open); ``states``: the face states of ``others`` (stored photos may include a masked or noisy
    ``/create-profile`` seed), read as verification reads a profile's."""
    if not others:
        return
    sface, dlib = score_against(probe, others)
    calibration = load_calibration()
    condition = calibration.strictest_condition("open", states, ENROL_IDENTITY_FAR)
    match = calibration.decide(sface, dlib, ENROL_IDENTITY_FAR, condition)
    if not match.same_person:
        raise EnrolmentRefused(
            wording.refusal_identity(index, match),
            reason="identity_mismatch",
            image_index=index,
            match_probability=round(match.match_probability, 4),
        )


def new_image(result: Analysis, data: bytes | None, authenticity: AuthenticityReport | None = None) -> NewImage:
    """What is stored of an enrolment photo: measurements, the reality-baseline features, the templates of both
    models and of the inner/outer face regions - and the bytes only when given (the operator opted in)."""
    embeddings = image_embeddings(result)
    s = result.subject
    if s.landmarks is not None:
        embeddings.update(consistency.region_embeddings(result.image.rgb, s.face.keypoints, s.landmarks))
    return NewImage(
        analysis=image_document(result, authenticity or assess(result)),
        embeddings=embeddings,
        image_bytes=data,
    )
