"""Fit the authenticity fusion (``src/faceproof/data/authenticity_fusion.json``) reproducibly from the dev data.

    .venv/bin/python scripts/train_fusion.py [--data ../shared/data] [--out src/faceproof/data/authenticity_fusion.json]

Data (seeded, deterministic):
- real photos of ``manifest.csv`` (label ``real``): clean + ordinary processing (resize 0.5-1.0, JPEG 70-95, mild
  crop) + hard damage (blur, noise, low resolution): the negatives the threshold must not flag;
- generated faces (``stylegan2``, ``diffusion``): clean + the same processing;
- swaps made from the real photos only (self-blended images and landmark swaps between people,
  :mod:`faceproof.authenticity.swap`) and simulated screen/print replays (:mod:`faceproof.authenticity.recapture`).

Evaluation: cross-validation grouped by identity (a person's photos, and every fake derived from them, are never
split) and by kind of fake: for each fake family the model is trained without it and tested on it, against real
photos of held-out people - the figure that says how the fusion generalises to fakes it has never seen.
Nothing is fitted on image size, format or compression history: every feature is computed on the face region.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from faceproof.analysis import analyze
from faceproof.authenticity.engine import feature_values, measure_signals
from faceproof.errors import FaceproofError

log = logging.getLogger("train_fusion")
SEED = 20261128
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    identity: str
    family: str  # real / stylegan2 / diffusion / swap / recapture
    label: str  # finer: sdxl, flux, sbi, landmark_swap, screen, print, real
    condition: str  # clean / processed / hard
    features: dict[str, float]


def ordinary(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What an honest photo goes through: resize, mild crop, JPEG 70-95."""
    h, w = rgb.shape[:2]
    cx, cy = rng.uniform(0, 0.08, 2)
    out = rgb[int(cy * h) : h - int(rng.uniform(0, 0.08) * h), int(cx * w) : w - int(rng.uniform(0, 0.08) * w)]
    f = rng.uniform(0.5, 1.0)
    out = cv2.resize(
        out, (max(64, round(out.shape[1] * f)), max(64, round(out.shape[0] * f))), interpolation=cv2.INTER_AREA
    )
    _, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(out[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))]
    )
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def hard(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from faceproof.decision.degrade import combine

    names = list(rng.choice(["gaussian_blur", "noise", "lowres", "jpeg", "photometric"], size=2, replace=False))
    return combine(names, rgb, rng)


SIGNAL_OF: dict[str, str] = {}  # feature -> the signal that measured it (filled while measuring)


def features_of(rgb_or_path: np.ndarray | Path) -> dict[str, float] | None:
    try:
        a = analyze(rgb_or_path, with_dlib=False)
    except FaceproofError:
        return None
    findings = measure_signals(a)
    for f in findings:
        SIGNAL_OF.update(dict.fromkeys(f.features, f.signal))
    return feature_values(findings)


def build_rows(data: Path, rng: np.random.Generator) -> list[Row]:
    from faceproof.authenticity import recapture, swap

    manifest = list(csv.DictReader((data / "manifest.csv").open()))
    rows: list[Row] = []
    reals = []
    for i, m in enumerate(manifest):
        family = m["label"]
        identity = m["identity"] or f"{family}_{i}"
        label = family if family != "diffusion" else ("flux" if "FLUX" in m["generator"] else "sdxl")
        rgb = cv2.imread(str(data / m["file"]))[:, :, ::-1].copy()
        for condition, img in (("clean", rgb), ("processed", ordinary(rgb, rng)), ("hard", hard(rgb, rng))):
            f = features_of(img if condition != "clean" else data / m["file"])
            if f is not None:
                rows.append(Row(identity, family, label, condition, f))
        if family == "real":
            reals.append((identity, rgb))
        log.info("%d/%d %s", i + 1, len(manifest), m["file"])
    # Synthesised fakes from the real photos: swaps and replays, each also processed.
    meshes = {}
    for _, rgb in reals:
        try:
            meshes[id(rgb)] = analyze(rgb, with_dlib=False).subject.landmarks
        except FaceproofError:
            meshes[id(rgb)] = None
    for k, (identity, rgb) in enumerate(reals):
        other_identity, other = reals[(k + 7) % len(reals)]
        made: dict[str, np.ndarray] = {}
        lm, other_lm = meshes[id(rgb)], meshes[id(other)]
        if lm is not None:
            made["sbi"] = swap.self_blend(rgb, lm, seed=SEED + k).rgb
            if other_lm is not None and other_identity != identity:
                made["landmark_swap"] = swap.swap_faces(other, other_lm, rgb, lm, seed=SEED + k)
        made.update(recapture.make_recapture_variants(rgb, seed=SEED + k))
        for label, img in made.items():
            family = "recapture" if label in {"screen", "print"} else "swap"
            for condition, x in (("clean", img), ("processed", ordinary(img, rng))):
                f = features_of(x)
                if f is not None:
                    rows.append(Row(identity, family, label, condition, f))
        log.info("synthetic %d/%d", k + 1, len(reals))
    return rows


#: Which fake families train which kind model, and which signals' features each kind may use.
KIND_FAMILIES = {"generated": {"stylegan2", "diffusion"}, "swapped": {"swap"}, "recaptured": {"recapture"}}
KIND_SIGNALS = {
    "generated": {"frequency", "noise", "learned", "physiology"},
    "swapped": {"blending"},
    "recaptured": {"recapture"},
}
#: Features that belong to another kind than their signal's (face/background noise mismatch is a swap cue).
FEATURE_KIND = {"noise_face_bg": "swapped"}
#: Cross-validation splits per kind: (train families/labels, test families/labels) - never seen in training.
HELD_OUT = {
    "generated": [
        ({"stylegan2"}, {"diffusion"}),
        ({"diffusion"}, {"stylegan2"}),
        ({"sdxl"}, {"flux"}),
        ({"flux"}, {"sdxl"}),
    ],
    "swapped": [({"sbi"}, {"landmark_swap"}), ({"landmark_swap"}, {"sbi"})],
    "recaptured": [({"screen"}, {"print"}), ({"print"}, {"screen"})],
}
REAL_FLAGGED = 0.01
#: A kind model ships only if it separates the held-out fakes of its kind from real photos at least this well
#: (mean cross-validated AUC on processed images); a model at chance would only add false alarms.
MIN_HELD_OUT_AUC = 0.6


def kind_features(names: list[str], signal_of: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in KIND_SIGNALS}
    for n in names:
        kind = FEATURE_KIND.get(n) or next((k for k, sig in KIND_SIGNALS.items() if signal_of.get(n) in sig), None)
        if kind:
            out[kind].append(n)
    return out


def matrix(rows: list[Row], names: list[str], neutral: dict[str, float]) -> np.ndarray:
    return np.array([[r.features.get(n, neutral[n]) for n in names] for r in rows], dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model


def prob(model: LogisticRegression, mean: np.ndarray, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    return model.predict_proba((x - mean) / scale)[:, 1]


def _tag(r: Row) -> set[str]:
    return {r.family, r.label}


def evaluate(rows: list[Row], features: dict[str, list[str]], neutral: dict[str, float]) -> dict:
    """Per kind: train on some fakes of that kind, test on fakes of the same kind made another way (another
    generator, another swap method, another replay medium), against real photos of people not in training."""
    real_ids = sorted({r.identity for r in rows if r.family == "real"})
    halves = [set(real_ids[0::2]), set(real_ids[1::2])]
    report: dict = {}
    for kind, splits in HELD_OUT.items():
        names = features[kind]
        if not names:
            continue
        x = matrix(rows, names, neutral)
        for train_tags, test_tags in splits:
            key = f"{kind}: train {'+'.join(sorted(train_tags))} -> test {'+'.join(sorted(test_tags))}"
            aucs: dict[str, list[float]] = {}
            tprs, fprs = [], []
            for h in halves:
                real = np.array([r.family == "real" for r in rows])
                person = np.array([r.identity in h for r in rows])
                train = (real & ~person) | np.array([bool(_tag(r) & train_tags) for r in rows])
                test = (real & person) | np.array([bool(_tag(r) & test_tags) for r in rows])
                mean, scale, model = fit(x[train], ~real[train])
                p = prob(model, mean, scale, x)
                thr = float(np.quantile(p[train & real], 1 - REAL_FLAGGED))
                for cond in ("clean", "processed", "hard"):
                    c = test & np.array([r.condition == cond for r in rows])
                    if (c & real).any() and (c & ~real).any():
                        aucs.setdefault(cond, []).append(float(roc_auc_score(~real[c], p[c])))
                tprs.append(float((p[test & ~real] >= thr).mean()))
                fprs.append(float((p[test & real] >= thr).mean()))
            report[key] = {
                "auc": {k: round(float(np.mean(v)), 4) for k, v in aucs.items()},
                "detected_at_1pct": round(float(np.mean(tprs)), 4),
                "real_flagged": round(float(np.mean(fprs)), 4),
            }
            log.info("%s: %s", key, report[key])
    return report


def operating_thresholds(p_real: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-kind thresholds at one common real-photo quantile, so that REAL_FLAGGED of real photos are flagged by
    any kind (the union)."""
    lo, hi = 1 - REAL_FLAGGED, 1.0
    for _ in range(40):
        q = (lo + hi) / 2
        thr = {k: float(np.quantile(v, q)) for k, v in p_real.items()}
        flagged = np.any([v >= thr[k] for k, v in p_real.items()], axis=0).mean()
        lo, hi = (q, hi) if flagged > REAL_FLAGGED else (lo, q)
    return {k: float(np.quantile(v, hi)) for k, v in p_real.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "faceproof" / "data" / "authenticity_fusion.json")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceproof-fusion-rows.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.time()
    rng = np.random.default_rng(SEED)
    if args.cache.exists():
        cached = json.loads(args.cache.read_text())
        rows, signal_of = [Row(**r) for r in cached["rows"]], cached["signal_of"]
    else:
        rows = build_rows(args.data, rng)
        signal_of = SIGNAL_OF
        args.cache.write_text(json.dumps({"rows": [r.__dict__ for r in rows], "signal_of": signal_of}))
    names = sorted({k for r in rows for k in r.features})
    real_rows = [r for r in rows if r.family == "real"]
    neutral = {n: float(np.median([r.features[n] for r in real_rows if n in r.features] or [0.0])) for n in names}
    features = kind_features(names, signal_of)
    cv = evaluate(rows, features, neutral)
    real = np.array([r.family == "real" for r in rows])
    kinds, p_real = [], {}
    for kind, families in KIND_FAMILIES.items():
        held = [v["auc"].get("processed", 0.0) for k, v in cv.items() if k.startswith(f"{kind}:")]
        if not features[kind] or not held or float(np.mean(held)) < MIN_HELD_OUT_AUC:
            log.info("kind %s not shipped: held-out AUC %s", kind, held)
            continue
        use = real | np.array([r.family in families for r in rows])
        x = matrix(rows, features[kind], neutral)
        mean, scale, model = fit(x[use], ~real[use])
        p_real[kind] = prob(model, mean, scale, x[real])
        kinds.append(
            {
                "kind": kind,
                "features": features[kind],
                "mean": mean,
                "scale": scale,
                "coef": model.coef_[0],
                "intercept": float(model.intercept_[0]),
            }
        )
    thresholds = operating_thresholds(p_real)
    for k in kinds:
        t = min(max(thresholds[k["kind"]], 1e-6), 1 - 1e-6)
        k["threshold_before_shift"] = round(t, 6)
        k["intercept"] = round(k["intercept"] - float(np.log(t / (1 - t))), 6)
        for field in ("mean", "scale", "coef"):
            k[field] = np.round(k[field], 6).tolist()
    counts: dict[str, int] = {}
    for r in rows:
        key = f"{r.family}/{r.label}/{r.condition}"
        counts[key] = counts.get(key, 0) + 1
    out = {
        "version": f"fusion-{datetime.now(UTC):%Y%m%d}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": SEED,
        "kinds": kinds,
        "signal_of": {n: signal_of.get(n, n) for n in names},
        "neutral": {k: round(v, 6) for k, v in neutral.items()},
        "real_flagged_target": REAL_FLAGGED,
        "data": counts,
        "cross_validation": cv,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    log.info("wrote %s in %.0f s", args.out, time.time() - start)


if __name__ == "__main__":
    main()
