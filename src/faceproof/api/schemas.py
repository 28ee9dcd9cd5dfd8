"""The API's typed edge: pydantic models for every response, built from the pipeline's dataclasses.

Measurement dataclasses (Geometry, Appearance, Quality) are used as fields directly, so their documentation and
types appear in ``/docs`` without a second copy of each field here.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faceproof import annotate
from faceproof.analysis import Analysis
from faceproof.api import examples
from faceproof.authenticity import consistency
from faceproof.authenticity.base import Finding
from faceproof.authenticity.engine import AuthenticityReport
from faceproof.authenticity.evidence import EvidenceMap, MapKind, Scope
from faceproof.authenticity.fusion import load_fusion
from faceproof.decision import wording
from faceproof.decision.calibration import DIFFERENT_PERSON_FRR, Condition, MatchDecision
from faceproof.decision.verify import GeometryAgreement
from faceproof.detect import FIRST_PASS, DetectedFace
from faceproof.measure.appearance import Appearance
from faceproof.measure.geometry import Geometry
from faceproof.measure.quality import CALIBRATED_REASONS, Quality
from faceproof.service import Candidate, CompareResult, IdentifyResult, VerifyResult
from faceproof.storage import ImageRecord, ProfileRecord


def example(*documents: examples.JSON) -> ConfigDict:
    """The config that shows ``documents`` as the model's examples in ``/docs``: without one, the page shows a
    skeleton of ``"string"`` and ``0`` placeholders, which says nothing about what the values look like."""
    return ConfigDict(json_schema_extra={"examples": list(documents)})


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. `no_face`, `not_an_image`.")
    message: str = Field(description="What went wrong, for a human.")
    details: dict[str, Any] | None = Field(default=None, description="Extra facts (sizes, limits, counts).")


class ErrorResponse(BaseModel):
    error: ErrorBody

    model_config = {
        "json_schema_extra": {
            "examples": [{"error": {"code": "no_face", "message": "No face was found in the image."}}]
        }
    }


def tone_field() -> Any:
    return Field(
        description="The colour of the words, from the decision itself: `pass` (a match, a clean finding, a real "
        "photo), `warn` (points to a fake), `fail` (no match), `neutral` (nothing could be judged)."
    )


class HeadlineOut(BaseModel):
    """What a result says first, worded from the decision (faceproof.decision.wording; docs/decisions.md)."""

    title: str = Field(description="The verdict in a word or two, e.g. `Genuine`, `Suspected fake`.")
    text: str = Field(description="One sentence with the number the verdict rests on and its threshold.")
    tone: wording.Tone = tone_field()

    model_config = example(examples.VERIFY["headline"])

    @classmethod
    def of(cls, h: wording.Headline) -> HeadlineOut:
        return cls(title=h.title, text=h.text, tone=h.tone)


class FaceOut(BaseModel):
    index: int = Field(
        description="0 = the largest face (one cut by the image border counts at its whole estimated size); pass it "
        "as `face_index` to profile another face."
    )
    box: tuple[float, float, float, float] = Field(description="x, y, width, height in pixels of the upright image.")
    score: float = Field(description="YuNet detection confidence (0..1).")
    keypoints: list[tuple[float, float]] = Field(
        description="Right eye, left eye, nose tip, right and left mouth corner (subject's right = image left)."
    )
    rung: str = Field(
        default=FIRST_PASS,
        description="Which detection pass found the face: `first pass`, or the retry ladder's view that found it "
        "when the first pass found none (e.g. `smoothed 160`, `wide border 640`); there a score below 0.6 means "
        "it was found only at the ladder's lowered threshold (docs/reliability.md).",
    )

    model_config = example(examples.FACE)

    @classmethod
    def of(cls, index: int, face: DetectedFace) -> FaceOut:
        return cls(
            index=index,
            box=tuple(round(float(v), 2) for v in face.box),
            score=round(face.score, 4),
            keypoints=[(round(float(x), 2), round(float(y), 2)) for x, y in face.keypoints],
            rung=face.rung,
        )


class EmbeddingOut(BaseModel):
    key: str = Field(description="`model@version`: templates are only compared with the same key.")
    model: str
    version: str
    dim: int
    vector: list[float] | None = Field(default=None, description="Only with `include_embeddings=true`.")

    model_config = example(examples.IDENTITY[0])


class ImageInfo(BaseModel):
    width: int
    height: int
    format: str = Field(description="Decoded container format (JPEG, PNG, WEBP, ...).")
    exif_orientation: int = Field(description="EXIF orientation that was applied (1 = none).")
    has_exif: bool
    has_xmp: bool
    has_icc_profile: bool

    model_config = example(examples.IMAGE_INFO)


class AttributeOut(BaseModel):
    """One categorical attribute of the description, read from pose-corrected measurements (docs/profile.md)."""

    classes: list[str] = Field(description="The class, or the classes the face lies between (the words say which).")
    text: str = Field(description="The words the description uses, e.g. `oval` or `between oval and oblong`.")
    most_likely: str
    confidence: float = Field(description="Probability that the person's class is among `classes` (>= 0.95).")
    probabilities: dict[str, float] = Field(description="Probability of every class of the attribute.")
    photos: int = Field(description="How many photos the measurements came from.")


class SubjectOut(BaseModel):
    face_index: int
    face: FaceOut
    identity: list[EmbeddingOut]
    geometry: Geometry | None = Field(description="Null when the 478-point mesh could not be fitted.")
    appearance: Appearance | None
    quality: Quality
    description: str
    attributes: dict[str, AttributeOut] = Field(
        default_factory=dict,
        description="The description's categorical words with their confidence, by attribute (`face_shape`, "
        "`upper_third`, `middle_third`, `lower_third`, `eye_spacing`, `eye_colour`, `skin_tone`); an attribute "
        "this photo cannot support (a face cut by the border, an under- or overexposed photo) is left out.",
    )
    landmarks: list[tuple[float, float, float]] | None = Field(
        default=None, description="The 478-point mesh (x, y, z pixels); only with `include_landmarks=true`."
    )

    model_config = example(examples.SUBJECT)


class AnalyzeResponse(BaseModel):
    description: str = Field(description="Readable description generated from the measurements only.")
    headline: HeadlineOut = Field(description="Whether the photo is usable for identity, and if not why.")
    faces_found: int
    faces: list[FaceOut]
    image: ImageInfo
    subject: SubjectOut
    timings_ms: dict[str, float]

    model_config = example(examples.ANALYZE)

    @classmethod
    def of(cls, a: Analysis, *, include_embeddings: bool = False, include_landmarks: bool = False) -> AnalyzeResponse:
        s = a.subject
        meta = a.image.metadata
        identity = [
            EmbeddingOut(
                key=e.key,
                model=e.model,
                version=e.version,
                dim=int(e.vector.size),
                vector=[round(float(x), 7) for x in e.vector] if include_embeddings else None,
            )
            for e in s.embeddings.values()
        ]
        landmarks = None
        if include_landmarks and s.landmarks is not None:
            landmarks = [(round(float(x), 2), round(float(y), 2), round(float(z), 2)) for x, y, z in s.landmarks]
        return cls(
            description=s.description,
            headline=HeadlineOut.of(wording.quality(s.quality)),
            faces_found=len(a.faces),
            faces=[FaceOut.of(i, f) for i, f in enumerate(a.faces)],
            image=ImageInfo(
                width=a.image.width,
                height=a.image.height,
                format=meta.format,
                exif_orientation=meta.exif_orientation,
                has_exif=bool(meta.exif),
                has_xmp=bool(meta.xmp),
                has_icc_profile=bool(meta.icc_profile),
            ),
            subject=SubjectOut(
                face_index=s.face_index,
                face=FaceOut.of(s.face_index, s.face),
                identity=identity,
                geometry=s.geometry,
                appearance=s.appearance,
                quality=s.quality,
                description=s.description,
                attributes={k: AttributeOut(**r.as_dict()) for k, r in s.attributes.items()},
                landmarks=landmarks,
            ),
            timings_ms={k: round(v, 2) for k, v in a.timings_ms.items()},
        )


class ProfileOut(BaseModel):
    id: str
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    description: str
    image_count: int
    schema_version: int
    created_at: datetime
    updated_at: datetime
    summary: dict[str, Any] = Field(description="Aggregated measurements: templates, geometry statistics, ...")

    model_config = example(examples.PROFILE)

    @classmethod
    def of(cls, record: ProfileRecord) -> ProfileOut:
        return cls(
            id=record.id,
            name=record.name,
            external_id=record.external_id,
            metadata=record.metadata,
            description=record.summary.get("description", ""),
            image_count=record.image_count,
            schema_version=record.schema_version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            summary=record.summary,
        )


class CreateProfileResponse(BaseModel):
    description: str = Field(description="The seed contract: a readable description of the face.")
    profile_id: str
    profile: ProfileOut
    analysis: AnalyzeResponse

    model_config = example(examples.CREATE_PROFILE)


class HealthResponse(BaseModel):
    status: str

    model_config = example(examples.HEALTH)


class ReadinessResponse(BaseModel):
    """Whether this worker can answer analysis requests now: models loaded and the database reachable."""

    status: Literal["ready", "not_ready"]
    models_loaded: bool = Field(description="Every model is in memory (loaded in the background at start).")
    database: str = Field(description="'ok', or why the database cannot be reached.")
    analyses_running: int = Field(description="Analyses running in this worker now.")
    analyses_waiting: int = Field(description="Analyses queued in this worker now.")

    model_config = example(examples.READY, examples.NOT_READY)


class ModelInfo(BaseModel):
    name: str
    version: str
    role: str
    licence: str
    loaded: bool

    model_config = example(examples.MODEL)


class VersionResponse(BaseModel):
    faceproof: str
    models: list[ModelInfo]

    model_config = example(examples.VERSION)


class ProfileList(BaseModel):
    items: list[ProfileOut]
    total: int
    offset: int
    limit: int

    model_config = example(examples.PROFILE_LIST)


class ProfilePatch(BaseModel):
    """Fields to change; the ones left out stay as they are."""

    name: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] | None = None

    model_config = example(examples.PROFILE_PATCH)


class ProfileImageOut(BaseModel):
    id: str
    created_at: datetime
    description: str
    quality: dict[str, Any]
    headline: HeadlineOut = Field(description="Whether the photo is usable for identity, and if not why.")
    face: dict[str, Any]
    stored_image: bool = Field(description="Whether the raw image bytes are kept (FACEPROOF_STORE_IMAGES=1).")

    model_config = example(examples.PROFILE_IMAGE)

    @classmethod
    def of(cls, record: ImageRecord) -> ProfileImageOut:
        doc = record.analysis
        quality = doc.get("quality", {})
        usability = wording.usability(bool(quality.get("usable_for_identity")), quality.get("reasons", ()))
        return cls(
            id=record.id,
            created_at=record.created_at,
            description=doc.get("description", ""),
            quality=quality,
            headline=HeadlineOut.of(usability),
            face=doc.get("face", {}),
            stored_image=record.image_bytes is not None,
        )


class BaselineBandOut(BaseModel):
    """One authenticity feature of a profile's reality baseline, as verification's baseline check reads it."""

    feature: str = Field(description="The feature (docs/authenticity.md names each).")
    signal: str = Field(description="The signal that measures it.")
    label: str = Field(description="The signal's name and the feature, e.g. `Sensor noise · noise_level`.")
    photos: list[float | None] = Field(
        description="The feature on each enrolment photo, in `image_ids` order (null where it was not measured)."
    )
    mean: float = Field(description="The enrolment photos' mean.")
    spread: float = Field(
        description="The larger of the enrolment photos' standard deviation and the training images' "
        "(`population_std`): one or two photos say little about spread."
    )
    low: float = Field(description="`mean - z * spread`: a new photo's value below it is reported.")
    high: float = Field(description="`mean + z * spread`: a new photo's value above it is reported.")
    population_median: float = Field(description="The median of the real training photos.")
    population_std: float = Field(description="The standard deviation over the training images (real and fake).")

    @classmethod
    def of(cls, b: consistency.BaselineBand) -> BaselineBandOut:
        return cls(
            feature=b.feature,
            signal=b.signal,
            label=wording.feature_label(b.signal, b.feature),
            photos=[None if v is None else round(v, 6) for v in b.photos],
            mean=round(b.mean, 6),
            spread=round(b.spread, 6),
            low=round(b.low, 6),
            high=round(b.high, 6),
            population_median=round(b.population_median, 6),
            population_std=round(b.population_std, 6),
        )


class RealityBaselineOut(BaseModel):
    """A profile's reality baseline: the authenticity features of its enrolment photos, each against the band a
    new photo's value must stay within before verification reports it (docs/authenticity.md, consistency with the
    profile)."""

    profile_id: str
    image_ids: list[str] = Field(description="The enrolment photos, in the order of every feature's `photos`.")
    z: float = Field(description="How many spreads from the mean a band reaches.")
    title: str
    legend: str = Field(description="What a plot of the bands shows, in words.")
    features: list[BaselineBandOut] = Field(
        description="Every feature the check compares; empty for a profile enrolled before baselines were kept."
    )

    model_config = example(examples.REALITY_BASELINE)

    @classmethod
    def of(cls, profile: ProfileRecord, images: list[ImageRecord]) -> RealityBaselineOut:
        photos = [(i.analysis.get("authenticity") or {}).get("features", {}) for i in images]
        bands = consistency.baseline_bands(profile.summary.get("reality_baseline", {}), photos, load_fusion())
        return cls(
            profile_id=profile.id,
            image_ids=[i.id for i in images],
            z=consistency.BASELINE_Z,
            title=wording.REALITY_BASELINE_TITLE,
            legend=wording.reality_baseline_legend(consistency.BASELINE_Z),
            features=[BaselineBandOut.of(b) for b in bands],
        )


class EnrolmentResponse(BaseModel):
    profile: ProfileOut
    images: list[ProfileImageOut]

    model_config = example(examples.ENROLMENT)


class ImageAddedResponse(BaseModel):
    image_id: str
    profile: ProfileOut
    description: str = Field(description="Description of the added photo.")

    model_config = example(examples.IMAGE_ADDED)


class Scores(BaseModel):
    sface: float = Field(description="Cosine similarity of SFace embeddings (-1..1).")
    dlib: float | None = Field(description="Cosine similarity of dlib embeddings; null when not computed.")
    fused: float = Field(
        description="Calibrated score: natural-log likelihood ratio same/different person (the fusion of both "
        "models, or SFace's own when dlib was not needed)."
    )

    model_config = example(examples.MATCH["scores"])


class MatchOut(BaseModel):
    same_person: bool
    match_probability: float = Field(description="Calibrated probability that both faces are the same person.")
    scores: Scores
    threshold: float = Field(description="Operating threshold on the fused score.")
    far: float = Field(description="The false-accept rate that threshold was derived for.")
    condition: Condition = Field(
        description="Whose threshold it is: the two faces' states (`open`, `noisy`: sensor noise, `covered`: the "
        "lower face, a mask), e.g. `open/covered`; each condition has the threshold that holds the FAR on its own "
        "impostor pairs."
    )
    models_used: list[str] = Field(
        description="`[sface]` when SFace alone was conclusive or decides the pair's condition (the calibration's "
        "`decide_with`), else both models."
    )
    reject_threshold: float = Field(
        description=f"The condition's SFace similarity under which only {DIFFERENT_PERSON_FRR * 100:g} % of genuine "
        "pairs with a poor photo fall: below it the faces are different people even when a photo is poor (else "
        "such a miss is inconclusive)."
    )
    clearly_different: bool = Field(description="No match, and the SFace similarity is below `reject_threshold`.")
    calibration_version: str
    tone: wording.Tone = tone_field()
    sentence: str = Field(description="The decision with the match probability and its threshold.")

    model_config = example(examples.MATCH)

    @classmethod
    def of(cls, m: MatchDecision) -> MatchOut:
        said = wording.match(m)
        return cls(
            same_person=m.same_person,
            match_probability=round(m.match_probability, 6),
            scores=Scores(
                sface=round(m.per_model["sface"], 6),
                dlib=round(m.per_model["dlib"], 6) if "dlib" in m.per_model else None,
                fused=round(m.fused_score, 6),
            ),
            threshold=round(m.threshold, 6),
            far=m.far,
            condition=m.condition,
            models_used=list(m.models_used),
            reject_threshold=round(m.reject_below, 6),
            clearly_different=m.clearly_different,
            calibration_version=m.calibration_version,
            tone=said.tone,
            sentence=said.text,
        )


class FindingOut(BaseModel):
    signal: str
    score: float = Field(description="0 = like a real camera photo of a real face, 1 = strong evidence of a fake.")
    confidence: float = Field(description="How much the signal could see (0..1): tiny or blurred faces give little.")
    kind: str = Field(description="The kind of fake this signal looks for: generated, swapped, recaptured, edited.")
    message: str = Field(description="What the signal saw, in its own words.")
    threshold: float = Field(description="The score from which the finding points to a fake (0.5 for every signal).")
    tone: wording.Tone = tone_field()
    sentence: str = Field(description="What the finding points to, its score against the threshold, and `message`.")

    model_config = example(examples.SWAP_FINDING)

    @classmethod
    def of(cls, f: Finding) -> FindingOut:
        said = wording.finding(f)
        return cls(
            signal=f.signal,
            score=round(f.score, 4),
            confidence=round(f.confidence, 4),
            kind=f.kind,
            message=f.message,
            threshold=wording.FINDING_OPERATING_POINT,
            tone=said.tone,
            sentence=said.text,
        )


class AuthenticityOut(BaseModel):
    verdict: str = Field(description="`likely_real`, `suspected_fake` or `inconclusive`.")
    headline: HeadlineOut
    fake_probability: float = Field(description="Calibrated probability that the image is not a real photo.")
    threshold: float = Field(description="fake_probability above which an image is flagged (1 % of real photos).")
    suspected_kind: str | None = Field(description="`generated`, `swapped`, `recaptured` or `edited` when flagged.")
    kind_probabilities: dict[str, float] = Field(
        description="fake_probability per kind of fake (generated, swapped, recaptured); the maximum is reported."
    )
    contributions: dict[str, float] = Field(
        description="Each signal's log-odds contribution to the most suspicious kind (positive = towards fake)."
    )
    reasons: list[str]
    findings: list[FindingOut]
    model_version: str

    model_config = example(examples.AUTHENTICITY)

    @classmethod
    def of(cls, r: AuthenticityReport) -> AuthenticityOut:
        return cls(
            verdict=r.verdict,
            headline=HeadlineOut.of(wording.authenticity_headline(r)),
            fake_probability=round(r.fake_probability, 4),
            threshold=round(r.threshold, 4),
            suspected_kind=r.suspected_kind,
            kind_probabilities=r.kind_probabilities,
            contributions=r.contributions,
            reasons=r.reasons,
            findings=[FindingOut.of(f) for f in r.findings],
            model_version=r.model_version,
        )


class EvidenceOut(BaseModel):
    """A picture of the evidence behind one finding (faceproof.authenticity.evidence; docs/authenticity.md)."""

    explains: str = Field(
        description="The finding the picture explains: its `signal` (`generated_net`, `replay_net`, `blending`, "
        "`noise`, `consistency`, `recapture`, `physiology`), or `geometry` for verification's geometry check."
    )
    kind: MapKind = Field(
        description="`activation`: the learned detector's class-activation map; `boundary`: where the face has "
        "less fine noise than its own outer skin, with the estimated blending boundary; `spectrum`: the periodic "
        "peaks of the face's spectrum (screen or print grid) with the window they were read in; `mesh`: the face "
        "mesh the measurements came from."
    )
    headline: HeadlineOut = Field(
        description="The caption under the picture: the signal, what its finding points to with the score and "
        "threshold, and what the picture shows; in the finding's colour."
    )
    png_base64: str = Field(
        description="The picture, a base64-encoded PNG: the photo about the face, 360 px wide, with the map over "
        "it (colour scale from none to strong) and the caption under it."
    )
    width: int = Field(description="The PNG's width in pixels.")
    height: int = Field(description="The PNG's height in pixels.")

    model_config = example(examples.EVIDENCE)

    @classmethod
    def of(cls, m: EvidenceMap, picture: np.ndarray) -> EvidenceOut:
        return cls(
            explains=m.explains,
            kind=m.kind,
            headline=HeadlineOut.of(m.caption),
            png_base64=base64.b64encode(annotate.encode_png(picture)).decode("ascii"),
            width=picture.shape[1],
            height=picture.shape[0],
        )

    @classmethod
    def rendered(
        cls,
        analysis: Analysis,
        report: AuthenticityReport | None,
        scope: Scope,
        geometry: GeometryAgreement | None = None,
    ) -> list[EvidenceOut]:
        """The pictures ``scope`` asks for, drawn and encoded (CPU work: the routes run it in the analysis pool)."""
        return [cls.of(m, picture) for m, picture in annotate.evidence_panels(analysis, report, scope, geometry)]


def evidence_field() -> Any:
    return Field(
        default=None,
        description="Only with `evidence=flagged` or `evidence=all`: one picture per finding asked for that has "
        "one (empty when none does).",
    )


class AuthenticityResponse(AuthenticityOut):
    description: str
    faces_found: int
    quality: Quality
    evidence: list[EvidenceOut] | None = evidence_field()

    model_config = example(examples.AUTHENTICITY_RESPONSE)


class VerifyResponse(BaseModel):
    verdict: str = Field(description="`genuine`, `different_person`, `suspected_fake` or `inconclusive`.")
    headline: HeadlineOut
    same_person: bool
    match: MatchOut
    reasons: list[str] = Field(description="One human-readable reason per deciding signal.")
    geometry: GeometryAgreement
    findings: list[FindingOut] = Field(description="Authenticity findings, one per signal.")
    authenticity: AuthenticityOut | None
    quality: Quality
    description: str
    profile_id: str
    evidence: list[EvidenceOut] | None = evidence_field()

    model_config = example(examples.VERIFY)

    @classmethod
    def of(cls, r: VerifyResult, evidence: list[EvidenceOut] | None = None) -> VerifyResponse:
        o = r.outcome
        return cls(
            verdict=o.verdict,
            headline=HeadlineOut.of(wording.verify_headline(o)),
            same_person=o.match.same_person,
            match=MatchOut.of(o.match),
            reasons=o.reasons,
            geometry=o.geometry,
            findings=[FindingOut.of(f) for f in o.findings],
            authenticity=AuthenticityOut.of(o.authenticity) if o.authenticity else None,
            quality=r.analysis.subject.quality,
            description=r.analysis.description,
            profile_id=r.profile.id,
            evidence=evidence,
        )


class CompareResponse(BaseModel):
    same_person: bool
    headline: HeadlineOut
    match: MatchOut
    usable: bool = Field(description="False when either photo has quality problems (see reasons).")
    reasons: list[str]
    descriptions: tuple[str, str]

    model_config = example(examples.COMPARE)

    @classmethod
    def of(cls, r: CompareResult) -> CompareResponse:
        return cls(
            same_person=r.match.same_person,
            headline=HeadlineOut.of(wording.compare_headline(r.match, r.usable)),
            match=MatchOut.of(r.match),
            usable=r.usable,
            reasons=r.reasons,
            descriptions=(r.first.description, r.second.description),
        )


class CandidateOut(BaseModel):
    profile_id: str
    name: str
    external_id: str | None
    image_id: str
    similarity: float = Field(description="SFace cosine similarity to the best image of the profile.")
    match_probability: float
    above_threshold: bool = Field(description="`similarity` reaches this candidate's `threshold`.")
    threshold: float = Field(
        description="The SFace similarity this candidate is held to at the FAR: its `condition`'s threshold."
    )
    condition: Condition = Field(
        description="The photo's face state paired with those of the profile's stored photos, the strictest pairing "
        "(`open`, `noisy`: sensor noise, `covered`: the lower face, a mask), e.g. `open/covered` for a profile "
        "seeded from a masked photo."
    )
    tone: wording.Tone = tone_field()
    sentence: str = Field(description="`match` or `no match`, with the similarity and the candidate's threshold.")

    model_config = example(examples.CANDIDATE)

    @classmethod
    def of(cls, c: Candidate) -> CandidateOut:
        said = wording.candidate(c.similarity, c.threshold, c.above_threshold)
        return cls(
            profile_id=c.profile.id,
            name=c.profile.name,
            external_id=c.profile.external_id,
            image_id=c.image_id,
            similarity=round(c.similarity, 6),
            match_probability=round(c.match_probability, 6),
            above_threshold=c.above_threshold,
            threshold=round(c.threshold, 6),
            condition=c.condition,
            tone=said.tone,
            sentence=said.text,
        )


class IdentifyResponse(BaseModel):
    candidates: list[CandidateOut] = Field(description="Best first; at most top_k.")
    threshold: float = Field(
        description="The SFace similarity a profile of open photos is held to at the FAR (each candidate carries "
        "its own, set for the pairing of this photo with the profile's photos)."
    )
    far: float
    faces_found: int
    usable: bool = Field(
        description="False when the photo has quality problems (see reasons): a candidate above its threshold is "
        "still a match at the FAR, but one below it may be the person all the same (verify would answer "
        "`inconclusive`), so no candidate above its threshold does not mean the person is not enrolled."
    )
    reasons: list[str] = Field(
        description="The photo's quality problems that make it unusable (empty when usable; a masked or noisy face "
        "is usable, decided at its own condition)."
    )

    model_config = example(examples.IDENTIFY)

    @classmethod
    def of(cls, r: IdentifyResult) -> IdentifyResponse:
        quality = r.analysis.subject.quality
        return cls(
            candidates=[CandidateOut.of(c) for c in r.candidates],
            threshold=round(r.threshold, 6),
            far=r.far,
            faces_found=len(r.analysis.faces),
            usable=quality.usable_for_verification,
            reasons=[reason for reason in quality.reasons if reason not in CALIBRATED_REASONS],
        )
