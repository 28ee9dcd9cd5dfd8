"""Fit the blending-boundary detector (``faceproof.authenticity.blending``) and report held-out numbers:
``faceproof train blending``.

Why this way: there are no face swaps in the development data, so the detector learns from Self-Blended Images
(``faceproof.training.manipulate.self_blend``) of the real photos against the same photos untouched. Both classes
get the same heavy degradations (crop, downscale, blur, noise, JPEG 60-95, and sometimes an occluder over the
lower face), and the face mesh is re-run on every degraded copy, as in the service, so that image size and
compression history cannot separate the classes. Validation is grouped by person (GroupKFold over identities):

(a) AUC of held-out-identity SBI vs held-out-identity real photos (both degraded);
(b) AUC of held-out real photos vs classic face swaps (``swap_faces``) between two held-out people, clean and
    degraded: a different manipulation that is never used for training;
(c) false-positive rate at the operating threshold on held-out real photos after JPEG 70-95, 0.5-0.7x resizing
    and 85 % crops.

The final model is refit on everything and saved as the ``blending_model`` artefact (:func:`save_blending`);
Platt calibration and the operating threshold (5 % false positives on degraded held-out real photos) come
from the out-of-fold scores. The dev generated faces are scored for information (there is no seam in a fully
generated face, so the detector is not expected to flag them). Deterministic for a given seed.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from faceproof.authenticity import blending
from faceproof.authenticity.blending import FEATURE_VERSION, boundary_features
from faceproof.detect import detect_faces
from faceproof.intake import decode_image
from faceproof.models.facemesh import get_facemesh
from faceproof.training import export
from faceproof.training.common import DEV_DATA, LICENCE, SEED, manifest, pil_jpeg
from faceproof.training.manipulate import self_blend, swap_faces

N_FOLDS = 5
C_REG = 0.01
TARGET_FPR = 0.05
LOWER_FACE = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Photo:
    path: str
    identity: str
    label: str


@dataclass(frozen=True)
class Sample:
    """One measured image: features (or None if no mesh), class label, identity, and what it is."""

    x: np.ndarray | None
    y: int
    identity: str
    kind: str


def _occlude(rgb: np.ndarray, lm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A flat-ish occluder (a mask) over the lower face, from the cheeks to below the chin."""
    pts = lm[list(LOWER_FACE), :2].copy()
    nose = lm[1, :2]
    pts[[0, -1], 1] = nose[1]
    chin = lm[152, :2]
    pts = np.vstack([pts, chin + (chin - nose) * 0.3])
    out = rgb.copy()
    colour = rng.integers(0, 256, 3).tolist()
    cv2.fillPoly(out, [np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32)], colour)
    blurred = cv2.GaussianBlur(out, (0, 0), 1.0)
    return np.clip(blurred + rng.normal(0.0, 3.0, out.shape), 0, 255).astype(np.uint8)


