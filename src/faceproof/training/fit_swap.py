"""Fit the swap/blend detector: EfficientNet-Lite0 fine-tuned on self-blended images of real photos only.

Recipe (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022): every positive is a real
photo blended into a slightly altered copy of itself (:func:`faceproof.training.manipulate.self_blend`), every
negative the same kind of real photo untouched; both then get the same everyday damage
(:func:`faceproof.training.augment.training_damage`) and the same crop (:func:`model_view`). With no identity
change and no generator in the positives, what is left to learn is what every swap pipeline leaves behind: a
blending boundary, a colour or sharpness step, misalignment ghosts.

Validation never shows the detector a swap method it trained on, nor a person it trained on:
- held-out real photos: a seeded share of the training sources' people, plus whole sources never trained on
  (LFW colour photos, the hand-edited set's real half, the development set's people);
- swaps by three methods it never saw: a 3D-model face-swap app on LFW (``faceswap_3d``, made by others), and
  landmark-warped Poisson and colour-transferred alpha swaps between held-out people made here; plus faces edited
  by hand in Photoshop (``edited``);
- each set clean and with seeded everyday damage; the operating threshold is the logit that flags 1 % of the
  held-out real photos (clean and damaged together).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from faceproof.training.augment import FaceHint, combine, training_damage
from faceproof.training.faces import CACHE_SIZE, CONTEXT, CropSet
from faceproof.training.manipulate import self_blend, swap_faces

log = logging.getLogger(__name__)

MODEL_NAME = "swap_detector"
#: Network input side in pixels, and the crop's side relative to the face box (context around the face).
INPUT_SIZE = 160
MODEL_CONTEXT = 1.5
#: Fraction of held-out real photos the operating threshold flags.
TARGET_FALSE_FLAGS = 0.01
VALIDATION_DAMAGES = (("lowres", "jpeg"), ("gaussian_blur", "noise"), ("mask",), ("jpeg",), ("crop",))


def model_view(cache_crop: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The network's input from a cached crop: the centre ``MODEL_CONTEXT`` face sizes, at ``INPUT_SIZE``.

    With ``rng`` (training) the window is jittered (scale 0.9-1.1, shift 4 %) and sometimes mirrored; without it
    the view is exactly what the service cuts.
    """
    side = CACHE_SIZE * MODEL_CONTEXT / CONTEXT
    cx = cy = CACHE_SIZE / 2.0
    if rng is not None:
        side *= float(rng.uniform(0.9, 1.1))
        cx += float(rng.uniform(-0.04, 0.04)) * side
        cy += float(rng.uniform(-0.04, 0.04)) * side
    scale = INPUT_SIZE / side
    m = np.array([[scale, 0, INPUT_SIZE / 2 - scale * cx], [0, scale, INPUT_SIZE / 2 - scale * cy]], np.float64)
    out = cv2.warpAffine(cache_crop, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_AREA, borderValue=(127, 127, 127))
    if rng is not None and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def hint(crops: CropSet, i: int) -> FaceHint:
    """The face's place in a cached crop (the box is the centre square of one face size)."""
    side = CACHE_SIZE / CONTEXT
    lo = (CACHE_SIZE - side) / 2.0
    return FaceHint(box=(lo, lo, side, side), keypoints=crops.keypoints[i].astype(np.float64))


def has_mesh(crops: CropSet) -> np.ndarray:
    return np.isfinite(crops.landmarks[:, :468, :2]).all(axis=(1, 2))


def sbi_sampler(crops: CropSet):
    """Half untouched real crops, half self-blends of them; both damaged and cut alike."""
    usable = np.flatnonzero(has_mesh(crops))

    def sample(rng: np.random.Generator) -> tuple[np.ndarray, int]:
        i = int(usable[rng.integers(len(usable))])
        rgb = crops.rgb[i]
        fake = bool(rng.random() < 0.5)
        if fake:
            rgb = self_blend(rgb, crops.landmarks[i].astype(np.float64), int(rng.integers(2**31))).rgb
        rgb = training_damage(rgb, rng, hint(crops, i))
        return model_view(rgb, rng), int(fake)

    return sample


