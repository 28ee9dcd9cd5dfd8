"""A person's profile: what several enrolment photos say together.

Per image we keep only derived data (no pixels): both models' embeddings, the normalised geometry measurements,
appearance, quality and the per-image description. The profile summary aggregates them - a centroid per model with
the intra-person spread, mean and standard deviation of every measurement, and the categorical attributes read
from the median of the photos' pose-corrected measurements (:mod:`faceproof.profile.attributes`; more photos give
sharper words) - so verification can ask "is this new photo within this person's own variation?" instead of
comparing with a single photo. Everything is recomputed from the images on every change, so adding or deleting an
image can never leave a stale aggregate.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from faceproof.analysis import Analysis
from faceproof.authenticity.engine import AuthenticityReport, feature_values
from faceproof.measure.identity import MODEL_KEYS, cosine
from faceproof.profile.attributes import Reading, Trait, aggregate_traits, photo_traits, read_attributes
from faceproof.profile.describe import photo_words, sentence

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
    traits = aggregate_traits([photo_traits(d.get("geometry"), d.get("appearance"), _reasons(d)) for d in docs])
    readings = read_attributes(traits)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "image_count": len(images),
        "templates": _templates([emb for _, emb in images]),
        "geometry": _stats([d.get("measurements", {}) for d in docs]),
        "appearance": _stats([d.get("appearance_measurements", {}) for d in docs]),
        "attributes": {name: reading.as_dict() for name, reading in readings.items()},
        # The most likely class of each attribute, under the keys older clients read.
        "face_shape": _most_likely(readings, "face_shape"),
        "skin_ita_category": _most_likely(readings, "skin_tone"),
        "iris_colour": _most_likely(readings, "eye_colour"),
        "usable_images": sum(1 for d in docs if d.get("quality", {}).get("usable_for_identity")),
        "reality_baseline": _stats([(d.get("authenticity") or {}).get("features", {}) for d in docs]),
    }
    summary["description"] = _profile_description(docs, readings, traits)
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


def _reasons(doc: dict[str, Any]) -> tuple[str, ...]:
    return tuple(doc.get("quality", {}).get("reasons", ()))


def _most_likely(readings: dict[str, Reading], name: str) -> str | None:
    return readings[name].most_likely if name in readings else None


def _profile_description(docs: list[dict[str, Any]], readings: dict[str, Reading], traits: dict[str, Trait]) -> str:
    """The person's words from the aggregated attribute readings, the photo's words from the best enrolment photo
    (usable, most frontal), prefixed with the photo count. With one photo it is that photo's description."""
    if not docs:
        return "Empty profile: no enrolment photos."

    def rank(doc: dict[str, Any]) -> tuple[int, float]:
        geo = doc.get("geometry") or {}
        frontal = abs(geo.get("yaw", 90.0)) + abs(geo.get("pitch", 90.0))
        return (0 if doc.get("quality", {}).get("usable_for_identity") else 1, frontal)

    n = len(docs)
    prefix = f"Built from {n} photo{'s' if n != 1 else ''}. " if n > 1 else ""
    measured = [d for d in docs if d.get("geometry") and d.get("appearance")]
    if not measured:  # no photo has a mesh: its own description says so
        return prefix + min(docs, key=rank)["description"]
    best = min(measured, key=rank)
    geo = best["geometry"]
    photo = photo_words(geo["yaw"], geo["pitch"], geo["roll"], _reasons(best))
    ita = traits["ita"].value if "ita" in traits else None
    return prefix + sentence(readings, ita, photo, _reasons(best))
