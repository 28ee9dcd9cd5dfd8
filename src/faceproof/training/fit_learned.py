"""Fit and evaluate the learned generated-face detector (``faceproof.authenticity.learned``): ``faceproof train
learned``.

Why the fit looks the way it does: the dev set (``../shared/data``) confounds class with image size and
compression (generated tiles are ~450 px and were resampled + re-JPEG'd, real photos ~1024 px), so every image -
both classes, identically - is seen clean and as several heavily augmented copies (face downscaled to 40-160 px
and back, blur, sensor noise, gamma/brightness, JPEG 40-95, jittered alignment, flip, and sometimes a face mask,
a bad exposure or heavy noise); real photos also give
retouched hard negatives (bilateral "beautify", heavy blur, non-local-means denoising) that must not be flagged.
Features are taken from the aligned face crop only.

Evaluation is grouped by identity *and* by generator (UnivFD's question: does it work on a generator it never
saw?): train on real + StyleGAN2 and test on held-out real identities + diffusion, the reverse, and SDXL <-> FLUX.
The regularisation C is chosen by an inner grouped CV on the training part only, and the operating threshold from
the inner out-of-fold scores of real photos (<= 1 % flagged). Several feature sources are compared (SFace stages,
the SFace embedding, YuNet's backbone, the hand-crafted frequency/noise features); the shipped model uses
``SHIPPED`` trained on all data.

The result is the model artefact ``learned_detector`` (ONNX + card, :func:`save_probe`). The feature cache
(``--cache``) is reused when it exists: delete it after changing the augmentation or the taps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx.utils import Extractor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from faceproof.align import align_face
from faceproof.authenticity import learned
from faceproof.authenticity.frequency import frequency_features
from faceproof.authenticity.learned import POOLS, SFaceTaps, pool
from faceproof.authenticity.noise import noise_features
from faceproof.detect import detect_faces
from faceproof.intake import decode_image
from faceproof.models import yunet
from faceproof.models.onnx_fold import fold_block_quantized
from faceproof.models.sface import ort_session
from faceproof.training import export
from faceproof.training.augment import FaceHint, face_mask, photometric, sensor_noise
from faceproof.training.common import DEV_DATA, LICENCE, SEED, manifest, pil_jpeg

N_AUG = 5
C_GRID = (1e-3, 1e-2, 1e-1, 1.0)
IDENTITY_FOLDS = 3
TARGET_FPR = 0.01
VARIANTS = ("clean", "aug", "retouched")  # rows of a real photo: as is, augmented, retouched then augmented

SFACE_TAPS = (
    "conv_2_relu",
    "conv_3_relu",
    "conv_4_relu",
    "conv_5_relu",
    "conv_6_relu",
    "conv_7_relu",
    "conv_9_relu",
    "conv_12_relu",
    "conv_14_relu",
    "fc1",
)
# YuNet backbone stage outputs (stride 4, 8, 16, 32), fed an aligned 160 px crop in YuNet's BGR 0..255 input.
YUNET_TAPS = ("205", "214", "223", "236")
YUNET_SIZE = 160
HAND = ("freq_slope", "freq_tail", "freq_up_peak", "freq_npr", "noise_face_bg", "noise_level", "noise_kurtosis")
HAND += ("noise_corr",)


@dataclass(frozen=True)
class Item:
    path: Path
    label: int  # 1 = generated
    generator: str  # real, stylegan2, sdxl, flux
    group: str  # identity for real photos (group photos count as df01, who is in both), file for generated


def read_manifest(data: Path) -> list[Item]:
    items = []
    for row in manifest(data):
        if row["label"] == "real":
            group = row["identity"] or "df01"
            gen = "real"
        else:
            group = row["file"]
            gen = "stylegan2" if row["label"] == "stylegan2" else row["generator"].split()[0].lower()
            gen = {"flux.1": "flux"}.get(gen, gen)
        items.append(Item(data / row["file"], int(row["label"] != "real"), gen, group))
    return items


# ---------------------------------------------------------------- augmentation (identical for both classes)


def retouch(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A retouched real photo: skin smoothing, heavy blur or strong denoising (hard negatives)."""
    kind = rng.integers(3)
    if kind == 0:
        smooth = cv2.bilateralFilter(rgb, 9, float(rng.uniform(40, 100)), float(rng.uniform(5, 12)))
        return smooth if rng.random() < 0.5 else cv2.bilateralFilter(smooth, 9, 60.0, 8.0)
    if kind == 1:
        return cv2.GaussianBlur(rgb, (0, 0), float(rng.uniform(1.5, 3.0)))
    return cv2.fastNlMeansDenoisingColored(rgb, None, float(rng.uniform(6, 15)), 10.0, 7, 21)


