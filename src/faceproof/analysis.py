"""The analysis pipeline: image → decode/validate → detect → align → measure. One function, used by all front ends.

``analyze`` is pure with respect to the outside world (no storage, no network): the API, the CLI and the Python API
all call it, then decide what to keep. Models are loaded lazily on first use (see :mod:`faceproof.models.lazy`).
Per-stage wall times are recorded so ``faceproof bench`` and the API can report them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from faceproof.authenticity import learned
from faceproof.detect import DetectedFace, choose_face, detect_faces
from faceproof.intake import DecodedImage, IntakeLimits, load_image
from faceproof.measure.appearance import Appearance, measure_appearance
from faceproof.measure.cover import CoverReading, read_cover
from faceproof.measure.geometry import Geometry, measure_geometry
from faceproof.measure.identity import Embedding, dlib_embedding, face_noise, identity_view, sface_pass
from faceproof.measure.quality import Quality, assess_quality, face_state
from faceproof.models.facemesh import get_facemesh
from faceproof.models.mesh_keypoints import refine
from faceproof.models.sface import get_sface
from faceproof.profile.attributes import Reading, photo_traits, read_attributes
from faceproof.profile.describe import describe

ImageSource = str | Path | bytes | np.ndarray


@dataclass(frozen=True)
class FaceAnalysis:
    """Everything measured on one face. ``face`` is the detection with its keypoints refined by the mesh
    (:func:`faceproof.models.mesh_keypoints.refine`: what every aligned crop is cut with); ``landmarks`` is the
    478-point mesh (None if the mesh failed);
    ``attributes`` are the description's categorical readings, with their confidence (a missing one was not
    measurable on this photo)."""

    face: DetectedFace
    face_index: int
    embeddings: dict[str, Embedding]
    landmarks: np.ndarray | None
    geometry: Geometry | None
    appearance: Appearance | None
    quality: Quality
    description: str
    attributes: dict[str, Reading] = field(default_factory=dict)
    #: The learned authenticity probe's input (:func:`faceproof.authenticity.learned.probe_from_pass`), pooled
    #: from the identity pass; None when SFace saw a denoised view (the probe then runs its own pass on the photo).
    probe_features: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: The crop backbone's pass over the face, made for the cover reading and handed on to the crop detectors.
    cover: CoverReading | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`: the decoded image, every face found, and the chosen face measured."""

    image: DecodedImage
    faces: list[DetectedFace]
    subject: FaceAnalysis
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.subject.description

    def embedding(self, key: str) -> Embedding | None:
        return self.subject.embeddings.get(key)


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0


def analyze(
    source: ImageSource | DecodedImage,
    *,
    face_index: int = 0,
    with_dlib: bool = True,
    limits: IntakeLimits | None = None,
) -> Analysis:
    """Analyse the face in an image (a path, the file's bytes, an RGB uint8 array, or a decoded image).

    ``face_index`` picks the face (0 = largest). ``with_dlib=False`` skips the slower second recognizer (used by
    verification when SFace alone is conclusive). Raises :class:`~faceproof.errors.ImageError` for unusable input
    and :class:`~faceproof.errors.NoFace` when there is no face.
    """
    timer = _Timer()
    with timer.stage("decode"):
        image = source if isinstance(source, DecodedImage) else load_image(source, limits)
    with timer.stage("detect"):
        faces = detect_faces(image.rgb)
    face = choose_face(faces, face_index)
    subject = measure_face(image.rgb, face, face_index, with_dlib=with_dlib, timer=timer)
    timer.ms["total"] = sum(timer.ms.values())
    return Analysis(image=image, faces=faces, subject=subject, timings_ms=timer.ms)


def measure_face(
    rgb: np.ndarray,
    face: DetectedFace,
    face_index: int = 0,
    *,
    with_dlib: bool = True,
    timer: _Timer | None = None,
) -> FaceAnalysis:
    """Identity, geometry, appearance, quality and description of one detected face."""
    timer = timer or _Timer()
    embeddings: dict[str, Embedding] = {}
    with timer.stage("mesh"):
        landmarks = get_facemesh().landmarks(rgb, face.box)
        face = refine(face, landmarks)  # alignment keypoints: YuNet's and the mesh's, averaged
    with timer.stage("cover"):
        cover = read_cover(rgb, face.box)
    with timer.stage("sface"):
        noise = face_noise(rgb, face)
        view = identity_view(rgb, face, noise)  # made once for both recognizers
        state = face_state(cover.probability if cover is not None else None, noise)
        emb, activations = sface_pass(rgb, face, get_sface().taps, view, damaged=state != "open")
        embeddings[emb.key] = emb
        probe = learned.probe_from_pass(activations) if activations else None
    if with_dlib:
        with timer.stage("dlib"):
            emb = dlib_embedding(rgb, face, view, state)
            embeddings[emb.key] = emb
    with timer.stage("measure"):
        height, width = rgb.shape[:2]
        geometry = measure_geometry(landmarks, (width, height)) if landmarks is not None else None
        appearance = measure_appearance(rgb, landmarks) if landmarks is not None else None
        quality = assess_quality(
            rgb,
            face.box,
            landmarks,
            geometry,
            face.keypoints,
            cover.probability if cover is not None else None,
            noise,
        )
        text = describe(geometry, appearance, quality)
        measured = (asdict(geometry) if geometry else None, asdict(appearance) if appearance else None)
        attributes = read_attributes(photo_traits(*measured, quality.reasons))
    return FaceAnalysis(
        face=face,
        face_index=face_index,
        embeddings=embeddings,
        landmarks=landmarks,
        geometry=geometry,
        appearance=appearance,
        quality=quality,
        description=text,
        attributes=attributes,
        probe_features=probe,
        cover=cover,
    )
