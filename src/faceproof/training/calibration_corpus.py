"""The calibration set at scale: photos of thousands of people from the corpus, clean and with everyday damage,
embedded by both recognizers (``faceproof train calibration --corpus DIR``).

Why: the 13 development people cannot pin a false accept rate of 1e-3 (a handful of identity pairs sets it), and
their photos are studio-clean. The corpus holds LFW's people (grey, 1,614 of them with two photos or more: the
genuine pairs) and two sources of colour photos of other people, one photo each (UTKFace, All-Age-Faces: more
impostors, other ages and ethnicities). None of them was used to tune anything else in faceproof's verification.

Each photo is embedded clean and under the three damages verification must survive, each a combination seen in
uploads: ``lowres+jpeg`` (a thumbnail re-sent by a messaging app), ``blur+noise`` (a defocused, noisy low-light
frame) and ``mask`` (a surgical or cloth mask over the lower face). Like the service, the face is detected again on
the damaged image. Besides the two vectors, each variant records what the service can measure about it at run
time (face size, sharpness, detector score, the length of SFace's raw feature vector, the cover head's reading of
the lower face, the sensor noise on the aligned face), which a quality-aware score may use; the cover reading and
the noise decide each face's *state* (open, noisy or covered), and a pair of states is a condition with thresholds
of its own (:mod:`faceproof.training.fit_calibration`).

Embedding is the slow part (~0.13 s per variant and core): it runs in chunks written to ``cache`` as they finish,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceproof import detect_ladder
from faceproof.align import align_face
from faceproof.detect import detect_faces
from faceproof.errors import FaceproofError
from faceproof.evaluation.damage import face_hint
from faceproof.intake import load_image
from faceproof.measure import cover, identity
from faceproof.measure.cover import read_cover
from faceproof.measure.identity import DLIB_KEY, SFACE_KEY, dlib_embedding, face_noise, identity_view, with_damaged_view
from faceproof.measure.quality import face_grey, face_state, sharpness
from faceproof.models import artifact, facemesh, mesh_keypoints, sface, yunet
from faceproof.models.dlib_resnet import ROBUST_ARTIFACT as ROBUST_DLIB
from faceproof.training import augment as degrade_module
from faceproof.training.augment import degrade
from faceproof.training.common import seeded_hash
from faceproof.training.corpus import read_manifest

log = logging.getLogger(__name__)

#: The damaged kinds of the verification targets, each with the degradations it chains.
DAMAGES: dict[str, tuple[str, ...]] = {
    "clean": (),
    "lowres+jpeg": ("lowres", "jpeg"),
    "blur+noise": ("gaussian_blur", "noise"),
    "mask": ("mask",),
}
#: People with several photos (the genuine pairs): at most this many photos each, so a few heavily photographed
#: people (LFW holds 530 photos of one) do not make up the genuine pairs.
PHOTOS_PER_PERSON = 3
GENUINE_SOURCE = "lfw_gray"
#: Sources of one-photo people, added as impostors only (colour photos; different ages and ethnicities).
IMPOSTOR_SOURCES = ("utkface", "allagefaces")
IMPOSTORS_PER_SOURCE = 300
CHUNK = 100  # photos per checkpoint
QUALITY = ("box_px", "sharpness", "det_score", "sface_norm", "lower_face_cover", "noise_level")
LICENCE = (
    "LFW (via muxspace/facial_expressions, Apache-2.0 repository; LFW itself research use), UTKFace (non-commercial "
    "research), All-Age-Faces (research use, citation asked)"
)


@dataclass(frozen=True)
class Photo:
    """One corpus photo of the calibration set: ``path`` relative to the corpus root."""

    path: str
    identity: str
    source: str


def plan_photos(manifest: Path) -> list[Photo]:
    """The calibration photos, chosen deterministically from the corpus manifest (a seeded hash order)."""
    by_person: dict[str, list[str]] = defaultdict(list)
    by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_manifest(manifest):
        source = row["path"].split("/", 1)[0]
        if row["label"] != "real" or row["split_role"] != "train":
            continue
        if source == GENUINE_SOURCE:
            by_person[row["identity"]].append(row["path"])
        elif source in IMPOSTOR_SOURCES:
            by_source[source].append(row)
    photos = [
        Photo(path, identity, GENUINE_SOURCE)
        for identity, paths in sorted(by_person.items())
        if len(paths) >= 2
        for path in sorted(paths, key=seeded_hash)[:PHOTOS_PER_PERSON]
    ]
    for source in IMPOSTOR_SOURCES:
        rows = sorted(by_source[source], key=lambda r: seeded_hash(r["path"]))[:IMPOSTORS_PER_SOURCE]
        photos += [Photo(r["path"], r["identity"], source) for r in rows]
    return photos


@dataclass(frozen=True)
class Embedded:
    """Both recognizers' vectors of every (photo, damage) where a face was found, and its run-time quality."""

    photo: np.ndarray  # index into the planned photos
    damage: np.ndarray  # a key of DAMAGES
    sface: np.ndarray  # (n, 128) unit vectors
    dlib: np.ndarray
    quality: np.ndarray  # (n, len(QUALITY))
    missing: dict[str, int]  # variants with no face found, per damage
    #: SFace's own vector of every face, where ``sface`` holds the mean with its damaged-face view's for a noisy or
    #: covered one (:func:`faceproof.measure.identity.with_damaged_view`): what that view buys, measured in the same
    #: fit.
    sface_plain: np.ndarray


