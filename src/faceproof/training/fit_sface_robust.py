"""Fit SFace's damaged-face view: SFace's own network fine-tuned so that a blurred, noisy or masked face lands
where SFace puts the same face undamaged.

Why: on damaged pairs the recognizers, not their scoring, are the limit (docs/calibration.md: fusion weights,
thresholds per condition, WCCN and quality bins each moved TAR by a point or less). A recognizer trained on clean
photos spends its capacity on what a clean photo shows; fine-tuning it on damaged copies of faces with the
*clean* face's embedding as the target (feature distillation from a teacher that sees the clean image, as in
low-resolution face recognition, e.g. Ge et al., "Low-resolution face recognition in the wild via selective
knowledge distillation", TIP 2019; Huang et al., "Feature map distillation of thin nets for low-resolution face
recognition", 2022) teaches it to undo the damage in its early layers while its output stays in SFace's space -
so a damaged probe can be compared with templates SFace made at enrolment, and no stored template changes
(backward-compatible representations, Shen et al., CVPR 2020).

Data: real photos of the training corpus (UTKFace, All-Age-Faces, a small web set; rows whose manifest role is
``train`` only), never LFW (the calibration's
genuine people) nor the calibration's UTKFace / All-Age-Faces impostors nor any photo of an evaluation manifest.
No identity labels are needed: each face is its own target. Damage: the calibration's kinds (blur + noise, a
mask, low resolution + JPEG) and neighbours of them, drawn per example, on colour and grey photos alike; the
alignment keypoints jittered as a detector's on a damaged photo would be.

The loss has a second, contrastive term (:func:`contrastive_loss`): the first fit, with the cosine term alone,
pulled each damaged face toward its own clean embedding and let different people's damaged faces drift together
(impostor similarities rose more than genuine ones on the calibration corpus, docs/calibration.md).

What is trained: every convolution, batch-norm scale / shift and PReLU slope up to the last feature map; the
final fully connected layer and its batch norm stay SFace's (they define the space the templates live in).
Export: the trunk (input -> last feature map) as an ONNX graph whose weights carry SFace's tensor names; the
service splices them into SFace's own graph (:func:`faceproof.models.sface.with_weights`).

The data, damage, loop and loss serve dlib's damaged-face view as well (:mod:`faceproof.training.fit_dlib_robust`):
a :class:`Recognizer` says how each network cuts a face, what it embeds it as, and how its loss is weighed.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceproof.align import align_face
from faceproof.models import mesh_keypoints, sface
from faceproof.models.onnx_fold import folded_model
from faceproof.training import export
from faceproof.training.augment import combine, monochrome
from faceproof.training.faces import CropSet, has_mesh, hint, load_cache, selection_key
from faceproof.training.onnx_torch import GraphModule

log = logging.getLogger(__name__)

MODEL_NAME = "sface_robust"
VERSION = "2"
TRAIN_SOURCES = ("utkface", "allagefaces", "deepfake_detector_real")
#: The last tensor the fine-tune changes: SFace's final feature map (1024 x 7 x 7), before its own batch norm
#: and the fully connected layer that define the embedding space.
TRUNK_OUTPUT = "conv_14_relu"
#: Damage kinds drawn for training (probability, degradations of :mod:`faceproof.training.augment`).
KINDS: dict[str, tuple[float, tuple[str, ...]]] = {
    "clean": (0.10, ()),
    "blur+noise": (0.30, ("gaussian_blur", "noise")),
    "noise": (0.10, ("noise",)),
    "motion_blur+noise": (0.05, ("motion_blur", "noise")),
    "lowres+noise": (0.05, ("lowres", "noise")),
    "mask": (0.20, ("mask",)),
    "mask+blur+noise": (0.10, ("mask", "gaussian_blur", "noise")),
    "lowres+jpeg": (0.10, ("lowres", "jpeg")),
}
VALIDATION_KINDS = ("clean", "blur+noise", "mask", "lowres+jpeg")
GREY_P = 0.2
#: Keypoint jitter, as a share of the distance between the eyes: a detector's keypoints on a damaged photo.
JITTER = 0.02


@dataclass(frozen=True)
class FitConfig:
    steps: int = 500
    batch: int = 32
    lr: float = 5e-5
    seed: int = 20261207
    threads: int = 2
    checkpoint_every: int = 25
    validate_every: int = 200
    validation_faces: int = 300
    #: Weight of the contrastive term and its temperature (:func:`contrastive_loss`).
    contrast: float = 0.5
    temperature: float = 0.1


@dataclass(frozen=True)
class Recognizer:
    """What the damaged-face fine-tune needs of a recognizer: its trainable copy, how it cuts a face out of a photo
    (the face's alignment keypoints and box in the photo, jittered by ``rng`` when given), its own embedding of such
    a cut (the teacher), and how its loss weighs the two terms.

    ``pull``: weight of 1 - cosine to the target. ``centred``: the contrastive term reads vectors centred on the
    teacher bank's mean - for a recognizer whose descriptors all share a large common component (dlib: impostors
    at cosine ~0.85), on raw vectors the contrastive term spreads that component apart and leaves the space the
    templates live in."""

    name: str  # the artefact written
    version: str
    student: Callable[[], GraphModule]
    cut: Callable[[np.ndarray, np.ndarray, tuple[float, float, float, float], np.random.Generator | None], np.ndarray]
    teacher: Callable[[np.ndarray], np.ndarray]
    export: Callable[[GraphModule], bytes]
    #: The card's task, inputs, outputs, parameters and licence of the weights.
    card: dict[str, Any] = field(default_factory=dict)
    pull: float = 1.0
    centred: bool = False


@dataclass(frozen=True)
class Faces:
    """Training faces: the cached crops, the alignment keypoints the service would use, and the recognizer's unit
    embedding of each face undamaged, in colour and in grey (the targets)."""

    crops: CropSet
    keypoints: np.ndarray  # (n, 5, 2)
    targets: np.ndarray  # (n, 2, 128): [colour, grey]

    def box(self, i: int) -> tuple[float, float, float, float]:
        """The face's box in its cached crop (the detector's place for it)."""
        return hint(self.crops, i).box


def select(crops: CropSet, trainable: set[str], excluded: set[str]) -> CropSet:
    """Faces with a fitted mesh from the training sources whose manifest rows may be trained on (``trainable``:
    ``split_role`` train; evaluation-only sources never), none of ``excluded`` (corpus-relative paths)."""
    sources = crops.column("source")
    paths = crops.column("path")
    keep = has_mesh(crops) & np.isin(sources, TRAIN_SOURCES) & np.isin(paths, sorted(trainable))
    return crops.subset(keep & ~np.isin(paths, sorted(excluded)))


def prepare(crops: CropSet, recognizer: Recognizer) -> Faces:
    """Alignment keypoints (the detector's refined by the mesh, as the service aligns) and the teacher's targets:
    the recognizer's own embedding of each face undamaged, in colour and in grey."""
    keypoints = np.stack(
        [mesh_keypoints.refined_keypoints(crops.keypoints[i], crops.landmarks[i]) for i in range(len(crops.rgb))]
    )
    targets = np.zeros((len(crops.rgb), 2, 128), np.float32)
    for i, (rgb, kp) in enumerate(zip(crops.rgb, keypoints, strict=True)):
        face = recognizer.cut(rgb, kp, hint(crops, i).box, None)
        targets[i, 0] = recognizer.teacher(face)
        targets[i, 1] = recognizer.teacher(monochrome(face))
    return Faces(crops, keypoints, targets)


def sface_cut(
    rgb: np.ndarray, kp: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator | None
) -> np.ndarray:
    """SFace's aligned 112 px face, the keypoints jittered by :data:`JITTER` of the eye distance when ``rng`` is
    given (a detector's keypoints on a damaged photo)."""
    if rng is not None:
        eyes = float(np.linalg.norm(kp[0] - kp[1]))
        kp = kp + rng.normal(0.0, JITTER * eyes, kp.shape).astype(kp.dtype)
    return align_face(rgb, kp)


def damaged_view(
    faces: Faces, i: int, kind: str, is_grey: bool, rng: np.random.Generator, recognizer: Recognizer
) -> np.ndarray:
    """The face the view trains on: the cached crop (grey if asked), damaged with ``kind``, cut as the recognizer
    cuts it with jitter."""
    rgb = monochrome(faces.crops.rgb[i]) if is_grey else faces.crops.rgb[i]
    rgb = combine(list(KINDS[kind][1]), rgb, rng, hint(faces.crops, i))
    return recognizer.cut(rgb, faces.keypoints[i], faces.box(i), rng)


def draw_batch(
    faces: Faces, rows: np.ndarray, rng: np.random.Generator, size: int, recognizer: Recognizer
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` damaged views and, for each, its target's row in ``faces.targets.reshape(-1, 128)`` (face ``i``
    in colour: ``2 i``, in grey: ``2 i + 1``)."""
    names = list(KINDS)
    p = np.array([KINDS[k][0] for k in names])
    views, target = [], np.zeros(size, np.int64)
    for j in range(size):
        i = int(rows[rng.integers(len(rows))])
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
        is_grey = bool(rng.random() < GREY_P)
        views.append(damaged_view(faces, i, kind, is_grey, rng, recognizer))
        target[j] = 2 * i + int(is_grey)
    return np.stack(views), target


def contrastive_loss(
    out: torch.Tensor, target: torch.Tensor, bank: torch.Tensor, same_person: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-entropy of each damaged view's own clean target among every other training face's clean target
    (``bank``, the teacher's unit vectors) and the batch's other damaged views.

    Why: pulling each damaged face toward its own clean embedding alone (the cosine term) let different people's
    damaged faces drift together - on the calibration corpus the first view raised impostor similarities more than
    genuine ones (docs/calibration.md). Here every other person's clean face (a clean enrolment photo) and damaged
    face (a damaged probe) is a negative, as in the InfoNCE objective of contrastive representation distillation
    (Tian et al., ICLR 2020). ``same_person``: (batch, len(bank)) true where a bank row is the example's person but
    not its target (their other photos, the same photo in the other colour), or a validation face: those are no
    negatives."""
    unit = torch.nn.functional.normalize(out, dim=1)
    to_bank = (unit @ bank.T).masked_fill(same_person, float("-inf"))
    to_batch = unit @ unit.T
    same_face = target[:, None] // 2 == target[None, :] // 2
    to_batch = to_batch.masked_fill(same_face, float("-inf"))
    logits = torch.cat([to_bank, to_batch], dim=1) / temperature
    return torch.nn.functional.cross_entropy(logits, target)


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32).transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)


def student() -> GraphModule:
    """SFace (weights folded from the shipped int8 file) as a trainable graph; the embedding layers frozen."""
    model = GraphModule(folded_model(sface.model_path()))
    trunk = set(trunk_weights(model))
    model.freeze(n for n in model.onnx_names if n not in trunk or model.weight(n).dim() == 0)
    return model


def trunk_weights(model: GraphModule) -> list[str]:
    """The weights of the nodes up to :data:`TRUNK_OUTPUT` (the part the fine-tune changes)."""
    names: list[str] = []
    for _, inputs, output, _ in model.nodes:
        names += [i for i in inputs if i in model.onnx_names]
        if output == TRUNK_OUTPUT:
            return names
    raise ValueError(f"{TRUNK_OUTPUT} is not in the graph")


def split(faces: Faces, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation faces: the ``n_val`` lowest stable ranks of people (a person's photos stay on one side)."""
    ids = faces.crops.column("identity")
    order = sorted(set(ids), key=selection_key)
    val_ids: set[str] = set()
    count = 0
    for person in order:
        if count >= n_val:
            break
        val_ids.add(person)
        count += int(np.sum(ids == person))
    val = np.isin(ids, sorted(val_ids))
    return np.flatnonzero(~val), np.flatnonzero(val)


def validation_views(
    faces: Faces, rows: np.ndarray, seed: int, recognizer: Recognizer
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fixed damaged views of the validation faces per kind, with their targets (colour)."""
    out = {}
    for kind in VALIDATION_KINDS:
        rng = np.random.default_rng([seed, VALIDATION_KINDS.index(kind)])
        x = np.stack([damaged_view(faces, int(i), kind, False, rng, recognizer) for i in rows])
        out[kind] = (x, faces.targets[rows, 0])
    return out


@torch.no_grad()
def embed(model: GraphModule, x: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    out = np.concatenate([model(to_tensor(x[i : i + batch])).numpy() for i in range(0, len(x), batch)])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def validate(model: GraphModule, views: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean cosine between the model's embedding of each damaged view and the recognizer's of the undamaged face."""
    return {k: float(np.mean(np.sum(embed(model, x) * t, axis=1))) for k, (x, t) in views.items()}


def fit(
    faces: Faces, train_rows: np.ndarray, views: dict, cfg: FitConfig, work: Path, recognizer: Recognizer
) -> tuple[GraphModule, list]:
    """Fine-tune for ``cfg.steps`` batches (cosine learning rate; loss: ``recognizer.pull`` x (1 - cosine to the
    target) + ``cfg.contrast`` x :func:`contrastive_loss`), checkpointing to ``work/checkpoint.pt``; each batch is
    drawn from a stream seeded by its step, so a resumed fit sees the examples an uninterrupted one would."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint.pt"
    model = recognizer.student()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    start, history = 0, []
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, history = int(state["step"]), list(state["history"])
        log.info("resuming at step %d", start)
    else:
        history.append({"step": 0, **validate(model, views)})
        log.info("before: %s", history[-1])
    bank = torch.from_numpy(faces.targets.reshape(-1, 128))
    centre = bank.mean(0, keepdim=True) if recognizer.centred else None
    contrast_bank = bank if centre is None else torch.nn.functional.normalize(bank - centre, dim=1)
    people = np.repeat(np.unique(faces.crops.column("identity"), return_inverse=True)[1], 2)
    held_out = np.repeat(~np.isin(np.arange(len(faces.targets)), train_rows), 2)  # validation faces: no negatives
    began, running = time.perf_counter(), []
    for step in range(start, cfg.steps):
        model.train()
        x, target = draw_batch(faces, train_rows, np.random.default_rng([cfg.seed, step]), cfg.batch, recognizer)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * max(0.5 * (1 + math.cos(math.pi * step / cfg.steps)), 0.02)
        out = model(to_tensor(x))
        t = torch.from_numpy(target)
        same = (people[target][:, None] == people[None, :]) | held_out[None, :]
        same[np.arange(len(target)), target] = False
        loss = recognizer.pull * (1.0 - torch.nn.functional.cosine_similarity(out, bank[t]).mean())
        if cfg.contrast:
            read = out if centre is None else torch.nn.functional.normalize(out, dim=1) - centre
            loss = loss + cfg.contrast * contrastive_loss(
                read, t, contrast_bank, torch.from_numpy(same), cfg.temperature
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        done = step + 1
        if done % cfg.validate_every == 0 or done == cfg.steps:
            history.append({"step": done, **validate(model, views)})
            log.info("validation: %s", history[-1])
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done, "history": history}, ckpt)
            rate = (done - start) * cfg.batch / (time.perf_counter() - began)
            log.info("step %d/%d loss %.4f (%.1f faces/s)", done, cfg.steps, np.mean(running[-25:]), rate)
    return model.eval(), history


def trunk_graph(model: GraphModule) -> bytes:
    """The trained trunk as a runnable ONNX graph: SFace's nodes up to :data:`TRUNK_OUTPUT` (weights folded to
    constants, under SFace's names), output the last feature map."""
    import onnx
    from onnx import helper, numpy_helper

    source = folded_model(sface.model_path())
    weights = model.arrays(trunk_weights(model))
    nodes = []
    for node in source.graph.node:
        if node.output[0] in weights:
            continue  # a reshaped constant weight: the trained value replaces it
        nodes.append(node)
        if node.output[0] == TRUNK_OUTPUT:
            break
    graph = helper.make_graph(
        nodes,
        "sface_robust_trunk",
        list(source.graph.input),
        [helper.make_tensor_value_info(TRUNK_OUTPUT, onnx.TensorProto.FLOAT, ["N", 1024, 7, 7])],
        [numpy_helper.from_array(v, n) for n, v in sorted(weights.items())],
    )
    out = helper.make_model(graph, opset_imports=list(source.opset_import))
    out.ir_version = source.ir_version
    onnx.checker.check_model(out)
    return out.SerializeToString()


def excluded_paths(manifest: Path, evaluation_manifests: Sequence[Path], corpus_dir: Path) -> set[str]:
    """Corpus paths never to train on: the verification calibration's photos (its genuine LFW people and its
    UTKFace / All-Age-Faces impostors) and every photo of the given evaluation manifests (``file`` column)."""
    from faceproof.training.calibration_corpus import plan_photos

    out = {p.path for p in plan_photos(manifest)}
    root = str(corpus_dir.resolve()) + "/"
    for path in evaluation_manifests:
        with path.open(newline="") as fh:
            out |= {row["file"].removeprefix(root) for row in csv.DictReader(fh)}
    return out


def run(
    cache_root: Path,
    out_dir: Path,
    work: Path,
    cfg: FitConfig,
    manifest: Path,
    evaluation_manifests: Sequence[Path],
    corpus_dir: Path,
    max_faces: int = 10_000,
    recognizer: Recognizer | None = None,
) -> dict[str, object]:
    """Select and prepare the faces (kept in ``work/faces.npz``), fine-tune, write the artefact (ONNX + card) of
    ``recognizer`` (default: SFace's damaged-face view)."""
    from faceproof.training.corpus import read_manifest

    recognizer = recognizer or SFACE
    excluded = excluded_paths(manifest, evaluation_manifests, corpus_dir)
    trainable = {r["path"] for r in read_manifest(manifest) if r["split_role"] == "train" and r["label"] == "real"}
    crops = select(load_cache([cache_root / s for s in TRAIN_SOURCES]), trainable, excluded)
    ranked = np.argsort([selection_key(m["path"]) for m in crops.meta], kind="stable")[:max_faces]
    crops = crops.subset(np.isin(np.arange(len(crops.rgb)), ranked))
    log.info("%d faces (%d paths excluded)", len(crops.rgb), len(excluded))
    work.mkdir(parents=True, exist_ok=True)
    kept = work / "faces.npz"
    if kept.exists():
        with np.load(kept) as z:
            faces = Faces(crops, z["keypoints"], z["targets"])
    else:
        faces = prepare(crops, recognizer)
        np.savez(kept, keypoints=faces.keypoints, targets=faces.targets)
    train_rows, val_rows = split(faces, cfg.validation_faces)
    views = validation_views(faces, val_rows, cfg.seed, recognizer)
    model, history = fit(faces, train_rows, views, cfg, work, recognizer)
    metrics = {
        "validation": {
            "what": "mean cosine between the embedding of a damaged view and the recognizer's of the undamaged "
            f"face, {len(val_rows)} faces of people never trained on; step 0 is the recognizer itself",
            "history": history,
        }
    }
    card = recognizer.card
    written = export.write_artifact(
        recognizer.export(model),
        name=recognizer.name,
        version=recognizer.version,
        task=card["task"],
        inputs=card["inputs"],
        outputs=card["outputs"],
        parameters=card["parameters"],
        training={
            "data": "UTKFace, All-Age-Faces and deepfake_image_detector real photos from corpus/manifest.csv.gz "
            "(split_role train); no LFW, no calibration or evaluation photo",
            "rows": len(faces.crops.rgb),
            "excluded_paths": len(excluded),
            "recipe": f"loss {recognizer.pull:g} x (1 - cosine to the recognizer's embedding of the undamaged face), "
            f"plus {cfg.contrast} x cross-entropy of that embedding among every other training face's clean "
            f"embedding and the batch's other damaged faces (temperature {cfg.temperature}"
            + ("; read on vectors centred on the clean embeddings' mean" if recognizer.centred else "")
            + "); damage kinds "
            + ", ".join(f"{k} {p:.2f}" for k, (p, _) in KINDS.items())
            + f"; grey {GREY_P}; jitter {JITTER} of the eye distance (keypoints) or box width; Adam, cosine schedule",
            "seed": cfg.seed,
            "config": cfg.__dict__,
        },
        metrics=metrics,
        licence={
            "weights": card["licence"],
            "data": "UTKFace (non-commercial research), All-Age-Faces (citation requested), deepfake_image_detector "
            "(no licence stated): see docs/corpus.md",
        },
        directory=out_dir,
    )
    log.info("wrote %s", written)
    return metrics


def _sface_teacher(face: np.ndarray) -> np.ndarray:
    return sface.get_sface().embed(face)


#: SFace's damaged-face view (artefact ``sface_robust``).
SFACE = Recognizer(
    name=MODEL_NAME,
    version=VERSION,
    student=student,
    cut=sface_cut,
    teacher=_sface_teacher,
    export=trunk_graph,
    card={
        "task": "SFace's trunk fine-tuned on damaged faces (weights spliced into SFace's graph by name)",
        "inputs": {"data": "(N, 3, 112, 112) float32 RGB 0-255, the face aligned as for SFace"},
        "outputs": {TRUNK_OUTPUT: "(N, 1024, 7, 7) float32: SFace's last feature map (its own head follows)"},
        "parameters": {
            "replaces": "sface@" + sface.MODEL_VERSION,
            "used_for": "faces read as noisy or covered, averaged with SFace's own vector",
        },
        "licence": "SFace (Apache-2.0, OpenCV model zoo) fine-tuned on research-only face data: research use only",
    },
)
