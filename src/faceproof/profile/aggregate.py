"""A person's profile: what several enrolment photos say together.

Per image we keep only derived data (no pixels): both models' embeddings, the normalised geometry measurements,
appearance, quality and the per-image description. The profile summary aggregates them - a centroid per model with
the intra-person spread, mean and standard deviation of every measurement, the majority face shape and iris
colours - so verification can ask "is this new photo within this person's own variation?" instead of comparing
with a single photo. Everything is recomputed from the images on every change, so adding or deleting an image can
never leave a stale aggregate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import numpy as np

from faceproof.analysis import Analysis
from faceproof.authenticity.engine import AuthenticityReport, feature_values
from faceproof.measure.identity import MODEL_KEYS, cosine

SCHEMA_VERSION = 1


def image_document(analysis: Analysis, authenticity: AuthenticityReport | None = None) -> dict[str, Any]:
    """The JSON-able record of one enrolment image: every measurement, no pixels, no embeddings.

    With an authenticity report, its verdict and raw signal features are kept: over the enrolment photos they
    form the profile's *reality baseline*.
    """
    s = analysis.subject
    auth = None
    if authenticity is not None:
        auth = {
            "verdict": authenticity.verdict,
            "fake_probability": round(authenticity.fake_probability, 4),
            "features": {k: round(v, 6) for k, v in feature_values(authenticity.findings).items()},
        }
    return {
        "face": {"box": [round(v, 2) for v in s.face.box], "score": round(s.face.score, 4)},
        "faces_found": len(analysis.faces),
        "image": {
            "width": analysis.image.width,
            "height": analysis.image.height,
            "format": analysis.image.metadata.format,
        },
        "geometry": asdict(s.geometry) if s.geometry else None,
        "measurements": s.geometry.measurements() if s.geometry else {},
        "appearance": asdict(s.appearance) if s.appearance else None,
        "appearance_measurements": s.appearance.measurements() if s.appearance else {},
        "quality": asdict(s.quality),
        "description": s.description,
        "authenticity": auth,
    }


def image_embeddings(analysis: Analysis) -> dict[str, np.ndarray]:
    return {key: emb.vector.astype(np.float32) for key, emb in analysis.subject.embeddings.items()}


def summarize(images: list[tuple[dict[str, Any], dict[str, np.ndarray]]]) -> dict[str, Any]:
    """Aggregate the (document, embeddings) of every enrolment image into the profile summary."""
    docs = [doc for doc, _ in images]
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "image_count": len(images),
        "templates": _templates([emb for _, emb in images]),
        "geometry": _stats([d.get("measurements", {}) for d in docs]),
        "appearance": _stats([d.get("appearance_measurements", {}) for d in docs]),
        "face_shape": _majority([(d.get("geometry") or {}).get("face_shape") for d in docs]),
        "skin_ita_category": _majority([(d.get("appearance") or {}).get("ita_category") for d in docs]),
        "iris_colour": _majority(
            [
                ((d.get("appearance") or {}).get(side) or {}).get("name")
                for d in docs
                for side in ("iris_right", "iris_left")
            ]
        ),
        "usable_images": sum(1 for d in docs if d.get("quality", {}).get("usable_for_identity")),
        "reality_baseline": _stats([(d.get("authenticity") or {}).get("features", {}) for d in docs]),
    }
    summary["description"] = _profile_description(docs)
    return summary


def _templates(embeddings: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    keys = sorted({k for emb in embeddings for k in emb if k in MODEL_KEYS})
    out: dict[str, Any] = {}
    for key in keys:
        vecs = np.stack([emb[key] for emb in embeddings if key in emb]).astype(np.float64)
        centroid = vecs.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        sims = [cosine(v, centroid) for v in vecs]
        out[key] = {
            "n": len(vecs),
            "centroid": [round(float(x), 7) for x in centroid],
            "spread": {"mean_similarity": float(np.mean(sims)), "min_similarity": float(np.min(sims))},
        }
    return out


def _stats(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = sorted({k for r in rows for k in r})
    out = {}
    for key in keys:
        values = np.array([r[key] for r in rows if key in r and r[key] is not None], dtype=np.float64)
        if values.size:
            out[key] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                "n": int(values.size),
            }
    return out


def _majority(values: list[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None


def _profile_description(docs: list[dict[str, Any]]) -> str:
    """The description of the best enrolment photo (usable, most frontal), prefixed with the photo count."""
    if not docs:
        return "Empty profile: no enrolment photos."

    def rank(doc: dict[str, Any]) -> tuple[int, float]:
        geo = doc.get("geometry") or {}
        frontal = abs(geo.get("yaw", 90.0)) + abs(geo.get("pitch", 90.0))
        return (0 if doc.get("quality", {}).get("usable_for_identity") else 1, frontal)

    best = min(docs, key=rank)
    n = len(docs)
    prefix = f"Built from {n} photo{'s' if n != 1 else ''}. " if n > 1 else ""
    return prefix + best["description"]
