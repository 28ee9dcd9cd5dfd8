"""Fit the lower-face cover detector: is the mouth and chin of this face hidden (a mask, a scarf, a hand)?

Why: a covered lower face changes what verification can say. Both recognizers lose ground on it (docs/calibration.md:
a clean photo against a masked one verifies at TAR 0.888 at the shipped threshold, against 0.974 for two clean
photos), so a masked probe that does not match is not evidence of another person, and a masked enrolment photo
makes a weaker template. The embeddings themselves do not tell a real mask reliably (a reader on SFace's embedding
called 34-39 % of real masks masked); the crop backbone's statistics do.

What it learns (:func:`fit`): a linear probe on the pooled features of the frozen ``crop_backbone`` that the
authenticity detectors already run on every face (one pass serves all heads), from photos of seven real sources,
each seen clean (uncovered) and with a drawn mask (:func:`faceproof.training.augment.face_mask`: surgical or cloth,
solid or striped, placed from the face's keypoints), plus the Face-Mask set's photos of people with and without
real masks. Held out (by a stable hash of the identity; Face-Mask's people are unnamed, each photo is its own): 20 % of
each source; the threshold is the logit above which at most ``FALSE_COVER_SHARE`` of every source's
held-out uncovered faces lie.

Validation (:func:`validate`): per source, held-out uncovered faces called covered and drawn masks found; real
masks of held-out Face-Mask photos found; and the harder question - a probe fitted on drawn masks only, scored on
every real mask of Face-Mask (a kind of cover it never saw).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceproof.models import artifact
from faceproof.training import export, probe, validation
from faceproof.training.augment import face_mask
from faceproof.training.faces import CropSet, hint, load_cache, model_view

log = logging.getLogger(__name__)

MODEL_NAME = "lower_face_cover"
VERSION = "1"
#: Real photo sources seen uncovered and with a drawn mask.
SOURCES = (
    "utkface",
    "allagefaces",
    "lfw_gray",
    "deepfake_detector_real",
    "lfw_faceswap_real",
    "real_and_fake_face_real",
)
#: Face-Mask: photos of people with real masks (``with_mask`` in the path) and without.
REAL_MASKS = "facemask"
#: Crops per source (the lowest selection keys of the cache): enough faces, a bounded CPU bill.
PER_SOURCE = 1500
HELD_OUT = 0.2
#: Share of every source's held-out uncovered faces the threshold may call covered: covered photos are refused at
#: enrolment, so a false reading costs a real user a retry.
FALSE_COVER_SHARE = 0.005
PROBE_C = 0.01


@dataclass(frozen=True)
class SourceFeatures:
    """One source's pooled backbone features: ``uncovered`` (n, d) the faces as photographed, ``drawn`` (n, d) the
    same faces with a drawn mask, ``real_mask`` (n,) whether the photo shows a real mask, ``held`` (n,) never
    trained on."""

    uncovered: np.ndarray
    drawn: np.ndarray
    real_mask: np.ndarray
    held: np.ndarray


def source_features(crops: CropSet, graph: bytes, seed: int) -> SourceFeatures:
    """The service's view of every crop, as it is and under a drawn mask, through the backbone ``graph``."""
    paths = crops.column("path")
    real_mask = np.array(["/with_mask/" in str(p) for p in paths])
    # a drawn mask over a real one says nothing new; it is drawn on every crop only to keep the arrays aligned
    drawn = [
        model_view(face_mask(crops.rgb[i], np.random.default_rng([seed, i]), hint(crops, i))) for i in range(len(paths))
    ]
    return SourceFeatures(
        uncovered=probe.features(graph, np.stack([model_view(rgb) for rgb in crops.rgb])),
        drawn=probe.features(graph, np.stack(drawn)),
        real_mask=real_mask,
        held=np.array([validation.held_out(str(i), HELD_OUT) for i in crops.column("identity")]),
    )


def load_features(cache_root: Path, work_dir: Path, graph: bytes, seed: int) -> dict[str, SourceFeatures]:
    """Features per source, computed once and kept in ``work_dir/features`` (a stopped run resumes)."""
    store = work_dir / "features"
    store.mkdir(parents=True, exist_ok=True)
    out = {}
    for slug in (*SOURCES, REAL_MASKS):
        path = store / f"{slug}.npz"
        if not path.exists():
            crops = load_cache([cache_root / slug])
            if slug != REAL_MASKS:  # every Face-Mask photo: the real masks are the scarce part
                crops = validation.cap(crops, PER_SOURCE, seed)
            feats = source_features(crops, graph, seed)
            np.savez(path.with_suffix(".tmp.npz"), **feats.__dict__)
            path.with_suffix(".tmp.npz").rename(path)
            log.info("features of %s: %d crops", slug, len(feats.held))
        z = np.load(path)
        out[slug] = SourceFeatures(**{k: z[k] for k in SourceFeatures.__dataclass_fields__})
    return out


def training_rows(f: SourceFeatures, real_masks: bool) -> tuple[np.ndarray, np.ndarray]:
    """A source's training examples: its uncovered faces (0), their drawn masks (1) and, with ``real_masks``, the
    photos of real masks as they are (1)."""
    train = ~f.held
    bare = train & ~f.real_mask
    x = [f.uncovered[bare], f.drawn[bare]]
    y = [np.zeros(bare.sum()), np.ones(bare.sum())]
    if real_masks:
        x.append(f.uncovered[train & f.real_mask])
        y.append(np.ones((train & f.real_mask).sum()))
    return np.concatenate(x), np.concatenate(y)