def degrade(rgb: np.ndarray, lm: np.ndarray, box: Box, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """Random crop keeping the face, downscale 0.3-1.0, blur, noise, lower-face occluder, JPEG 60-95."""
    h, w = rgb.shape[:2]
    if rng.random() < 0.15:
        rgb = _occlude(rgb, lm, rng)
    x, y, bw, bh = box
    keep = rng.uniform(0.75, 1.0)
    cw, ch = max(int(w * keep), min(w, int(bw * 1.2))), max(int(h * keep), min(h, int(bh * 1.2)))
    x0 = int(rng.integers(max(0, int(x + bw) - cw), min(int(x), w - cw) + 1)) if cw < w else 0
    y0 = int(rng.integers(max(0, int(y + bh) - ch), min(int(y), h - ch) + 1)) if ch < h else 0
    x0, y0 = int(np.clip(x0, 0, w - cw)), int(np.clip(y0, 0, h - ch))
    img = rgb[y0 : y0 + ch, x0 : x0 + cw]
    scale = rng.uniform(0.3, 1.0)
    img = cv2.resize(img, (max(32, round(cw * scale)), max(32, round(ch * scale))), interpolation=cv2.INTER_AREA)
    sx, sy = img.shape[1] / cw, img.shape[0] / ch
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        img = np.clip(img + rng.normal(0.0, rng.uniform(1.0, 5.0), img.shape), 0, 255).astype(np.uint8)
    img = pil_jpeg(img, int(rng.integers(60, 96)))
    return img, ((x - x0) * sx, (y - y0) * sy, bw * sx, bh * sy)


def _mesh(rgb: np.ndarray, box: Box) -> np.ndarray | None:
    return get_facemesh().landmarks(rgb, box)


def _measure(rgb: np.ndarray, box: Box) -> np.ndarray | None:
    lm = _mesh(rgb, box)
    if lm is None:
        return None
    x, _ = boundary_features(rgb, lm)
    return x if np.isfinite(x).all() else None


def _load(path: str) -> tuple[np.ndarray, Box, np.ndarray] | None:
    rgb = decode_image(Path(path).read_bytes()).rgb
    faces = detect_faces(rgb)
    if not faces:
        return None
    lm = _mesh(rgb, faces[0].box)
    return None if lm is None else (rgb, faces[0].box, lm)


def training_samples(job: tuple[Photo, int, int]) -> list[Sample]:
    """Degraded copies of one real photo and of its self-blends."""
    photo, copies, seed = job
    loaded = _load(photo.path)
    if loaded is None:
        return []
    rgb, box, lm = loaded
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for k in range(copies):
        fake = self_blend(rgb, lm, seed * 1000 + k).rgb
        for y, img in ((0, rgb), (1, fake)):
            degraded, dbox = degrade(img, lm, box, rng)
            out.append(Sample(_measure(degraded, dbox), y, photo.identity, "sbi" if y else "real"))
    return out


def swap_samples(job: tuple[Photo, Photo, int]) -> list[Sample]:
    """A swap of ``src``'s face into ``dst``: clean and one degraded copy."""
    src, dst, seed = job
    a, b = _load(src.path), _load(dst.path)
    if a is None or b is None:
        return []
    swapped = swap_faces(a[0], a[2], b[0], b[2], seed)
    degraded, dbox = degrade(swapped, b[2], b[1], np.random.default_rng(seed))
    return [
        Sample(_measure(swapped, b[1]), 1, dst.identity, "swap_clean"),
        Sample(_measure(degraded, dbox), 1, dst.identity, "swap_degraded"),
    ]


def benign_samples(job: tuple[Photo, int]) -> list[Sample]:
    """Benign edits of one real photo (JPEG 70-95, resize 0.5/0.7, 85 % crop), or the clean generated face."""
    photo, seed = job
    loaded = _load(photo.path)
    if loaded is None:
        return []
    rgb, box, _ = loaded
    if photo.label != "real":
        return [Sample(_measure(rgb, box), 0, photo.identity, photo.label)]
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    variants: list[tuple[str, np.ndarray, Box]] = [("clean", rgb, box)]
    for q in (70, 80, 95):
        variants.append((f"jpeg{q}", pil_jpeg(rgb, q), box))
    for s in (0.5, 0.7):
        small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        variants.append((f"resize{s}", pil_jpeg(small, int(rng.integers(70, 96))), tuple(v * s for v in box)))
    x, y, bw, bh = box
    cw, ch = max(int(0.85 * w), min(w, int(bw * 1.2))), max(int(0.85 * h), min(h, int(bh * 1.2)))
    x0 = int(np.clip(x + bw / 2 - cw / 2, 0, w - cw))
    y0 = int(np.clip(y + bh / 2 - ch / 2, 0, h - ch))
    variants.append(("crop85", pil_jpeg(rgb[y0 : y0 + ch, x0 : x0 + cw], 90), (x - x0, y - y0, bw, bh)))
    return [Sample(_measure(img, b), 0, photo.identity, f"benign_{name}") for name, img, b in variants]


def _run(fn, jobs: list, workers: int) -> list[Sample]:  # type: ignore[no-untyped-def]
    with ProcessPoolExecutor(workers) as pool:
        return [s for batch in pool.map(fn, jobs) for s in batch if s.x is not None]


def _stack(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.stack([s.x for s in samples]),  # type: ignore[misc]
        np.array([s.y for s in samples]),
        np.array([s.identity for s in samples]),
        np.array([s.kind for s in samples]),
    )


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=C_REG, max_iter=5000).fit(scaler.transform(x), y)
    return scaler, clf


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


