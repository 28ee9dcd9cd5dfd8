"""Fit the mesh-to-keypoints map (``faceproof train keypoints``): artefact ``keypoints_from_mesh``.

What it learns (:mod:`faceproof.models.mesh_keypoints` says why it exists): where YuNet puts its five keypoints,
as a weighted mean of MediaPipe mesh points. Each keypoint reads the ``CANDIDATES`` mesh points that lie nearest
to it on average; its weights sum to one (so the map commutes with rotation, scale and translation: it is fitted
in image pixels, each photo's residual divided by its eye distance so that large faces do not dominate) and are a
ridge least-squares fit. The graph is one ``MatMul`` of a (5, 478) weight matrix with the mesh.

Data: clean colour photos of the corpus's one-photo sources (UTKFace, All-Age-Faces, the deepfake detector set's
real half), none of them in the calibration set (:mod:`faceproof.training.calibration_corpus`), so the
verification figures measured with the map stay out of sample. A fifth of them (by a stable hash of the path) is
held out: the card reports, there, how far the map lands from YuNet on clean photos and - the point of it - how far
YuNet's and the refined keypoints of a masked copy land from YuNet's on the unmasked photo, in eye distances.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faceproof.detect import detect_faces
from faceproof.intake import load_image
from faceproof.models.facemesh import NUM_LANDMARKS, get_facemesh
from faceproof.models.mesh_keypoints import ARTIFACT
from faceproof.training import export
from faceproof.training.augment import FaceHint, face_mask
from faceproof.training.calibration_corpus import plan_photos
from faceproof.training.common import SEED, seeded_hash
from faceproof.training.corpus import read_manifest

log = logging.getLogger(__name__)

VERSION = "1"
SOURCES = ("utkface", "allagefaces", "deepfake_detector_real")
PER_SOURCE = 700
#: Mesh points each keypoint is a weighted mean of.
CANDIDATES = 16
#: Ridge strength, relative to the mean diagonal of the normal equations.
RIDGE = 1e-2
HELD_OUT_SHARE = 0.2
LICENCE = {
    "weights": "MIT (faceproof)",
    "data": "UTKFace (non-commercial research), All-Age-Faces (research use, citation asked), "
    "deepfake_image_detector's real half (see docs/corpus.md); only keypoint positions are learnt",
}


@dataclass(frozen=True)
class Sample:
    """One photo: YuNet's keypoints and the mesh on it, and on a masked copy of it (None without a face/mesh)."""

    path: str
    keypoints: np.ndarray  # (5, 2)
    mesh: np.ndarray  # (478, 2)
    masked_keypoints: np.ndarray | None
    masked_mesh: np.ndarray | None


def held_out(path: str) -> bool:
    return seeded_hash("keypoints", path) % 1000 < HELD_OUT_SHARE * 1000


def plan(manifest: Path) -> list[str]:
    """Corpus paths of the fitting photos: ``PER_SOURCE`` per source by a seeded hash order, calibration photos
    excluded."""
    calibration = {p.path for p in plan_photos(manifest)}
    by_source: dict[str, list[str]] = {s: [] for s in SOURCES}
    for row in read_manifest(manifest):
        source = row["path"].split("/", 1)[0]
        if source in by_source and row["label"] == "real" and row["path"] not in calibration:
            by_source[source].append(row["path"])
    return [p for s in SOURCES for p in sorted(by_source[s], key=seeded_hash)[:PER_SOURCE]]


def measure(root: Path, paths: Sequence[str]) -> list[Sample]:
    """YuNet and the mesh on every photo, clean and with a synthetic mask over the lower face."""
    mesh = get_facemesh()
    out = []
    for i, path in enumerate(paths):
        rgb = load_image(root / path).rgb
        faces = detect_faces(rgb)
        landmarks = mesh.landmarks(rgb, faces[0].box) if faces else None
        if landmarks is None:
            continue
        face = faces[0]
        rng = np.random.default_rng(seeded_hash("mask", path))
        masked = face_mask(rgb, rng, FaceHint(box=face.box, keypoints=face.keypoints))
        masked_faces = detect_faces(masked)
        masked_mesh = mesh.landmarks(masked, masked_faces[0].box) if masked_faces else None
        out.append(
            Sample(
                path,
                face.keypoints.astype(np.float64),
                landmarks[:, :2].astype(np.float64),
                masked_faces[0].keypoints.astype(np.float64) if masked_mesh is not None else None,
                masked_mesh[:, :2].astype(np.float64) if masked_mesh is not None else None,
            )
        )
        if (i + 1) % 200 == 0:
            log.info("keypoints: %d/%d photos measured", i + 1, len(paths))
    return out


def eye_distance(keypoints: np.ndarray) -> np.ndarray:
    return np.maximum(np.linalg.norm(keypoints[..., 1, :] - keypoints[..., 0, :], axis=-1), 1.0)


