"""Validation of a crop detector, the same way for every one: held-out people, unseen methods, everyday damage.

Why shared: the swap and the replay detector must be judged by one yardstick, and that yardstick is what the
service will meet - real photos of people never trained on, fakes made by methods never trained on, each set
clean and again under seeded damage (low resolution + heavy JPEG, blur + noise, a mask, JPEG, a crop through the
face). The operating threshold is the logit that flags ``TARGET_FALSE_FLAGS`` of the held-out real photos, clean
and damaged together; every fake set reports its AUC against those photos and its detection at that threshold,
every real source its own false-flag rate, so no one source can hide behind the others. Scores come from the
exported ONNX graph itself, not from the torch model it was made from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from faceproof.training.augment import combine
from faceproof.training.faces import (
    CACHE_SIZE,
    CONTEXT,
    INPUT_SIZE,
    MODEL_CONTEXT,
    CropSet,
    hint,
    load_cache,
    model_view,
)

log = logging.getLogger(__name__)

#: Fraction of held-out real photos the operating threshold flags.
TARGET_FALSE_FLAGS = 0.01
#: The weights licence of every probe head on the crop backbone (its card's ``licence.weights``).
PROBE_HEAD_WEIGHTS_LICENCE = (
    "ImageNet-trained backbone (ImageNet terms restrict commercial use) with a probe fitted on research-only face "
    "data: research use only"
)
#: Largest number of images scored per validation set (each is scored clean and under every damage).
EVAL_CAP = 600
#: Real photos from sources no detector trains on (validation set name -> crop cache folder): LFW colour photos,
#: the real half of the hand-edited set, the development set's people.
UNSEEN_REAL = {
    "lfw_colour": "lfw_faceswap_real",
    "edited_set_real": "real_and_fake_face_real",
    "dev_set_real": "dev_real",
}
#: Share of a training source's people held out for validation.
DEFAULT_HELD_OUT = 0.1
VALIDATION_DAMAGES = (("lowres", "jpeg"), ("gaussian_blur", "noise"), ("mask",), ("jpeg",), ("crop",))


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
    """The logit above which ``share`` of real photos lie (the operating point; a detector flags at logit >=
    threshold, so with ``share`` 0 the threshold is just above the highest real logit, which it must not flag)."""
    cut = float(np.quantile(real_logits, 1.0 - share))
    return float(np.nextafter(cut, np.inf)) if share == 0 else cut


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


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def held_out(identity: str, share: float = DEFAULT_HELD_OUT) -> bool:
    """A stable, seedless split by person: the same identity is always on the same side, in every run."""
    return int(hashlib.sha1(identity.encode()).hexdigest()[:8], 16) % 1000 < share * 1000


def onnx_predictor(onnx_bytes: bytes, backbone: bytes | None = None, threads: int = 2, batch: int = 32):
    """Logits from the exported graph (validation runs the very graphs that ship): a whole detector on the crops,
    or a head (``onnx_bytes``) on the outputs of its ``backbone``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sessions = [
        ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        for graph in (backbone, onnx_bytes)
        if graph is not None
    ]

    def predict(crops: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(crops), batch):
            feeds = {"image": crops[i : i + batch].astype(np.float32)}
            for session in sessions[:-1]:
                names = [o.name for o in session.get_outputs()]
                feeds = dict(zip(names, session.run(names, feeds), strict=True))
            out.append(sessions[-1].run(["logit"], feeds)[0])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    return predict


def cap(crops: CropSet, cap: int, seed: int) -> CropSet:
    if len(crops.meta) <= cap:
        return crops
    keep = np.zeros(len(crops.meta), bool)
    keep[np.random.default_rng(seed).choice(len(crops.meta), cap, replace=False)] = True
    return crops.subset(keep)


@dataclass(frozen=True)
class Split:
    """Training crops (real photos of the training people) and the validation sets, by name."""

    train: CropSet
    real: dict[str, CropSet]
    fakes: dict[str, CropSet]


def split(
    cache_root: Path,
    train_sources: tuple[str, ...],
    eval_real: dict[str, str],
    eval_fake: dict[str, str],
    train_fakes: tuple[str, ...] = (),
    held_out_share: dict[str, float] | None = None,
) -> Split:
    """Load the crop caches: ``train_sources`` (and ``train_fakes``) split by person, the held-out people of each
    becoming a validation set of its own; ``eval_*`` map a validation set's name to a cache folder.

    ``held_out_share``: per source, the share of its people held out (default 10 %); a source of few people
    (NUAA's 15) needs a larger share to leave anyone to validate on.
    """
    crops = load_cache([cache_root / s for s in (*train_sources, *train_fakes)])
    source = crops.column("source")
    shares = held_out_share or {}
    held = np.array(
        [held_out(i, shares.get(s, DEFAULT_HELD_OUT)) for i, s in zip(crops.column("identity"), source, strict=True)]
    )
    real = {f"{s}_heldout": crops.subset(held & (source == s)) for s in train_sources}
    fakes = {f"{s}_heldout": crops.subset(held & (source == s)) for s in train_fakes}
    real.update(_available(cache_root, eval_real))
    fakes.update(_available(cache_root, eval_fake))
    return Split(train=crops.subset(~held), real=real, fakes=fakes)


