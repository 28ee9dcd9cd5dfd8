"""Face crops with context for training, cut by the service's own function, and a resumable crop cache.

Why one crop function: a detector learns whatever differs between its classes, so real and fake faces - and the
faces the service sees later - must be cut identically, by :func:`faceproof.align.context_crop` (a square about
the detected face box, ``CONTEXT`` times its longer side, mid-grey where it leaves the image). Tightly cropped data
sets pad more, which is why the fraction padded is recorded with every crop.

The cache (``build_cache``) runs detection and the 478-point mesh once per corpus image and stores the crop and
its landmarks in numbered shards, so a fit can be resumed and repeated without re-detecting: a stopped build
picks up at the first missing shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceproof.align import PAD_VALUE, context_crop
from faceproof.training.augment import FaceHint

log = logging.getLogger(__name__)

#: Crop side as a multiple of the face box's longer side.
CONTEXT = 2.0
#: Side of a cached crop in pixels (a model input is cut from it, see ``model_input``).
CACHE_SIZE = 256
#: Images whose shorter side is below this are upscaled to it before detection.
MIN_DETECT_SIDE = 192
SHARD_ROWS = 500
#: The learned crop detectors' view: network input side in pixels, and the crop's side relative to the face box.
INPUT_SIZE = 160
MODEL_CONTEXT = 1.5


@dataclass(frozen=True)
class FaceCrop:
    """A square crop about a face: ``rgb`` (S, S, 3) uint8; landmarks (478, 3) and keypoints (5, 2) in crop pixels
    (landmarks NaN where the mesh failed); ``padded``: the fraction of the crop that lay outside the image."""

    rgb: np.ndarray
    landmarks: np.ndarray
    keypoints: np.ndarray
    padded: float


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    out = np.asarray(pts, np.float64).copy()
    out[:, :2] = out[:, :2] @ m[:, :2].T + m[:, 2]
    if out.shape[1] > 2:
        out[:, 2:] *= m[0, 0]
    return out


def face_crop(
    rgb: np.ndarray,
    box: Sequence[float],
    keypoints: np.ndarray,
    landmarks: np.ndarray | None,
    size: int = CACHE_SIZE,
    context: float = CONTEXT,
) -> FaceCrop:
    crop, m = context_crop(rgb, tuple(box), size, context)
    h, w = rgb.shape[:2]
    inside = cv2.warpAffine(np.ones((h, w), np.uint8), m, (size, size), flags=cv2.INTER_NEAREST)
    marks = np.full((478, 3), np.nan) if landmarks is None else _apply(m, landmarks)
    return FaceCrop(
        rgb=crop,
        landmarks=marks.astype(np.float32),
        keypoints=_apply(m, keypoints).astype(np.float32),
        padded=float(1.0 - inside.mean()),
    )


def detect_and_crop(rgb: np.ndarray, size: int = CACHE_SIZE) -> FaceCrop | None:
    """Largest YuNet face and its mesh, cropped; ``None`` when no face is found (the service's own models)."""
    from faceproof.detect import detect_faces
    from faceproof.models.facemesh import get_facemesh

    if min(rgb.shape[:2]) < MIN_DETECT_SIDE:  # tiny, tightly cropped sets (NUAA's 64 px): YuNet needs context
        factor = MIN_DETECT_SIDE / min(rgb.shape[:2])
        rgb = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(rgb)
    if not faces:
        return None
    face = faces[0]
    landmarks = get_facemesh().landmarks(rgb, face.box)
    return face_crop(rgb, face.box, face.keypoints, landmarks, size)


def model_view(cache_crop: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The network's input from a cached crop: the centre ``MODEL_CONTEXT`` face sizes, at ``INPUT_SIZE``.

    Without ``rng`` this is exactly what the service cuts (:func:`service_view`); with it (training) the window is
    jittered (scale 0.9-1.1, shift 4 %) and sometimes mirrored.
    """
    return model_views(cache_crop, (MODEL_CONTEXT,), rng)[0]


def model_views(
    cache_crop: np.ndarray, contexts: Sequence[float], rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """:func:`model_view` at each of ``contexts`` (the crop's side in face sizes), all from one jitter and one
    mirroring: a detector reading several views of a face learns them as the service cuts them, of one face box.
    The random draws are those of :func:`model_view`, so a one-view detector's training is unchanged."""
    face = CACHE_SIZE / CONTEXT
    shift = (0.0, 0.0)
    if rng is not None:
        face *= float(rng.uniform(0.9, 1.1))
        shift = (float(rng.uniform(-0.04, 0.04)) * face, float(rng.uniform(-0.04, 0.04)) * face)
    mirror = rng is not None and rng.random() < 0.5
    views = []
    for context in contexts:
        cx, cy = (CACHE_SIZE / 2.0 + d * context for d in shift)
        view, _ = context_crop(cache_crop, (cx - face / 2, cy - face / 2, face, face), INPUT_SIZE, context)
        views.append(np.ascontiguousarray(view[:, ::-1] if mirror else view))
    return views


def service_view(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """What the service feeds the detector for the face at ``box``: the cached crop's cut, then the model view."""
    return model_view(context_crop(rgb, box, CACHE_SIZE, CONTEXT)[0])


def padding_mask(crop: np.ndarray) -> np.ndarray:
    """Where a cached crop is padding (exact mid-grey regions touching its border): a manipulation of the picture
    must leave them flat, as the service's own crop of a manipulated photo would show them."""
    flat = (crop == PAD_VALUE).all(axis=2).astype(np.uint8)
    _, labels = cv2.connectedComponents(flat)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def hint(crops: CropSet, i: int) -> FaceHint:
    """The face's place in a cached crop (the box is the centre square of one face size)."""
    side = CACHE_SIZE / CONTEXT
    lo = (CACHE_SIZE - side) / 2.0
    return FaceHint(box=(lo, lo, side, side), keypoints=crops.keypoints[i].astype(np.float64))


def has_mesh(crops: CropSet) -> np.ndarray:
    return np.isfinite(crops.landmarks[:, :468, :2]).all(axis=(1, 2))


@dataclass(frozen=True)
class CacheRow:
    """One corpus image to cache: its path under the corpus root and the labels carried into the shard index."""

    path: str
    label: str
    generator: str
    identity: str
    source: str


def _load_rgb(path: Path) -> np.ndarray | None:
    from faceproof.intake import load_image

    try:
        return load_image(path.read_bytes()).rgb
    except Exception as exc:  # a broken corpus file is skipped and reported, never fatal
        log.warning("skipping %s: %s", path, exc)
        return None


def _shard(args: tuple[Path, Path, int, list[CacheRow], int]) -> tuple[int, int]:
    root, out_dir, index, rows, size = args
    crops, marks, keys, padded, kept = [], [], [], [], []
    for row in rows:
        rgb = _load_rgb(root / row.path)
        face = None if rgb is None else detect_and_crop(rgb, size)
        if face is None:
            continue
        crops.append(face.rgb)
        marks.append(face.landmarks)
        keys.append(face.keypoints)
        padded.append(face.padded)
        kept.append(row)
    target = out_dir / f"shard_{index:05d}.npz"
    np.savez(
        target.with_suffix(".tmp.npz"),
        rgb=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        landmarks=np.stack(marks) if marks else np.zeros((0, 478, 3), np.float32),
        keypoints=np.stack(keys) if keys else np.zeros((0, 5, 2), np.float32),
        padded=np.asarray(padded, np.float32),
        meta=np.asarray([json.dumps(r.__dict__) for r in kept]),
    )
    target.with_suffix(".tmp.npz").rename(target)
    return len(rows), len(kept)


def build_cache(
    rows: Sequence[CacheRow], root: Path, out_dir: Path, workers: int = 2, size: int = CACHE_SIZE
) -> tuple[int, int]:
    """Detect, mesh and crop every row into ``out_dir/shard_NNNNN.npz``; existing shards are kept (resume).

    Returns (rows seen, faces kept) over the shards built in this call.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for i, start in enumerate(range(0, len(rows), SHARD_ROWS)):
        if not (out_dir / f"shard_{i:05d}.npz").exists():
            todo.append((root, out_dir, i, list(rows[start : start + SHARD_ROWS]), size))
    seen = kept = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for n, k in pool.map(_shard, todo):
            seen, kept = seen + n, kept + k
            log.info("cached %d/%d faces of %d shards", kept, seen, len(todo))
    return seen, kept


@dataclass(frozen=True)
class CropSet:
    """Cached crops in memory: arrays aligned with ``meta`` (one dict per crop)."""

    rgb: np.ndarray
    landmarks: np.ndarray
    keypoints: np.ndarray
    padded: np.ndarray
    meta: list[dict[str, str]]

    def subset(self, mask: np.ndarray) -> CropSet:
        idx = np.flatnonzero(mask)
        return CropSet(
            self.rgb[idx], self.landmarks[idx], self.keypoints[idx], self.padded[idx], [self.meta[i] for i in idx]
        )

    @classmethod
    def concat(cls, parts: Sequence[CropSet]) -> CropSet:
        return cls(
            np.concatenate([p.rgb for p in parts]),
            np.concatenate([p.landmarks for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.padded for p in parts]),
            [m for p in parts for m in p.meta],
        )

    def column(self, name: str) -> np.ndarray:
        return np.asarray([m[name] for m in self.meta])


def _shards(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("shard_*[0-9].npz"))


def cache_meta(folder: Path) -> list[dict[str, str]]:
    """The records of a crop cache (path, label, generator, identity, source per crop) without its pixels: what
    a selection of corpus images needs (an ``.npz`` member is read only when asked for)."""
    return [json.loads(s) for p in _shards(folder) for s in np.load(p)["meta"]]


def load_cache(dirs: Iterable[Path]) -> CropSet:
    parts = [np.load(p) for d in dirs for p in _shards(d)]
    if not parts:
        raise FileNotFoundError(f"no crop cache in {[str(d) for d in dirs]}: build it first (faceproof train crops)")
    return CropSet(
        rgb=np.concatenate([p["rgb"] for p in parts]),
        landmarks=np.concatenate([p["landmarks"] for p in parts]),
        keypoints=np.concatenate([p["keypoints"] for p in parts]),
        padded=np.concatenate([p["padded"] for p in parts]),
        meta=[json.loads(s) for p in parts for s in p["meta"]],
    )


def selection_key(path: str) -> int:
    """A stable pseudo-random rank per file: taking the lowest ranks gives the same subset on every machine,
    whatever else was added to or removed from the corpus."""
    return int(hashlib.sha1(path.encode()).hexdigest()[:12], 16)


def corpus_rows(
    manifest: Path, corpus_dir: Path, dev_set: Path | None, sources: Sequence[str], limit: int | None = None
) -> dict[str, tuple[Path, list[CacheRow]]]:
    """Per source slug, the image root and the rows to cache: the ``limit`` lowest :func:`selection_key` rows
    (all when ``limit`` is None). The development set's rows live under ``dev_set``."""
    from faceproof.training.corpus import DEV_SOURCE, read_manifest, slug_of

    by_source: dict[str, list[CacheRow]] = {s: [] for s in sources}
    for r in read_manifest(manifest):
        slug = slug_of(r)
        if slug not in by_source:
            continue
        path = r["source_path"] if slug == DEV_SOURCE else r["path"]
        by_source[slug].append(CacheRow(path, r["label"], r["generator"], r["identity"] or path, slug))
    out = {}
    for slug, rows in by_source.items():
        rows.sort(key=lambda row: selection_key(row.path))
        root = dev_set if slug == DEV_SOURCE and dev_set is not None else corpus_dir
        out[slug] = (root, rows[:limit] if limit else rows)
    return out
