"""Identity embeddings from two independent recognizers, each tagged with its model and version.

A template is only ever compared with a template of the same ``key`` (``model@version``): vectors from another
model, or from the same model with other pre-processing, live in a different space and a cosine between them is
meaningless (see :class:`~faceproof.errors.IncompatibleTemplate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceproof.align import align_face
from faceproof.detect import DetectedFace
from faceproof.models import dlib_resnet, sface


@dataclass(frozen=True)
class Embedding:
    """An L2-normalised identity vector and the model that made it."""

    model: str
    version: str
    vector: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.model}@{self.version}"


SFACE_KEY = f"{sface.MODEL_NAME}@{sface.MODEL_VERSION}"
DLIB_KEY = f"{dlib_resnet.MODEL_NAME}@{dlib_resnet.MODEL_VERSION}"
MODEL_KEYS = (SFACE_KEY, DLIB_KEY)


#: Sensor noise on the face (a robust estimate of its standard deviation on the aligned 112 px face, in 8-bit
#: levels) from which the recognizers see a smoothed face, and where the smoothing reaches full strength. Clean
#: development photos measure 1.7-5.7, with sensor noise 12-21 (docs/calibration.md).
NOISE_FROM, NOISE_FULL = 6.0, 11.0
#: Gaussian sigma at full strength, in pixels of the 112 px template (scaled to the face's size in the image).
DENOISE_SIGMA = 1.5
#: Names what the recognizers are shown (:func:`identity_view`): embeddings cached for training are keyed on it,
#: so a change here that alters any embedding must come with a new name.
VIEW_VERSION = "denoise-mad-6-11-1.5"
_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(aligned_rgb: np.ndarray) -> float:
    """Pixel-noise standard deviation: the response to a kernel that cancels smooth image structure (Immerkaer,
    1996; its gain on white noise is 6), read through the median absolute value rather than the mean so that
    eyelashes, hair and edges - few pixels with large responses - do not pass for noise."""
    grey = cv2.cvtColor(aligned_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    response = np.abs(cv2.filter2D(grey, -1, _LAPLACE))[1:-1, 1:-1]
    return float(np.median(response) / (0.6745 * 6.0))


def face_noise(rgb: np.ndarray, face: DetectedFace) -> float:
    """:func:`noise_level` of the face as the recognizers' template crops it (aligned at 112 px): what
    :func:`identity_view` reads, and what makes a face ``noisy`` for the quality gate and the verification
    calibration's conditions (:data:`NOISE_FROM`)."""
    return noise_level(align_face(rgb, face.keypoints))


def identity_view(rgb: np.ndarray, face: DetectedFace, level: float | None = None) -> np.ndarray:
    """The image both recognizers see (a noisy or covered face is also embedded from the photo itself by SFace's
    damaged-face view: :func:`with_damaged_view`): ``rgb`` itself, unless the face is noisy - then a copy whose face
    region is smoothed in proportion to the noise.

    Why: both networks were trained on clean photos, and pixel noise moves their embeddings more than a mild blur
    does. On the calibration corpus (the same 1,100 photos of LFW people, UTKFace and All-Age-Faces embedded with
    and without it, identity-grouped cross-validation), a clean photo against a blurred and noisy copy of another
    photo of the person: fused true accept rate 0.835 -> 0.923 at FAR 1e-2 and 0.678 -> 0.796 at 1e-3; both sides
    blurred and noisy: 0.643 -> 0.807 at 1e-2. Clean, downsized, recompressed and masked faces of that set measure
    below ``NOISE_FROM``: their embeddings are unchanged (SFace's figures on them identical to the last digit).
    """
    level = face_noise(rgb, face) if level is None else level  # ``level``: the caller's face_noise, made once
    strength = min(1.0, max(0.0, (level - NOISE_FROM) / (NOISE_FULL - NOISE_FROM)))
    if strength == 0.0:
        return rgb
    sigma = DENOISE_SIGMA * strength * max(face.box[2], 1.0) / 112.0
    height, width = rgb.shape[:2]
    x, y, w, h = face.box
    pad = 0.5 * max(w, h) + 3.0 * sigma
    x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
    x1, y1 = min(width, int(x + w + pad) + 1), min(height, int(y + h + pad) + 1)
    out = rgb.copy()
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = cv2.GaussianBlur(rgb[y0:y1, x0:x1], (0, 0), sigma)
    return out