def made_swaps(crops: CropSet, method: str, count: int, seed: int) -> np.ndarray:
    """``count`` landmark swaps (``poisson`` or ``alpha``) between random pairs of different people in ``crops``."""
    usable = np.flatnonzero(has_mesh(crops))
    ids = crops.column("identity")
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        a, b = (int(v) for v in rng.choice(usable, 2, replace=False))
        if ids[a] == ids[b]:
            continue
        lm = crops.landmarks
        swapped = swap_faces(
            crops.rgb[a],
            lm[a].astype(np.float64),
            crops.rgb[b],
            lm[b].astype(np.float64),
            int(rng.integers(2**31)),
            method=method,  # type: ignore[arg-type]
        )
        out.append(swapped)
    return np.stack(out)


def views(images: np.ndarray, crops_for_hints: CropSet | None, damage: tuple[str, ...] | None, seed: int) -> np.ndarray:
    """Model views of cached crops, optionally each with one seeded damage combination."""
    out = []
    for i, image in enumerate(images):
        shown = image
        if damage:
            rng = np.random.default_rng([seed, i])
            face = hint(crops_for_hints, i) if crops_for_hints is not None else None
            shown = combine(list(damage), image, rng, face)
        out.append(model_view(shown))
    return np.stack(out) if out else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)


@dataclass(frozen=True)
class Scored:
    """Logits of one validation set, clean and under each damage (keyed ``clean`` or ``a+b``)."""

    logits: dict[str, np.ndarray]

    def all(self) -> np.ndarray:
        return np.concatenate(list(self.logits.values()))


def score_set(predict, images: np.ndarray, crops: CropSet | None, seed: int) -> Scored:
    out = {"clean": predict(views(images, crops, None, seed))}
    for damage in VALIDATION_DAMAGES:
        out["+".join(damage)] = predict(views(images, crops, damage, seed))
    return Scored(out)


def auc(real: np.ndarray, fake: np.ndarray) -> float:
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    return float(roc_auc_score(y, np.r_[real, fake]))


def threshold_at(real_logits: np.ndarray, share: float = TARGET_FALSE_FLAGS) -> float:
    """The logit above which ``share`` of real photos lie (the operating point)."""
    return float(np.quantile(real_logits, 1.0 - share))


def report(real: dict[str, Scored], fakes: dict[str, Scored]) -> dict[str, object]:
    """AUC of every fake set against all held-out real photos (clean, and per damage), detection at the 1 %
    threshold, and the false-flag rate of each real source at that threshold."""
    all_real = np.concatenate([s.all() for s in real.values()])
    thr = threshold_at(all_real)
    real_clean = np.concatenate([s.logits["clean"] for s in real.values()])
    out: dict[str, object] = {"threshold_logit": thr, "real_count": int(all_real.size), "methods": {}}
    for name, s in fakes.items():
        per = {}
        for key, logits in s.logits.items():
            real_k = np.concatenate([r.logits[key] for r in real.values()])
            per[key] = {"auc": round(auc(real_k, logits), 4), "detected": round(float((logits >= thr).mean()), 4)}
        per["all"] = {
            "auc": round(auc(all_real, s.all()), 4),
            "detected": round(float((s.all() >= thr).mean()), 4),
            "auc_vs_clean_real": round(auc(real_clean, s.logits["clean"]), 4),
        }
        out["methods"][name] = per  # type: ignore[index]
    out["real_false_flags"] = {
        name: {key: round(float((v >= thr).mean()), 4) for key, v in s.logits.items()} for name, s in real.items()
    }
    return out