def augment(
    rgb: np.ndarray, box: tuple[float, float, float, float], kps: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The degraded image (same size): face downscaled to 40-160 px and back, blur, noise, gamma, JPEG; now and
    then the harder damage of :mod:`faceproof.training.augment` - a mask over the lower face (p 0.15), a bad
    exposure (p 0.15: gamma 0.45-2.2, contrast, brightness +-60) and heavy sensor noise (p 0.15: sigma 8-25)."""
    hint = FaceHint(box=box, keypoints=kps)
    if rng.random() < 0.15:
        rgb = face_mask(rgb, rng, hint)
    if rng.random() < 0.15:
        rgb = photometric(rgb, rng, hint)
    if rng.random() < 0.15:
        rgb = sensor_noise(rgb, rng, hint)
    h, w = rgb.shape[:2]
    face = max(box[2], box[3])
    target = float(np.exp(rng.uniform(np.log(40), np.log(160))))
    factor = min(1.0, target / face)
    img = cv2.resize(rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)
    out = img.astype(np.float32)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.5:
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** float(rng.uniform(0.8, 1.25)) + float(rng.uniform(-15, 15))
    if rng.random() < 0.5:
        out = out + rng.normal(0.0, float(rng.uniform(1.0, 5.0)), out.shape)
    img = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.9:
        img = pil_jpeg(img, int(rng.integers(40, 96)))
    interp = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)[int(rng.integers(3))]
    return cv2.resize(img, (w, h), interpolation=interp) if factor < 1.0 else img


def jitter(kps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keypoints moved by a small random similarity (shift 4 % of eye distance, scale 5 %, rotation 4 deg)."""
    eyes = float(np.hypot(*(kps[0] - kps[1])))
    centre = kps.mean(axis=0)
    a = np.deg2rad(rng.uniform(-4, 4))
    s = rng.uniform(0.95, 1.05)
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (kps - centre) @ rot.T + centre + rng.uniform(-0.04, 0.04, 2) * eyes


def context(
    rgb: np.ndarray, box: tuple[float, float, float, float], kps: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """The face with 1x its size of surroundings on each side (clipped): augmentation runs on this, not 1024 px."""
    x, y, w, h = box
    side = 3 * max(w, h)
    x0 = int(max(0, x + w / 2 - side / 2))
    y0 = int(max(0, y + h / 2 - side / 2))
    x1 = int(min(rgb.shape[1], x + w / 2 + side / 2))
    y1 = int(min(rgb.shape[0], y + h / 2 + side / 2))
    return rgb[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h), kps - [x0, y0]


# ---------------------------------------------------------------- feature extraction


class Extractors:
    def __init__(self) -> None:
        self.sface = SFaceTaps(SFACE_TAPS)
        model = onnx.load_from_string(fold_block_quantized(yunet.model_path()))
        model = Extractor(model).extract_model(["input"], list(YUNET_TAPS))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = YUNET_SIZE
        del model.graph.value_info[:]
        for out in model.graph.output:
            out.type.tensor_type.ClearField("shape")
        self.yunet: ort.InferenceSession = ort_session(model.SerializeToString())

    def __call__(
        self, rgb: np.ndarray, box: tuple[float, float, float, float], kps: np.ndarray, flip: bool
    ) -> dict[str, np.ndarray]:
        crop = align_face(rgb, kps)
        big = align_face(rgb, kps, size=YUNET_SIZE)
        if flip:
            crop, big = crop[:, ::-1].copy(), big[:, ::-1].copy()
        acts = self.sface.activations(crop)
        feats = {name: pool(act, POOLS) for name, act in acts.items()}
        blob = big[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
        for name, act in zip(YUNET_TAPS, self.yunet.run(list(YUNET_TAPS), {"input": blob}), strict=True):
            feats[f"yunet_{name}"] = pool(act, POOLS)
        hand = {**frequency_features(rgb, box), **noise_features(rgb, box)}
        feats["hand"] = np.array([hand[k] for k in HAND])
        return feats


_EXTRACTORS: Extractors | None = None


def extract_item(args: tuple[int, Item]) -> list[tuple[dict[str, np.ndarray], str]]:
    """All copies of one image: ``(features, variant)`` with variant clean / aug / retouched."""
    global _EXTRACTORS  # noqa: PLW0603 - one set of ONNX sessions per worker process
    if _EXTRACTORS is None:
        _EXTRACTORS = Extractors()
    index, item = args
    rng = np.random.default_rng([SEED, index])
    rgb = decode_image(item.path.read_bytes()).rgb
    faces = detect_faces(rgb)
    if not faces:
        return []
    full_box, full_kps = faces[0].box, faces[0].keypoints.astype(np.float64)
    out = [(_EXTRACTORS(rgb, full_box, full_kps, flip=False), "clean")]
    ctx, box, kps = context(rgb, full_box, full_kps)
    for _ in range(N_AUG):
        img = augment(ctx, box, kps, rng)
        out.append((_EXTRACTORS(img, box, jitter(kps, rng), flip=bool(rng.random() < 0.5)), "aug"))
    if item.label == 0:
        for _ in range(3):
            img = augment(retouch(ctx, rng), box, kps, rng)
            out.append((_EXTRACTORS(img, box, jitter(kps, rng), flip=bool(rng.random() < 0.5)), "retouched"))
    return out


@dataclass
class Table:
    feats: dict[str, np.ndarray]
    label: np.ndarray
    generator: np.ndarray
    group: np.ndarray
    variant: np.ndarray
    source: np.ndarray  # index of the source image


def build_table(items: list[Item], workers: int) -> Table:
    with ProcessPoolExecutor(workers) as pool_:
        results = list(pool_.map(extract_item, enumerate(items), chunksize=4))
    rows = [(i, f, v) for i, res in enumerate(results) for f, v in res]
    names = rows[0][1].keys()
    return Table(
        feats={n: np.stack([f[n] for _, f, _ in rows]).astype(np.float32) for n in names},
        label=np.array([items[i].label for i, _, _ in rows]),
        generator=np.array([items[i].generator for i, _, _ in rows]),
        group=np.array([items[i].group for i, _, _ in rows]),
        variant=np.array([v for _, _, v in rows]),
        source=np.array([i for i, _, _ in rows]),
    )


def save_table(t: Table, path: Path) -> None:
    np.savez_compressed(
        path,
        **{f"f_{k}": v for k, v in t.feats.items()},
        label=t.label,
        generator=t.generator,
        group=t.group,
        variant=t.variant,
        source=t.source,
    )


def load_table(path: Path) -> Table:
    z = np.load(path)
    feats = {k[2:]: z[k] for k in z.files if k.startswith("f_")}
    return Table(feats, z["label"], z["generator"], z["group"], z["variant"], z["source"])


# ---------------------------------------------------------------- model, nested CV, evaluation


def sface_stages(*names: str, pools: tuple[str, ...] = POOLS) -> Callable[[Table], np.ndarray]:
    def get(t: Table) -> np.ndarray:
        parts = []
        for n in names:
            f = t.feats[n]
            if n == "fc1":
                parts.append(f)
                continue
            half = f.shape[1] // 2
            parts.extend({"mean": f[:, :half], "std": f[:, half:]}[p] for p in pools)
        return np.hstack(parts)

    return get


FEATURE_SETS: dict[str, Callable[[Table], np.ndarray]] = {
    "hand-crafted (frequency + noise, 8)": lambda t: t.feats["hand"],
    "SFace embedding fc1 (128)": sface_stages("fc1"),
    "SFace early conv_2-4 mean+std": sface_stages("conv_2_relu", "conv_3_relu", "conv_4_relu"),
    "SFace mid conv_5-7 mean+std": sface_stages("conv_5_relu", "conv_6_relu", "conv_7_relu"),
    "SFace late conv_9/12/14 mean+std": sface_stages("conv_9_relu", "conv_12_relu", "conv_14_relu"),
    "SFace conv_2-7 mean only": sface_stages(*SFACE_TAPS[:6], pools=("mean",)),
    "SFace conv_2-7 mean+std": sface_stages(*SFACE_TAPS[:6]),
    "SFace all stages mean only": sface_stages(*SFACE_TAPS[:-1], pools=("mean",)),
    "SFace all stages mean+std": sface_stages(*SFACE_TAPS[:-1]),
    "YuNet backbone mean+std": lambda t: np.hstack([t.feats[f"yunet_{n}"] for n in YUNET_TAPS]),
}
SHIPPED = "SFace all stages mean+std"
SHIPPED_TENSORS = SFACE_TAPS[:-1]


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    mean, scale = standardise(x)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model


def decision(fitted: tuple[np.ndarray, np.ndarray, LogisticRegression], x: np.ndarray) -> np.ndarray:
    mean, scale, model = fitted
    return model.decision_function((x - mean) / scale)


def choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, np.ndarray]:
    """C by inner grouped CV (mean AUC); returns it and the out-of-fold logits at that C."""
    folds = list(GroupKFold(3).split(x, y, groups))
    best = (-1.0, C_GRID[0], np.zeros(len(y)))
    for c in C_GRID:
        oof = np.zeros(len(y))
        aucs = []
        for tr, te in folds:
            oof[te] = decision(fit(x[tr], y[tr], c), x[te])
            aucs.append(roc_auc_score(y[te], oof[te]) if len(set(y[te])) == 2 else 0.5)
        if np.mean(aucs) > best[0]:
            best = (float(np.mean(aucs)), c, oof)
    return best[1], best[2]


def operating_threshold(real_oof: np.ndarray, variant: np.ndarray) -> float:
    """The lowest logit at which at most TARGET_FPR of augmented real photos, and of retouched ones, are flagged."""
    return max(
        float(np.quantile(real_oof[variant == v], 1.0 - TARGET_FPR, method="higher")) for v in ("aug", "retouched")
    )


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float) -> float:
    thr = np.quantile(s[y == 0], 1.0 - fpr)
    return float(np.mean(s[y == 1] > thr))


SPLITS = {
    "real+StyleGAN2 -> diffusion": (("stylegan2",), ("sdxl", "flux")),
    "real+diffusion -> StyleGAN2": (("sdxl", "flux"), ("stylegan2",)),
    "real+SDXL -> FLUX": (("sdxl",), ("flux",)),
    "real+FLUX -> SDXL": (("flux",), ("sdxl",)),
}


def cross_generator(t: Table, x: np.ndarray, train_gens: tuple[str, ...], test_gens: tuple[str, ...]) -> dict:
    """Identity folds x generator split; metrics averaged over the identity folds."""
    real_groups = np.unique(t.group[t.label == 0])
    rng = np.random.default_rng(SEED)
    fold_of = dict(zip(rng.permutation(real_groups), np.arange(len(real_groups)) % IDENTITY_FOLDS, strict=True))
    real = t.label == 0
    metrics: dict[str, list[float]] = {}
    for k in range(IDENTITY_FOLDS):
        held = real & np.array([fold_of.get(g, -1) == k for g in t.group])
        train = (real & ~held) | np.isin(t.generator, train_gens)
        test = held | np.isin(t.generator, test_gens)
        c, oof = choose_c(x[train], t.label[train], t.group[train])
        real_train = t.label[train] == 0
        thr = operating_threshold(oof[real_train], t.variant[train][real_train])
        s = decision(fit(x[train], t.label[train], c), x)
        y = t.label
        clean, aug, ret = t.variant == "clean", t.variant == "aug", t.variant == "retouched"
        fake = test & (y == 1)
        row = {
            "auc_clean": roc_auc_score(y[test & clean], s[test & clean]),
            "auc_aug": roc_auc_score(y[test & aug], s[test & aug]),
            "tpr@1%_aug": tpr_at_fpr(y[test & aug], s[test & aug], TARGET_FPR),
            "op_fpr_real_aug": float(np.mean(s[held & aug] > thr)),
            "op_fpr_retouched": float(np.mean(s[held & ret] > thr)),
            "op_tpr_aug": float(np.mean(s[fake & aug] > thr)),
            "C": c,
        }
        for key, v in row.items():
            metrics.setdefault(key, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in metrics.items()}


def evaluate(t: Table, names: list[str]) -> dict[str, dict[str, dict]]:
    results: dict[str, dict[str, dict]] = {}
    for name in names:
        x = FEATURE_SETS[name](t).astype(np.float64)
        start = time.perf_counter()
        results[name] = {split: cross_generator(t, x, *gens) for split, gens in SPLITS.items()}
        print(f"{name}: {time.perf_counter() - start:.0f} s")
        for split, m in results[name].items():
            print(f"  {split:30s} " + " ".join(f"{k}={v:.3f}" for k, v in m.items()))
    return results


@dataclass(frozen=True)
class Probe:
    """The fitted probe and how it did: what :func:`save_probe` turns into the shipped artefact."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    neutral_margin: float  # median out-of-fold margin of real photos: the margin meaning "no evidence"
    c: float
    metrics: dict


def train_final(t: Table) -> Probe:
    """The shipped probe: all data, C by grouped CV, threshold at <= 1 % out-of-fold real (aug + retouched)."""
    x = FEATURE_SETS[SHIPPED](t).astype(np.float64)
    c, oof = choose_c(x, t.label, t.group)
    real = t.label == 0
    threshold = operating_threshold(oof[real], t.variant[real])
    mean, scale, model = fit(x, t.label, c)
    train_logit = decision((mean, scale, model), x)
    metrics = {
        "measured": "out of fold (grouped by identity / image, C and threshold as shipped); all generators seen",
        "auc": round(float(roc_auc_score(t.label, oof)), 4),
        "real_flagged": {v: round(float(np.mean(oof[real & (t.variant == v)] > threshold)), 4) for v in VARIANTS},
        "generated_detected_aug": {
            g: round(float(np.mean(oof[(t.generator == g) & (t.variant == "aug")] > threshold)), 4)
            for g in ("stylegan2", "sdxl", "flux")
        },
        "in_sample_real_flagged": round(float(np.mean(train_logit[real] > threshold)), 4),
    }
    print(f"final: C={c}, threshold={threshold:.3f}: {json.dumps(metrics)}")
    return Probe(
        mean=mean,
        scale=scale,
        coef=model.coef_[0],
        intercept=float(model.intercept_[0]),
        threshold=threshold,
        neutral_margin=round(float(np.median(oof[real] - threshold)), 1),
        c=c,
        metrics=metrics,
    )


def save_probe(
    probe: Probe, version: str, training: dict, directory: Path | None = None, created: str | None = None
) -> Path:
    """Write the probe as the ``learned_detector`` artefact: the graph standardises the pooled activations and
    takes their dot product (float64, as the service scores); the card names the taps, pools and threshold."""
    names = SFaceTaps(SHIPPED_TENSORS).feature_names()
    head = export.LinearHead("", tuple(names), probe.mean, probe.scale, probe.coef, probe.intercept)
    graph = export.linear_heads_graph(names, [head], learned.ARTIFACT, np.float64)
    inputs, outputs = export.linear_contract(names, [head], np.float64, "logit of 'generated' (flag at >= threshold)")
    return export.write_artifact(
        graph,
        name=learned.ARTIFACT,
        version=version,
        task="generated-face detection: linear probe on frozen SFace activations of the aligned 112x112 face",
        inputs={"x": inputs["x"] + " (SFaceTaps(tensors, pools).features of the aligned face: tensor.pool[channel])"},
        outputs=outputs,
        parameters={
            "tensors": list(SHIPPED_TENSORS),
            "pools": list(POOLS),
            "threshold": round(float(probe.threshold), 6),
            "neutral_margin": probe.neutral_margin,
        },
        training={"data": DEV_DATA, "seed": SEED, "C": probe.c, **training},
        metrics=probe.metrics,
        licence={**LICENCE, "weights": LICENCE["weights"] + "; reads SFace (Apache-2.0, OpenCV zoo) activations"},
        directory=directory,
        created=created,
    )


RECIPE = (
    f"every dev image clean + {N_AUG} augmented copies (face 40-160 px, blur, noise, gamma, JPEG 40-95, jitter, "
    "flip; p 0.15 each mask / bad exposure / heavy noise) + 3 retouched hard negatives per real photo; "
    "L2 logistic regression, class-balanced, C by grouped 3-fold CV, threshold <= 1 % of out-of-fold augmented "
    "and retouched real photos flagged"
)


def run(
    data: Path, cache: Path, workers: int = 2, sets: str = "all", results: Path | None = None, out: Path | None = None
) -> Path:
    """Build (or read) the feature table, cross-validate the feature ``sets`` ('all', 'shipped' or 'none'),
    fit the shipped probe and write its artefact into ``out`` (default: the package's models)."""
    start = time.perf_counter()
    if cache.exists():
        table = load_table(cache)
    else:
        table = build_table(read_manifest(data), workers)
        save_table(table, cache)
    print(f"features: {len(table.label)} rows in {time.perf_counter() - start:.0f} s")

    names = {"all": list(FEATURE_SETS), "shipped": [SHIPPED], "none": []}[sets]
    evaluation = evaluate(table, names)
    if results:
        results.write_text(json.dumps(evaluation, indent=1))
    start = time.perf_counter()
    probe = train_final(table)
    path = save_probe(
        probe,
        version=f"sface-probe-{time.strftime('%Y%m%d')}",
        training={"rows": len(table.label), "recipe": RECIPE},
        directory=out,
    )
    print(f"final training: {time.perf_counter() - start:.0f} s, wrote {path}")
    return path