def sface_embedding(rgb: np.ndarray, face: DetectedFace) -> Embedding:
    return sface_pass(rgb, face)[0]


def sface_pass(
    rgb: np.ndarray,
    face: DetectedFace,
    taps: Sequence[str] = (),
    view: np.ndarray | None = None,
    damaged: bool = False,
) -> tuple[Embedding, dict[str, np.ndarray]]:
    """SFace's embedding of the face and, from the same pass, the intermediate activations of ``taps`` (see
    :meth:`faceproof.models.sface.SFace.run`) - only when SFace saw the photo itself: the activations of a
    denoised view (:func:`identity_view`) would describe the smoothed copy, so then there are none. ``view``:
    :func:`identity_view` of ``rgb`` when the caller already has it (both recognizers see the same one).

    ``damaged``: the face reads as noisy or covered (:func:`faceproof.measure.quality.face_state` is not
    ``open``); its vector is then :func:`with_damaged_view` of SFace's.
    """
    view = identity_view(rgb, face) if view is None else view
    raw, activations = sface.get_sface().run(align_face(view, face.keypoints), taps if view is rgb else ())
    vector = sface.unit(raw)
    if damaged:
        vector = with_damaged_view(vector, rgb, face)
    return Embedding(sface.MODEL_NAME, sface.MODEL_VERSION, vector), activations


def with_damaged_view(plain: np.ndarray, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
    """SFace's unit vector of a noisy or covered face (``plain``, made from :func:`identity_view`) averaged with its
    damaged-face view's (:func:`faceproof.models.sface.get_sface_robust`: SFace fine-tuned to put a damaged face
    where SFace puts it undamaged, reading the photo itself), renormalised - compared with SFace's templates under
    SFace's key.

    Why the mean and not the view alone: on the verification calibration's corpus pairs (docs/calibration.md) the
    view alone is about as good as SFace (a clean photo against a blurred, noisy one: TAR at FAR 1e-3 0.800 against
    0.811), the mean of the two unit vectors better than either (0.834) - the two see the face differently (smoothed
    and raw; original and fine-tuned weights), and their errors are partly independent.
    """
    second = sface.unit(sface.get_sface_robust().features(align_face(rgb, face.keypoints)))
    return sface.unit(plain + second)


def dlib_embedding(
    rgb: np.ndarray, face: DetectedFace, view: np.ndarray | None = None, state: str = "open"
) -> Embedding:
    """dlib's embedding of the face, seen through :func:`identity_view` (``view``: that view, if already made).

    ``state``: what the face reads as (:func:`faceproof.measure.quality.face_state`). A noisy face's vector is the mean
    with dlib's damaged-face view's (:func:`faceproof.models.dlib_resnet.robust_descriptor`, reading the photo
    itself), renormalised - as SFace's is (:func:`with_damaged_view`), and for the same reason: on the calibration
    corpus the mean of the two unit vectors beat either alone. Only noisy faces: a covered face's pairs are decided
    by SFace alone (docs/calibration.md), and the view was measured on blurred, noisy faces.
    """
    model = dlib_resnet.get_dlib_resnet()
    vec = model.embed(identity_view(rgb, face) if view is None else view, face.box)
    if state == "noisy":
        vec = sface.unit(vec + dlib_resnet.robust_descriptor(model.chip(rgb, face.box)))
    return Embedding(dlib_resnet.MODEL_NAME, dlib_resnet.MODEL_VERSION, vec)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (both are stored L2-normalised, but do not rely on it)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
