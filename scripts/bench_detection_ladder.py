"""Measure the detection retry ladder: how many faces each rung recovers, how many it invents, what it costs.

Why: "no face" is the one answer a person can check at a glance, and a damaged photo of a plainly visible face
must not get it. The first pass and every rung of :mod:`faceproof.detect_ladder` run, one thread, on:

- **real photos, each clean and damaged**: the development set's real photos and a fixed sample of the corpus
  (LFW-derived grayscale, UTKFace, All-Age-Faces, masked faces at least 64 px, the intake minimum), under every
  damage of :mod:`faceproof.training.augment` alone and two combinations (lowres+jpeg, gaussian_blur+noise),
  seeded by file name and damage as :mod:`faceproof.evaluation.damage` does. The damage is placed with the face
  found in the clean photo (by the whole ladder), so a masked copy exists only where that face was found;
- **non-face images**: crops of the two photos scikit-learn ships (a temple by a lake, a flower), synthetic
  textures (smoothed noise, stripes, gradients, blobs, flat noise) and background strips of All-Age-Faces photos
  (the largest strip that keeps 30 % of the face box's size away from the face).

Every rung runs alone on every image the first pass missed, so each rung's own recoveries, false faces and
cost are measured, besides what it adds in ladder order. Recovered faces are checked against the clean photo's
face (box IoU, keypoint error in inter-eye distances, not for ``crop``, which moves the pixels) and measured by the
analysis pipeline without dlib, to see whether the quality gate passes them.

Usage (a few minutes on one core)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_detection_ladder.py --out /tmp/ladder.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_image

from faceproof.analysis import measure_face
from faceproof.detect import DetectedFace, detect_faces
from faceproof.detect_ladder import LOW_SCORE_THRESHOLD, RUNGS, Views
from faceproof.intake import load_image
from faceproof.models.yunet import SCORE_THRESHOLD, RawDetection, get_yunet
from faceproof.training.augment import FaceHint, degrade

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "corpus"
SHARED = ROOT.parent / "shared" / "data"
#: (name, folder under the corpus, how many photos)
SOURCES = (
    ("lfw", "lfw_gray/images", 300),
    ("utkface", "utkface/data", 300),
    ("allagefaces", "allagefaces/All-Age-Faces Dataset/original images", 300),
    ("facemask", "facemask/dataset/with_mask", 200),
)
CONDITIONS = (
    "clean",
    "lowres",
    "gaussian_blur",
    "motion_blur",
    "noise",
    "jpeg",
    "crop",
    "mask",
    "photometric",
    "resize",
    "lowres+jpeg",
    "gaussian_blur+noise",
)
MIN_SIDE = 64  # the intake refuses smaller images


@dataclass
class RungRun:
    """One rung on one image: its best score (0: nothing at the low threshold) and wall time."""

    score: float
    ms: float
    face: RawDetection | None = None


@dataclass
class Case:
    """One image through the first pass and, when that missed, through every rung."""

    source: str
    condition: str
    first_pass: bool
    first_ms: float
    rungs: dict[str, RungRun] = field(default_factory=dict)
    reference: FaceHint | None = None
    ladder_face: DetectedFace | None = None
    usable: bool | None = None
    mesh: bool | None = None


def real_photos(seed: int) -> Iterator[tuple[str, Path]]:
    """The development set's real photos, then a fixed random sample of each corpus source."""
    with (SHARED / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "real":
                yield "dev", SHARED / row["file"]
    rng = np.random.default_rng(seed)
    for name, folder, n in SOURCES:
        files = sorted((CORPUS / folder).iterdir())
        chosen: list[Path] = []
        for i in rng.permutation(len(files)):
            with Image.open(files[i]) as im:
                if min(im.size) >= MIN_SIDE:
                    chosen.append(files[i])
            if len(chosen) == n:
                break
        yield from ((name, p) for p in sorted(chosen))


def non_face_images(seed: int) -> list[tuple[str, np.ndarray]]:
    """200 images without a face: 80 natural crops, 60 synthetic textures, 60 background strips."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, np.ndarray]] = []
    photos = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    for i in range(80):
        im = photos[i % 2]
        h, w = im.shape[:2]
        ch = int(rng.integers(MIN_SIDE, min(h, w)))
        cw = min(w, int(ch * rng.uniform(0.6, 1.6)))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        f = rng.uniform(0.5, 2.0)
        size = (max(MIN_SIDE, round(cw * f)), max(MIN_SIDE, round(ch * f)))
        crop = cv2.resize(im[y : y + ch, x : x + cw], size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        out.append(("natural", np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)))
    for i in range(60):
        out.append(("texture", _texture(rng, i % 5)))
    folder = CORPUS / SOURCES[2][1]
    files = sorted(folder.iterdir())
    for i in rng.permutation(len(files)):
        if len([s for s, _ in out if s == "background"]) == 60:
            break
        strip = _background(load_image(files[i]).rgb)
        if strip is not None:
            out.append(("background", strip))
    return out


def _texture(rng: np.random.Generator, kind: int) -> np.ndarray:
    h, w = int(rng.integers(96, 480)), int(rng.integers(96, 480))
    yy, xx = np.mgrid[:h, :w]
    if kind == 0:  # smoothed colour noise
        im = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), rng.uniform(1, 12))
        im = (im - im.min()) / (np.ptp(im) + 1e-6) * 255
    elif kind == 1:  # stripes and checkerboards
        p = int(rng.integers(4, 40))
        im = np.repeat((((yy // p) + (xx // p) * int(rng.integers(2))) % 2 * 200 + 28)[..., None], 3, 2)
    elif kind == 2:  # gradients
        im = np.stack([xx / w * 255, yy / h * 255, np.full((h, w), rng.uniform(0, 255))], 2)
    elif kind == 3:  # blobs on a flat background
        im = np.full((h, w, 3), rng.uniform(0, 255, 3), np.float32)
        for _ in range(int(rng.integers(3, 12))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3)))
            cv2.ellipse(im, centre, axes, float(rng.uniform(0, 180)), 0, 360, rng.uniform(0, 255, 3).tolist(), -1)
    else:  # a flat colour with sensor noise
        im = np.full((h, w, 3), rng.uniform(30, 220, 3), np.float32) + rng.normal(0, 15, (h, w, 3))
    return np.clip(im, 0, 255).astype(np.uint8)


def _background(rgb: np.ndarray) -> np.ndarray | None:
    """The largest strip of ``rgb`` beside its one face, kept 30 % of the box away (None: no such strip)."""
    raw = get_yunet().detect(rgb, 0.3)
    if len(raw) != 1:
        return None
    height, width = rgb.shape[:2]
    x, y, w, h = raw[0].box
    x0, y0 = round(x - 0.3 * w), round(y - 0.3 * h)
    x1, y1 = round(x + 1.3 * w), round(y + 1.3 * h)
    strips = [(0, 0, x0, height), (x1, 0, width, height), (0, 0, width, y0), (0, y1, width, height)]
    strips = [s for s in strips if s[2] - s[0] >= MIN_SIDE and s[3] - s[1] >= MIN_SIDE]
    if not strips:
        return None
    a, b, c, d = max(strips, key=lambda s: (s[2] - s[0]) * (s[3] - s[1]))
    return np.ascontiguousarray(rgb[b:d, a:c])


def run_case(rgb: np.ndarray, source: str, condition: str) -> Case:
    """The first pass, and every rung alone when it missed (each timed with its share of view preparation)."""
    start = time.perf_counter()
    found = get_yunet().detect(rgb)
    case = Case(source, condition, bool(found), (time.perf_counter() - start) * 1000.0)
    if found:
        return case
    views = Views(rgb)
    for rung in RUNGS:
        start = time.perf_counter()
        faces = views.detect(rung)
        ms = (time.perf_counter() - start) * 1000.0
        confident = [f for f in faces if f.score >= SCORE_THRESHOLD]
        best = max(confident or faces, key=lambda f: f.box[2] * f.box[3], default=None)
        case.rungs[rung.name] = RungRun(max((f.score for f in faces), default=0.0), ms, best)
    return case


def ladder_rung(case: Case, low: float | None = LOW_SCORE_THRESHOLD) -> str | None:
    """The rung the ladder answers with: the first at the usual threshold, else the first at ``low`` (None: the
    ladder without a lowered threshold)."""
    for name, run in case.rungs.items():
        if run.score >= SCORE_THRESHOLD:
            return name
    if low is not None:
        return next((name for name, run in case.rungs.items() if run.score >= low), None)
    return None


def ladder_ms(case: Case) -> float:
    """What the ladder costs on this image: rungs up to the one that answers, all of them when none does."""
    stop = ladder_rung(case, None)
    total = 0.0
    for name, run in case.rungs.items():
        total += run.ms
        if name == stop:
            break
    return total


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def measure_real(seed: int) -> list[Case]:
    cases: list[Case] = []
    for source, path in real_photos(seed):
        rgb = load_image(path).rgb
        clean = detect_faces(rgb)
        hint = FaceHint(box=clean[0].box, keypoints=clean[0].keypoints) if clean else None
        for condition in CONDITIONS:
            names = condition.split("+")
            if condition == "clean":
                img = rgb
            elif "mask" in names and hint is None:
                continue
            else:
                img = degrade(rgb, names, zlib.crc32(f"{path.name}|{condition}".encode()), hint)
            case = run_case(img, source, condition)
            case.reference = hint
            rung = ladder_rung(case)
            if rung is not None:
                raw = case.rungs[rung].face
                assert raw is not None
                face = DetectedFace(box=raw.box, score=raw.score, keypoints=raw.keypoints, rung=rung)
                quality = measure_face(img, face, with_dlib=False).quality
                case.ladder_face, case.usable = face, quality.usable_for_identity
                case.mesh = "no_mesh" not in quality.reasons
            cases.append(case)
    return cases


def measure_non_faces(seed: int) -> list[Case]:
    cases = []
    for source, rgb in non_face_images(seed):
        case = run_case(rgb, source, "no face")
        rung = ladder_rung(case)
        if rung is not None:
            raw = case.rungs[rung].face
            assert raw is not None
            face = DetectedFace(box=raw.box, score=raw.score, keypoints=raw.keypoints, rung=rung)
            quality = measure_face(rgb, face, with_dlib=False).quality
            case.usable, case.mesh = quality.usable_for_identity, "no_mesh" not in quality.reasons
        cases.append(case)
    return cases


def report(real: list[Case], non: list[Case]) -> dict[str, object]:
    """Per condition and per rung, as the tables of docs/reliability.md show them."""
    missed = [c for c in real if not c.first_pass]
    by_condition = {}
    for condition in CONDITIONS:
        cs = [c for c in real if c.condition == condition]
        by_condition[condition] = {
            "images": len(cs),
            "no_face_first_pass": sum(not c.first_pass for c in cs),
            "no_face_ladder": sum(not c.first_pass and ladder_rung(c, None) is None for c in cs),
            "no_face_ladder_low": sum(not c.first_pass and ladder_rung(c) is None for c in cs),
        }
    rungs = {}
    for rung in RUNGS:
        name = rung.name
        runs = [c.rungs[name] for c in missed]
        rungs[name] = {
            "finds_alone": sum(r.score >= SCORE_THRESHOLD for r in runs),
            "adds_in_ladder": sum(ladder_rung(c, None) == name for c in missed),
            "adds_at_low_threshold": sum(ladder_rung(c, None) is None and ladder_rung(c) == name for c in missed),
            "false_faces_alone": sum(c.rungs[name].score >= SCORE_THRESHOLD for c in non),
            "false_faces_alone_low": sum(c.rungs[name].score > 0 for c in non),
            "median_ms": statistics.median(r.ms for r in runs + [c.rungs[name] for c in non]),
        }
    placed = [c for c in real if c.ladder_face is not None and c.reference is not None and c.condition != "crop"]
    ious = [iou(c.ladder_face.box, c.reference.box) for c in placed if c.ladder_face and c.reference]
    kp_err = [
        float(np.median(np.linalg.norm(c.ladder_face.keypoints - c.reference.keypoints, axis=1)))
        / max(float(np.linalg.norm(c.reference.keypoints[0] - c.reference.keypoints[1])), 1.0)
        for c in placed
        if c.ladder_face and c.reference
    ]
    found = [c for c in real if c.ladder_face is not None]
    low = [c for c in found if c.ladder_face and c.ladder_face.score < SCORE_THRESHOLD]
    sweep = {
        f"{low:.2f}": {
            "no_face": sum(not c.first_pass and ladder_rung(c, low) is None for c in real),
            "false_faces": sum(not c.first_pass and ladder_rung(c, low) is not None for c in non),
        }
        for low in (0.45, 0.5, 0.55)
    }
    by_source = {
        source: {
            "images": sum(c.source == source for c in real),
            "no_face_first_pass": sum(c.source == source and not c.first_pass for c in real),
            "no_face_ladder": sum(c.source == source and not c.first_pass and ladder_rung(c) is None for c in real),
        }
        for source in dict.fromkeys(c.source for c in real)
    }
    return {
        "images": len(real),
        "by_source": by_source,
        "low_threshold_sweep": sweep,
        "by_condition": by_condition,
        "rungs": rungs,
        "first_pass_median_ms": statistics.median(c.first_ms for c in real),
        "ladder_median_ms_on_misses": statistics.median(ladder_ms(c) for c in missed),
        "ladder_median_ms_on_non_faces": statistics.median(ladder_ms(c) for c in non),
        "non_faces": len(non),
        "non_faces_first_pass_false": sum(c.first_pass for c in non),
        "non_faces_ladder_false": sum(not c.first_pass and ladder_rung(c, None) is not None for c in non),
        "non_faces_ladder_false_low": sum(not c.first_pass and ladder_rung(c) is not None for c in non),
        "non_faces_false_usable": sum(bool(c.usable) for c in non),
        "recovered_placed": len(placed),
        "recovered_iou_below_0_5": sum(v < 0.5 for v in ious),
        "recovered_median_iou": statistics.median(ious) if ious else None,
        "recovered_median_keypoint_error_ipd": statistics.median(kp_err) if kp_err else None,
        "recovered": len(found),
        "recovered_with_mesh": sum(bool(c.mesh) for c in found),
        "recovered_usable": sum(bool(c.usable) for c in found),
        "recovered_low_score": len(low),
        "recovered_low_score_with_mesh": sum(bool(c.mesh) for c in low),
        "recovered_low_score_usable": sum(bool(c.usable) for c in low),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, help="write the report as JSON here too")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    real = measure_real(args.seed)
    non = measure_non_faces(args.seed)
    result = report(real, non)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