def _available(cache_root: Path, sets: dict[str, str]) -> dict[str, CropSet]:
    """The validation sets whose crop cache exists; a missing one is reported, not fatal (a corpus whose
    evaluation-only sources are not screened yet still trains, with fewer unseen sources)."""
    out = {}
    for name, folder in sets.items():
        if any((cache_root / folder).glob("shard_*[0-9].npz")):
            out[name] = load_cache([cache_root / folder])
        else:
            log.warning("validation set %s left out: no crop cache in %s", name, cache_root / folder)
    return out


def score_sets(predict, sets: dict[str, CropSet], seed: int) -> dict[str, Scored]:
    return {
        name: score_set(predict, cap(c, EVAL_CAP, seed).rgb, cap(c, EVAL_CAP, seed), seed)
        for name, c in sets.items()
        if c.meta
    }


def write_report(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def crop_detector_contract(
    metrics: dict[str, object], cam: str, share: float = TARGET_FALSE_FLAGS
) -> dict[str, dict[str, object]]:
    """The card fields every crop detector shares: its input, its outputs (``cam`` says what its map is) and the
    recipe the service needs to cut its view, with the operating threshold this validation chose."""
    side = INPUT_SIZE // 32
    return {
        "inputs": {"image": f"float32 (N, {INPUT_SIZE}, {INPUT_SIZE}, 3), RGB 0..255, the face view (see parameters)"},
        "outputs": {
            "logit": "(N,) logit; flag when logit >= parameters.threshold_logit",
            "cam": f"(N, {side}, {side}) {cam}",
        },
        "parameters": {
            "threshold_logit": metrics["threshold_logit"],
            "threshold_share": share,
            "cache_size": CACHE_SIZE,
            "cache_context": CONTEXT,
            "input_size": INPUT_SIZE,
            "context": MODEL_CONTEXT,
        },
    }


def crop_head_contract(
    metrics: dict[str, object],
    backbone: str,
    backbone_sha256: str,
    share: float = TARGET_FALSE_FLAGS,
    extra_contexts: Sequence[float] = (),
) -> dict[str, dict[str, object]]:
    """:func:`crop_detector_contract` of a probe head: its inputs are the outputs of ``backbone`` (which sees the
    view the parameters describe, and for a head on several views each of ``extra_contexts`` as well), and its
    card pins that backbone's sha256."""
    contract = crop_detector_contract(metrics, "the probe's last-stage weights at each position", share)
    contract["inputs"] = {
        "features": f"float32 (N, F), {backbone}'s pooled features of the face view (see parameters)",
        "feature_map": f"float32 (N, C, H, W), {backbone}'s last feature map of the same view",
    }
    for i, context in enumerate(extra_contexts, 1):
        contract["inputs"][f"features_{i}"] = f"float32 (N, F), the same of the view cut at {context} face sizes"
    if extra_contexts:
        contract["parameters"]["extra_contexts"] = [float(c) for c in extra_contexts]
    contract["requires"] = {backbone: backbone_sha256}
    return contract


def measured(validate: Callable[[], dict[str, object]], work_dir: Path) -> dict[str, object]:
    """Run a detector's validation, record how long it took, and keep its report in ``work_dir``."""
    started = time.perf_counter()
    metrics = validate()
    metrics["validation_seconds"] = round(time.perf_counter() - started, 1)
    write_report(work_dir / "report.json", metrics)
    return metrics


def manifest_record(manifest: Path) -> dict[str, str]:
    """What a card says of the corpus manifest its data came from: its name and sha256 (empty when absent)."""
    return {"manifest": manifest.name, "manifest_sha256": file_sha256(manifest) if manifest.exists() else ""}


def data_record(data: Split, manifest: Path) -> dict[str, object]:
    """What a crop detector's card says of its training data besides its recipe: the manifest and the crops used."""
    sources, counts = np.unique(data.train.column("source"), return_counts=True)
    return {
        **manifest_record(manifest),
        "train_crops_by_source": {str(k): int(v) for k, v in zip(sources, counts, strict=True)},
    }
