"""Face crops with context, cut the same way for training and for the service, and a resumable crop cache.

Why one crop function: a detector learns whatever differs between its classes, so real and fake faces - and the
faces the service sees later - must be cut identically: a square about the detected face box, ``CONTEXT`` times
its longer side (forehead, hair, jaw and a band of background stay in view, where blending boundaries and replay
borders are), resampled to a fixed side. Where the crop leaves the image it is filled with mid-grey (0 after the
network's normalisation) rather than mirrored, so padding never invents texture; tightly cropped data sets pad
more, which is why the fraction padded is recorded and measured as a confound (docs/corpus.md).

The cache (``build_cache``) runs detection and the 478-point mesh once per corpus image and stores the crop and
its landmarks in numbered shards, so a fit can be resumed and repeated without re-detecting: a stopped build
picks up at the first missing shard.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Crop side as a multiple of the face box's longer side.
CONTEXT = 2.0
#: Side of a cached crop in pixels (a model input is cut from it, see ``model_input``).
CACHE_SIZE = 256
PAD_VALUE = 127
#: Images whose shorter side is below this are upscaled to it before detection.
MIN_DETECT_SIDE = 192
SHARD_ROWS = 500


@dataclass(frozen=True)
class FaceCrop:
    """A square crop about a face: ``rgb`` (S, S, 3) uint8; landmarks (478, 3) and keypoints (5, 2) in crop pixels
    (landmarks NaN where the mesh failed); ``padded``: the fraction of the crop that lay outside the image."""

    rgb: np.ndarray
    landmarks: np.ndarray
    keypoints: np.ndarray
    padded: float


def crop_transform(box: Sequence[float], size: int, context: float = CONTEXT) -> np.ndarray:
    """The 2x3 affine map from image pixels to a ``size`` square centred on ``box`` (x, y, w, h)."""
    x, y, w, h = (float(v) for v in box)
    side = context * max(w, h, 1.0)
    scale = size / side
    cx, cy = x + w / 2.0, y + h / 2.0
    return np.array([[scale, 0.0, size / 2.0 - scale * cx], [0.0, scale, size / 2.0 - scale * cy]], np.float64)


def cut(rgb: np.ndarray, box: Sequence[float], size: int, context: float = CONTEXT) -> tuple[np.ndarray, np.ndarray]:
    """The crop (size, size, 3) and its affine map; what the service feeds its learned detectors."""
    m = crop_transform(box, size, context)
    interp = cv2.INTER_AREA if m[0, 0] < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        rgb, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3
    )
    return crop, m


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
    crop, m = cut(rgb, box, size, context)
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

    def column(self, name: str) -> np.ndarray:
        return np.asarray([m[name] for m in self.meta])


def load_cache(dirs: Iterable[Path]) -> CropSet:
    parts = [np.load(p) for d in dirs for p in sorted(Path(d).glob("shard_*[0-9].npz"))]
    return CropSet(
        rgb=np.concatenate([p["rgb"] for p in parts]),
        landmarks=np.concatenate([p["landmarks"] for p in parts]),
        keypoints=np.concatenate([p["keypoints"] for p in parts]),
        padded=np.concatenate([p["padded"] for p in parts]),
        meta=[json.loads(s) for p in parts for s in p["meta"]],
    )


def read_rows(manifest_csv: Path, keep: dict[str, Sequence[str]] | None = None) -> list[CacheRow]:
    """Rows of a corpus manifest (``.csv`` or ``.csv.gz``) whose columns take one of the ``keep`` values."""
    import gzip

    opener = gzip.open if manifest_csv.suffix == ".gz" else open
    with opener(manifest_csv, "rt", newline="") as fh:
        out = []
        for r in csv.DictReader(fh):
            if keep and any(r.get(k, "") not in v for k, v in keep.items()):
                continue
            out.append(
                CacheRow(
                    path=r["path"],
                    label=r["label"],
                    generator=r.get("generator", ""),
                    identity=r.get("identity", ""),
                    source=r.get("source_repo", ""),
                )
            )
    return out
