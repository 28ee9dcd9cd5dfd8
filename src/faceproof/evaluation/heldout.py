"""An authenticity evaluation set from the corpus that no shipped detector was trained on: real photos of held-out
people of every real source, each generator, the evaluation-only face swaps, and print captures of held-out NUAA
subjects - written as an evaluation manifest (``file,label,identity,kind``) for ``faceproof eval authenticity``.

Why from the crop caches: the learned detectors split people by a stable hash of the identity recorded in their
crop cache (:func:`faceproof.training.validation.held_out`); reading the same records, with the smallest share
any detector holds out, guarantees every real photo and print here was held out of every fit. Generated faces
have no people to hold out: the shipped generated-face detector saw every training generator, so their figures
here are in-sample for that detector (its left-out-generator figures are on its card); the rest of the engine
(fusion, hand-set signals) never saw them. The never-trained generators (StyleGAN3) are unseen by every detector:
the one blind generator of the set. A real row's ``kind`` is its source, so the report gives each real
source's false-flag rate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceproof.training import fit_generated, fit_replay, fit_swap, validation
from faceproof.training.faces import cache_meta

#: The smallest share of people any crop detector holds out (the replay detector's 10 %).
HELD_OUT_SHARE = validation.DEFAULT_HELD_OUT
#: Real sources (crop cache folders) and the share of their people held out of every fit.
REAL = dict.fromkeys(fit_generated.REAL_SOURCES, HELD_OUT_SHARE) | {"dev_real": 1.0}
#: Fakes: cache folder -> (label, kind); prints are restricted to NUAA subjects held out of the replay fit. The
#: never-trained generators come last, so that adding them left every earlier draw of a seed as it was.
FAKES = (
    {slug: (g.name, "generated") for slug, g in fit_generated.GENERATORS.items()}
    | {fit_swap.EVAL_FAKE["faceswap_3d"]: ("faceswap_3d", "swapped"), "nuaa_print": ("print", "replayed")}
    | {slug: (g.name, "generated") for slug, g in fit_generated.NEVER_TRAINED_GENERATORS.items()}
)


@dataclass(frozen=True)
class EvalRow:
    file: str
    label: str
    identity: str
    kind: str


def _rows(cache: Path, slug: str, root: Path, label: str, kind: str, share: float | None) -> list[EvalRow]:
    return [
        EvalRow(str(root / m["path"]), label, m["identity"], kind)
        for m in cache_meta(cache / slug)
        if share is None or share >= 1.0 or validation.held_out(m["identity"], share)
    ]


def authenticity_rows(cache: Path, corpus_dir: Path, dev_dir: Path, per_label: int, seed: int) -> list[EvalRow]:
    """At most ``per_label`` rows per real source and per fake label, drawn reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    out: list[EvalRow] = []

    def take(rows: list[EvalRow]) -> None:
        pick = rng.permutation(len(rows))[:per_label]
        out.extend(rows[i] for i in sorted(pick))

    for slug, share in REAL.items():
        take(_rows(cache, slug, dev_dir if slug == "dev_real" else corpus_dir, "real", slug, share))
    for slug, (label, kind) in FAKES.items():
        root = dev_dir if slug.startswith("dev_") else corpus_dir
        share = fit_replay.HELD_OUT_SHARE.get(slug)
        take(_rows(cache, slug, root, label, kind, share))
    return out


def write_manifest(rows: list[EvalRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "identity", "kind"])
        writer.writerows([r.file, r.label, r.identity, r.kind] for r in rows)