def fit(feats: dict[str, SourceFeatures], real_masks: bool = True, seed: int = 0) -> probe.Probe:
    """The probe on every source's training rows; each source and each class carry the same total weight."""
    xs, ys, ws = [], [], []
    for f in feats.values():
        x, y = training_rows(f, real_masks)
        for label in (0, 1):
            n = int((y == label).sum())
            ws.append(np.full(n, 1.0 / max(n, 1)))
            xs.append(x[y == label])
            ys.append(y[y == label])
    w = np.concatenate(ws)
    return probe.Probe.fit(np.concatenate(xs), np.concatenate(ys), c=PROBE_C, seed=seed, weight=w / w.mean())


def threshold(model: probe.Probe, feats: dict[str, SourceFeatures]) -> float:
    """The logit above which at most ``FALSE_COVER_SHARE`` of every source's held-out uncovered faces lie."""
    return max(
        validation.threshold_at(model.logit(f.uncovered[f.held & ~f.real_mask]), FALSE_COVER_SHARE)
        for f in feats.values()
    )


def validate(model: probe.Probe, feats: dict[str, SourceFeatures], thr: float, seed: int) -> dict[str, object]:
    """Held-out figures of ``model`` at ``thr``, and the drawn-masks-only probe on every real mask."""
    per_source = {}
    for name, f in feats.items():
        bare = f.held & ~f.real_mask
        clean, drawn = model.logit(f.uncovered[bare]), model.logit(f.drawn[bare])
        per_source[name] = {
            "held_out_faces": int(bare.sum()),
            "uncovered_called_covered": round(float((clean >= thr).mean()), 4),
            "drawn_masks_found": round(float((drawn >= thr).mean()), 4),
            "auc_drawn": round(validation.auc(clean, drawn), 4),
        }
    masks = feats[REAL_MASKS]
    held_real = model.logit(masks.uncovered[masks.held & masks.real_mask])
    held_bare = model.logit(masks.uncovered[masks.held & ~masks.real_mask])
    drawn_only = fit(feats, real_masks=False, seed=seed)
    unseen_thr = threshold(drawn_only, feats)
    every_real = drawn_only.logit(masks.uncovered[masks.real_mask])
    every_bare = drawn_only.logit(masks.uncovered[~masks.real_mask])
    return {
        "threshold_logit": thr,
        "per_source": per_source,
        "real_masks_held_out": {
            "n_masked": int(held_real.size),
            "n_uncovered": int(held_bare.size),
            "auc": round(validation.auc(held_bare, held_real), 4),
            "found": round(float((held_real >= thr).mean()), 4),
            "uncovered_called_covered": round(float((held_bare >= thr).mean()), 4),
        },
        "real_masks_never_seen": {
            "note": "a probe fitted on drawn masks only, every Face-Mask photo scored at that probe's own threshold",
            "n_masked": int(every_real.size),
            "n_uncovered": int(every_bare.size),
            "auc": round(validation.auc(every_bare, every_real), 4),
            "found": round(float((every_real >= unseen_thr).mean()), 4),
            "uncovered_called_covered": round(float((every_bare >= unseen_thr).mean()), 4),
        },
    }


def run(cache_root: Path, out_dir: Path, work_dir: Path, seed: int, manifest: Path) -> dict[str, object]:
    """Fit, validate and write the head (ONNX + card) on the shipped ``crop_backbone``."""
    backbone = artifact.read(probe.BACKBONE)
    graph = (artifact.models_dir() / f"{probe.BACKBONE}.onnx").read_bytes()
    feats = load_features(cache_root, work_dir, graph, seed)
    model = fit(feats, seed=seed)
    thr = threshold(model, feats)
    metrics = validation.measured(lambda: validate(model, feats, thr, seed), work_dir)
    trained = {name: int((~f.held).sum()) for name, f in feats.items()}
    written = export.write_artifact(
        model.to_onnx(MODEL_NAME),
        name=MODEL_NAME,
        version=VERSION,
        task="lower-face cover detection: mouth and chin hidden by a mask or anything else (one logit; activation map)",
        **validation.crop_head_contract(metrics, probe.BACKBONE, backbone.card.onnx_sha256, FALSE_COVER_SHARE),
        training={
            "data": "real photos of UTKFace, All-Age-Faces, LFW (grey and colour), deepfake_image_detector and the "
            "hand-edited set's real half, each uncovered and with a drawn mask; Face-Mask photos with and without "
            "real masks: corpus/manifest.csv.gz",
            **validation.manifest_record(manifest),
            "train_crops_by_source": trained,
            "seed": seed,
            "held_out": f"{HELD_OUT:.0%} of each source's people (stable hash of the identity; each Face-Mask photo "
            "is its own)",
            "recipe": f"linear probe (C {PROBE_C}) on 4128 pooled features of the frozen crop_backbone; every "
            f"source and class the same total weight; threshold: at most {FALSE_COVER_SHARE:.1%} of every "
            "source's held-out uncovered faces above it",
            "backbone": "crop_backbone (EfficientNet-Lite0, ImageNet weights, frozen), the shipped one",
        },
        metrics=metrics,
        licence={
            "weights": validation.PROBE_HEAD_WEIGHTS_LICENCE,
            "data": "UTKFace, All-Age-Faces, LFW (research / non-commercial), Face-Mask (MIT repository, web images "
            "of unclear rights), deepfake_image_detector real (no licence): see docs/corpus.md",
        },
        directory=out_dir,
    )
    log.info("wrote %s", written)
    return metrics