@dataclass(frozen=True)
class Fitted:
    """The refit logistic regression over the standardised features, and its Platt calibration ``a * z + b``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    calib_a: float
    calib_b: float


def save_blending(
    model: Fitted,
    threshold: float,
    *,
    version: str,
    training: dict,
    metrics: dict,
    directory: Path | None = None,
    created: str | None = None,
) -> Path:
    """Write the ``blending_model`` artefact. The Platt calibration is folded into the graph's coefficients
    (``a * (coef . z + c) + b = (a coef) . z + (a c + b)``), so its logit is already the calibrated one."""
    names = blending.feature_names()
    head = export.LinearHead(
        "",
        names,
        model.mean,
        model.scale,
        model.calib_a * np.asarray(model.coef),
        model.calib_a * model.intercept + model.calib_b,
    )
    graph = export.linear_heads_graph(names, [head], blending.ARTIFACT, np.float64)
    inputs, outputs = export.linear_contract(names, [head], np.float64, "calibrated log-odds of a blending seam")
    return export.write_artifact(
        graph,
        name=blending.ARTIFACT,
        version=version,
        task="face-swap detection: blending seam along the face outline (p = sigmoid(logit))",
        inputs={"x": inputs["x"] + " (blending.boundary_features of the face)"},
        outputs=outputs,
        parameters={"feature_version": FEATURE_VERSION, "features": list(names), "threshold": float(threshold)},
        training={
            "data": DEV_DATA,
            "seed": SEED,
            "C": C_REG,
            "platt": {"a": model.calib_a, "b": model.calib_b, "folded": "into coef and intercept"},
            **training,
        },
        metrics=metrics,
        licence=LICENCE,
        directory=directory,
        created=created,
    )


def run(
    data: Path,
    copies: int = 8,
    seed: int = SEED,
    workers: int = 2,
    report: Path = Path("reports/blending"),
    out: Path | None = None,
) -> Path:
    """Build the samples, cross-validate, fit the shipped model and write its artefact into ``out`` (default: the
    package's models) and the held-out figures to ``report/report.md``."""
    t_start = time.perf_counter()
    rows = manifest(data)
    photos = [Photo(str(data / r["file"]), r["identity"], r["label"]) for r in rows if r["identity"]]
    generated = [Photo(str(data / r["file"]), "", r["label"]) for r in rows if r["label"] != "real"]
    jobs = [(p, copies, seed + i) for i, p in enumerate(photos)]
    train = _run(training_samples, jobs, workers)
    x, y, groups, _ = _stack(train)
    print(f"training samples: {len(y)} ({int(y.sum())} SBI) from {len(photos)} photos, {len(set(groups))} people")

    # Folds by identity; swaps only between two people of the same held-out fold.
    identities = np.array(sorted(set(groups)))
    fold_of = {
        ident: f
        for f, (_, te) in enumerate(GroupKFold(N_FOLDS).split(identities, groups=identities))
        for ident in identities[te]
    }
    rng = np.random.default_rng(seed)
    swap_jobs = []
    for dst in photos:
        others = [
            p for p in photos if p.identity != dst.identity and fold_of.get(p.identity) == fold_of.get(dst.identity)
        ]
        for src in rng.choice(np.array(others, dtype=object), size=min(2, len(others)), replace=False):
            swap_jobs.append((src, dst, int(rng.integers(1 << 30))))
    swaps = _run(swap_samples, swap_jobs, workers)
    benign = _run(benign_samples, [(p, seed + i) for i, p in enumerate(photos + generated)], workers)
    t_data = time.perf_counter() - t_start

    oof = np.zeros(len(y))
    extra = swaps + benign
    ex_x, _, ex_groups, ex_kind = _stack(extra)
    ex_logit = np.zeros(len(extra))
    gen_logits = []
    for f in range(N_FOLDS):
        held = np.array([fold_of[g] == f for g in groups])
        scaler, clf = _fit(x[~held], y[~held])
        oof[held] = clf.decision_function(scaler.transform(x[held]))
        ex_held = np.array([fold_of.get(g, -1) == f for g in ex_groups])
        ex_logit[ex_held] = clf.decision_function(scaler.transform(ex_x[ex_held]))
        gen = np.isin(ex_kind, ("stylegan2", "diffusion"))
        gen_logits.append(clf.decision_function(scaler.transform(ex_x[gen])))
    gen_mask = np.isin(ex_kind, ("stylegan2", "diffusion"))
    ex_logit[gen_mask] = np.mean(gen_logits, axis=0)

    platt = LogisticRegression(C=1e6).fit(oof[:, None], y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])

    def prob(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50, 50)))

    p_oof, p_ex = prob(oof), prob(ex_logit)
    threshold = float(np.quantile(p_oof[y == 0], 1.0 - TARGET_FPR))
    real_deg = p_oof[y == 0]
    lines = [
        f"- training samples: {len(y)} ({int(y.sum())} SBI, {int((y == 0).sum())} real) from {len(photos)} photos "
        f"of {len(identities)} people, {copies} degraded copies each; {N_FOLDS}-fold GroupKFold by identity",
        f"- operating threshold (5 % FPR on out-of-fold degraded real photos): {threshold:.3f}",
        f"- (a) held-out-identity SBI vs real, both degraded: AUC {_auc(real_deg, p_oof[y == 1]):.3f}; "
        f"SBI flagged {np.mean(p_oof[y == 1] >= threshold):.1%}",
    ]
    for kind in ("swap_clean", "swap_degraded"):
        pos = p_ex[ex_kind == kind]
        ref = p_ex[ex_kind == "benign_clean"] if kind == "swap_clean" else real_deg
        lines.append(
            f"- (b) held-out real vs `swap_faces` ({kind}, n={len(pos)}): AUC {_auc(ref, pos):.3f}; "
            f"flagged {np.mean(pos >= threshold):.1%}"
        )
    benign_kinds = sorted({k for k in ex_kind if k.startswith("benign_")})
    fpr = ", ".join(f"{k[7:]} {np.mean(p_ex[ex_kind == k] >= threshold):.1%}" for k in benign_kinds)
    lines.append(
        f"- (c) false-positive rate on held-out real photos at the threshold: {fpr} "
        f"(n={int(np.sum(ex_kind == 'benign_clean'))} each)"
    )
    for kind in ("stylegan2", "diffusion"):
        p = p_ex[ex_kind == kind]
        lines.append(
            f"- dev {kind} (clean, n={len(p)}): median score {np.median(p):.3f}, "
            f"flagged {np.mean(p >= threshold):.1%}, "
            f"AUC vs clean real {_auc(p_ex[ex_kind == 'benign_clean'], p):.3f}"
        )

    scaler, clf = _fit(x, y)
    fitted = Fitted(scaler.mean_, scaler.scale_, clf.coef_[0], float(clf.intercept_[0]), a, b)
    path = save_blending(
        fitted,
        threshold,
        version=f"blending-lr-f{FEATURE_VERSION}-s{seed}",
        training={"rows": len(y), "copies": copies, "folds": N_FOLDS},
        metrics={"measured": "out of fold, GroupKFold by identity (see the report lines)", "report": lines},
        directory=out,
    )
    total = time.perf_counter() - t_start
    lines.append(
        f"- time: {total:.0f} s total on {workers} workers ({t_data:.0f} s data + features); "
        f"model {path.stat().st_size / 1024:.0f} KiB"
    )
    report.mkdir(parents=True, exist_ok=True)
    (report / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return path