def embed_face(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """SFace and dlib vectors of the largest face YuNet finds in ``img`` as the service embeds it, its run-time
    quality (:data:`QUALITY`) and SFace's own vector of the face (:attr:`Embedded.sface_plain`); None when no face
    is found."""
    faces = detect_faces(img)
    if not faces:
        return None
    # aligned as the service aligns: keypoints refined by the mesh
    face = mesh_keypoints.refine(faces[0], facemesh.get_facemesh().landmarks(img, faces[0].box))
    noise = face_noise(img, face)
    view = identity_view(img, face, noise)
    reading = read_cover(img, face.box)
    covered = reading.probability if reading is not None else np.nan
    raw = sface.get_sface().features(align_face(view, face.keypoints))
    plain = sface.unit(raw)
    vector = plain
    state = face_state(reading.probability if reading is not None else None, noise)
    if state != "open":
        vector = with_damaged_view(plain, img, face)  # as the service embeds a noisy or covered face
    box = min(face.box[2], face.box[3])
    quality = np.array(
        [box, sharpness(face_grey(img, face.box)), face.score, np.linalg.norm(raw), covered, noise], np.float32
    )
    return vector, dlib_embedding(img, face, view, state).vector, quality, plain


def _embed_photo(root: Path, photo: Photo) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | str]:
    """Every damage of one photo: (damage, sface, dlib, quality, sface_plain) or the damage's name when no face
    was found."""
    rgb = load_image(root / photo.path).rgb
    hint = face_hint(rgb)
    out: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | str] = []
    for damage, names in DAMAGES.items():
        if hint is None:
            out.append(damage)
            continue
        img = degrade(rgb, names, seeded_hash(photo.path, damage) % 2**31, hint) if names else rgb
        try:
            found = embed_face(img)
        except (FaceproofError, ValueError) as exc:
            log.warning("%s %s failed: %s", photo.path, damage, exc)
            found = None
        out.append(damage if found is None else (damage, *found))
    return out