def manifest_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_training(manifest: Path, sources: dict[str, int], cfg: object) -> dict[str, object]:
    return {
        "manifest": str(manifest),
        "manifest_sha256": manifest_digest(manifest) if manifest.exists() else "",
        "train_rows_by_source": sources,
        "config": cfg.__dict__ if hasattr(cfg, "__dict__") else str(cfg),
        "recipe": "self-blended images (positives) vs the same real crops (negatives), training_damage on both",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_report(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def held_out(identity: str, share: float = 0.1) -> bool:
    """A stable, seedless split by person: the same identity is always on the same side, in every run."""
    return int(hashlib.sha1(identity.encode()).hexdigest()[:8], 16) % 1000 < share * 1000


@dataclass(frozen=True)
class SwapData:
    """Training crops (real photos of the training people) and the validation sets (see the module docstring)."""

    train: CropSet
    real: dict[str, CropSet]
    fakes: dict[str, CropSet]


def split(cache_root: Path, train_sources: tuple[str, ...], eval_real: dict[str, str], eval_fake: dict[str, str]):
    """Load the caches: ``train_sources`` split by person; ``eval_*`` map a set name to a cache folder."""
    from faceproof.training.faces import load_cache

    crops = load_cache([cache_root / s for s in train_sources])
    held = np.array([held_out(i) for i in crops.column("identity")])
    real = {f"{s}_heldout": crops.subset(held & (crops.column("source") == s)) for s in train_sources}
    real.update({name: load_cache([cache_root / folder]) for name, folder in eval_real.items()})
    fakes = {name: load_cache([cache_root / folder]) for name, folder in eval_fake.items()}
    return SwapData(train=crops.subset(~held), real=real, fakes=fakes)


#: Training sources (real photos; split by person) and validation sets (cache folder names).
TRAIN_SOURCES = ("utkface", "allagefaces", "facemask", "deepfake_detector_real")
EVAL_REAL = {
    "lfw_colour": "lfw_faceswap_real",
    "edited_set_real": "real_and_fake_face_real",
    "dev_set_real": "dev_real",
}
EVAL_FAKE = {"faceswap_3d": "lfw_faceswap_swapped", "edited": "real_and_fake_face_edited"}
MADE_SWAPS = ("poisson", "alpha")
EVAL_CAP = 600
SWAPS_PER_METHOD = 400


def onnx_predictor(onnx_bytes: bytes, threads: int = 2, batch: int = 32):
    """Logits from the exported graph (validation runs the very graph that ships)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])

    def predict(crops: np.ndarray) -> np.ndarray:
        out = [
            session.run(["logit"], {"image": crops[i : i + batch].astype(np.float32)})[0]
            for i in range(0, len(crops), batch)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    return predict


def _cap(crops: CropSet, cap: int, seed: int) -> CropSet:
    if len(crops.meta) <= cap:
        return crops
    keep = np.zeros(len(crops.meta), bool)
    keep[np.random.default_rng(seed).choice(len(crops.meta), cap, replace=False)] = True
    return crops.subset(keep)


def validate(onnx_bytes: bytes, data: SwapData, seed: int) -> dict[str, object]:
    """Score every validation set through the exported graph; see :func:`report`."""
    predict = onnx_predictor(onnx_bytes)
    real = {name: _cap(c, EVAL_CAP, seed) for name, c in data.real.items() if c.meta}
    fakes = {name: _cap(c, EVAL_CAP, seed) for name, c in data.fakes.items() if c.meta}
    pool = real[f"{TRAIN_SOURCES[0]}_heldout"]
    for k in list(real):
        if k.endswith("_heldout") and k != f"{TRAIN_SOURCES[0]}_heldout":
            pool = CropSet(
                np.concatenate([pool.rgb, real[k].rgb]),
                np.concatenate([pool.landmarks, real[k].landmarks]),
                np.concatenate([pool.keypoints, real[k].keypoints]),
                np.concatenate([pool.padded, real[k].padded]),
                pool.meta + real[k].meta,
            )
    scored_real = {name: score_set(predict, c.rgb, c, seed) for name, c in real.items()}
    scored_fake = {name: score_set(predict, c.rgb, c, seed) for name, c in fakes.items()}
    for method in MADE_SWAPS:
        images = made_swaps(pool, method, SWAPS_PER_METHOD, seed)
        scored_fake[f"landmark_{method}"] = score_set(predict, images, None, seed)
    return report(scored_real, scored_fake)