def fit(keypoints: np.ndarray, meshes: np.ndarray) -> np.ndarray:
    """The (5, 478) weight matrix, each row summing to one, from (n, 5, 2) keypoints and (n, 478, 2) meshes."""
    scale = eye_distance(keypoints)[:, None, None]
    weights = np.zeros((keypoints.shape[1], meshes.shape[1]))
    for k in range(keypoints.shape[1]):
        target = keypoints[:, k : k + 1]
        nearest = np.argsort((np.linalg.norm(meshes - target, axis=2) / scale[:, :, 0]).mean(axis=0))[:CANDIDATES]
        base, rest = nearest[0], nearest[1:]
        # keypoint = m_base + sum_j w_j (m_j - m_base): weights summing to one with w_base = 1 - sum(w_j)
        design = ((meshes[:, rest] - meshes[:, base : base + 1]) / scale).transpose(0, 2, 1).reshape(-1, len(rest))
        y = ((target[:, 0] - meshes[:, base]) / scale[:, 0]).reshape(-1)
        gram = design.T @ design
        w = np.linalg.solve(gram + RIDGE * np.trace(gram) / len(rest) * np.eye(len(rest)), design.T @ y)
        weights[k, rest] = w
        weights[k, base] = 1.0 - w.sum()
    return weights


def graph(weights: np.ndarray) -> bytes:
    """``keypoints = W @ landmarks``: (478, 2) float32 mesh in image pixels -> (5, 2) keypoints."""
    w = numpy_helper.from_array(weights.astype(np.float32), "weights")
    nodes = [helper.make_node("MatMul", ["weights", "landmarks"], ["keypoints"])]
    g = helper.make_graph(
        nodes,
        ARTIFACT,
        [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [NUM_LANDMARKS, 2])],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [5, 2])],
        initializer=[w],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", export.OPSET)], producer_name="faceproof")
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _errors(estimate: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    """Median and 90th percentile per keypoint of the distance in eye distances."""
    err = np.linalg.norm(estimate - truth, axis=2) / eye_distance(truth)[:, None]
    return {
        "median": [round(float(v), 4) for v in np.median(err, axis=0)],
        "p90": [round(float(v), 4) for v in np.quantile(err, 0.9, axis=0)],
    }


def validate(weights: np.ndarray, samples: Sequence[Sample]) -> dict[str, object]:
    """Keypoint errors on held-out photos (see the module docstring)."""
    truth = np.stack([s.keypoints for s in samples])
    predicted = np.einsum("km,nmc->nkc", weights, np.stack([s.mesh for s in samples]))
    masked = [s for s in samples if s.masked_mesh is not None]
    clean = np.stack([s.keypoints for s in masked])
    yunet = np.stack([s.masked_keypoints for s in masked])  # type: ignore[misc]
    mesh = np.einsum("km,nmc->nkc", weights, np.stack([s.masked_mesh for s in masked]))  # type: ignore[misc]
    return {
        "photos": len(samples),
        "keypoint_order": "right eye, left eye, nose tip, right mouth corner, left mouth corner",
        "unit": "distance / YuNet's eye distance on the clean photo",
        "clean: mesh map vs YuNet": _errors(predicted, truth),
        "masked photos": len(masked),
        "masked: YuNet vs YuNet on the clean photo": _errors(yunet, clean),
        "masked: mesh map vs YuNet on the clean photo": _errors(mesh, clean),
        "masked: refined (mean) vs YuNet on the clean photo": _errors((yunet + mesh) / 2.0, clean),
    }


def run(corpus: Path, manifest: Path, out: Path, paths: Sequence[str] | None = None) -> dict[str, object]:
    """Measure, fit on the fitting photos, validate on the held-out ones, write the artefact; returns the card's
    metrics. ``paths``: photos under ``corpus`` to use instead of the planned ones (a smoke fit)."""
    chosen = list(paths) if paths is not None else plan(manifest)
    samples = measure(corpus, chosen)
    fitting = [s for s in samples if not held_out(s.path)] or samples
    validation = [s for s in samples if held_out(s.path)] or samples
    weights = fit(np.stack([s.keypoints for s in fitting]), np.stack([s.mesh for s in fitting]))
    metrics = {"held_out": validate(weights, validation)}
    export.write_artifact(
        graph(weights),
        name=ARTIFACT,
        version=VERSION,
        task="the five alignment keypoints (YuNet's convention) as weighted means of the 478-point face mesh",
        inputs={"landmarks": "float32 [478, 2]: MediaPipe face mesh x, y in image pixels"},
        outputs={"keypoints": "float32 [5, 2]: right eye, left eye, nose tip, right/left mouth corner, pixels"},
        parameters={"candidates": CANDIDATES, "ridge": RIDGE},
        training={
            "data": f"{len(fitting)} clean corpus photos ({', '.join(SOURCES)}; calibration photos excluded): "
            "corpus/manifest.csv.gz",
            "seed": SEED,
            "photos_measured": len(samples),
            "photos_planned": len(chosen),
            "target": "YuNet's keypoints on the clean photo",
        },
        metrics=metrics,
        licence=LICENCE,
        directory=out,
    )
    return metrics