def embedding_code() -> int:
    """A checksum of the code that makes the damage, finds the face (YuNet's decoding and the retry ladder) and
    makes the recognizers' input (the view and the alignment keypoints' map), of the cover head and of the quality
    columns recorded: editing any of them must not reuse cached embeddings."""
    keypoints = artifact.read_card(mesh_keypoints.ARTIFACT).onnx_sha256 + facemesh.VIEW_RECIPE
    robust = artifact.read_card(sface.ROBUST_ARTIFACT).onnx_sha256 + artifact.read_card(ROBUST_DLIB).onnx_sha256
    models = keypoints + artifact.read_card(cover.ARTIFACT).onnx_sha256 + robust
    code = b"".join(Path(m.__file__).read_bytes() for m in (degrade_module, detect_ladder, yunet))
    return zlib.crc32(code + (identity.VIEW_VERSION + models + ",".join(QUALITY)).encode())


def cache_dir(cache: Path) -> Path:
    """Chunks of one embedding run: a change of recognizer, damage or pre-processing starts a new folder."""
    code = embedding_code()
    return cache / f"corpus-{SFACE_KEY}-{DLIB_KEY}-{code:08x}".replace("/", "_")


def _embed_chunk(corpus: Path, photos: list[Photo], start: int, path: Path) -> None:
    """Embed ``photos[start:start + CHUNK]`` and write them to ``path`` (one checkpoint)."""
    rows: dict[str, list] = {"photo": [], "damage": [], "sface": [], "dlib": [], "quality": [], "sface_plain": []}
    missing: list[str] = []
    for i in range(start, min(start + CHUNK, len(photos))):
        for item in _embed_photo(corpus, photos[i]):
            if isinstance(item, str):
                missing.append(item)
                continue
            for key, value in zip(rows, (i, *item), strict=True):
                rows[key].append(value)
    widths = {"sface": 128, "dlib": 128, "quality": len(QUALITY), "sface_plain": 128}
    arrays = {k: np.asarray(v).reshape(-1, widths[k]) if k in widths else np.asarray(v) for k, v in rows.items()}
    part = path.with_name(f".{path.name}.part")  # renamed when complete: a killed run leaves no half chunk
    with part.open("wb") as fh:
        np.savez(fh, **arrays, missing=np.asarray(missing, dtype=str))
    part.replace(path)


def embed(corpus: Path, photos: list[Photo], cache: Path, workers: int = 1) -> Embedded:
    """Embed every photo under every damage, chunk by chunk in ``workers`` processes (finished chunks are read
    back, not recomputed)."""
    folder = cache_dir(cache)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [
        (start, folder / f"chunk_{start // CHUNK:04d}.npz")
        for start in range(0, len(photos), CHUNK)
        if not (folder / f"chunk_{start // CHUNK:04d}.npz").exists()
    ]
    total = -(-len(photos) // CHUNK)
    # spawned, not forked: the parent may already hold MediaPipe's graph (the development set is embedded first),
    # whose threads' locks a forked child inherits held - the workers then wait forever
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=spawn) as pool:
        jobs = [pool.submit(_embed_chunk, corpus, photos, start, path) for start, path in todo]
        for done, job in enumerate(as_completed(jobs), start=1):
            job.result()
            log.info("calibration corpus: %d/%d chunks embedded", total - len(todo) + done, total)
    return load(folder)


def load(folder: Path) -> Embedded:
    """Every finished chunk in ``folder``, concatenated."""
    parts = [np.load(p) for p in sorted(folder.glob("chunk_*.npz"))]
    if not parts:
        raise FileNotFoundError(f"no embedded chunks in {folder}")
    missing: dict[str, int] = defaultdict(int)
    for part in parts:
        for damage in part["missing"]:
            missing[str(damage)] += 1
    return Embedded(
        photo=np.concatenate([p["photo"] for p in parts]).astype(int),
        damage=np.concatenate([p["damage"] for p in parts]).astype(str),
        sface=np.concatenate([p["sface"] for p in parts]).astype(np.float32),
        dlib=np.concatenate([p["dlib"] for p in parts]).astype(np.float32),
        quality=np.concatenate([p["quality"] for p in parts]).astype(np.float32),
        missing=dict(missing),
        sface_plain=np.concatenate([p["sface_plain"] for p in parts]).astype(np.float32),
    )
