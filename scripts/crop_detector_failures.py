"""Contact sheet of a crop detector's worst cases: the real photos it scores highest and the fakes it scores lowest.

Why: a validation table says how often a detector fails, a picture says on what - which is what tells the next
training run what to add. Reads crop caches (``faceproof train crops``), scores each crop with the shipped head
and its backbone exactly as the service does (the model view of the cached crop), and draws the ``--count``
worst of each side with their margins (logit minus the operating threshold; >= 0 is flagged).

Usage: ``.venv/bin/python scripts/crop_detector_failures.py --model replay_detector --real CACHE/utkface
--fake CACHE/nuaa_print --out docs/img/replay_failures.png``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from faceproof.authenticity import crop_model
from faceproof.models import artifact
from faceproof.training.faces import load_cache, model_view
from faceproof.training.validation import cap

TILE = 160


def margins(name: str, crops: np.ndarray) -> np.ndarray:
    head = artifact.load(name)
    backbone = crop_model.backbone_of(head)
    views = np.stack([model_view(c) for c in crops]).astype(np.float32)
    logits = [head.run(backbone.run({"image": views[i : i + 32]}))["logit"] for i in range(0, len(views), 32)]
    return np.concatenate(logits) - float(head.parameters["threshold_logit"])


def row(crops: np.ndarray, scores: np.ndarray, title: str) -> np.ndarray:
    tiles = []
    for crop, score in zip(crops, scores, strict=True):
        tile = cv2.cvtColor(model_view(crop), cv2.COLOR_RGB2BGR)
        colour = (40, 40, 220) if score >= 0 else (60, 160, 60)
        cv2.rectangle(tile, (0, TILE - 22), (TILE, TILE), (255, 255, 255), -1)
        cv2.putText(tile, f"{score:+.2f}", (6, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 2, cv2.LINE_AA)
        tiles.append(tile)
    strip = np.concatenate(tiles, axis=1)
    band = np.full((26, strip.shape[1], 3), 255, np.uint8)
    cv2.putText(band, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, strip], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--real", type=Path, nargs="+", required=True)
    parser.add_argument("--fake", type=Path, nargs="+", required=True)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--sample", type=int, default=1500, help="crops scored per side")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    real = cap(load_cache(args.real), args.sample, 0)
    fake = cap(load_cache(args.fake), args.sample, 0)
    real_scores, fake_scores = margins(args.model, real.rgb), margins(args.model, fake.rgb)
    worst_real = np.argsort(-real_scores)[: args.count]
    worst_fake = np.argsort(fake_scores)[: args.count]
    sheet = np.concatenate(
        [
            row(real.rgb[worst_real], real_scores[worst_real], f"{args.model}: real photos it scores highest"),
            row(fake.rgb[worst_fake], fake_scores[worst_fake], f"{args.model}: fakes it scores lowest"),
        ],
        axis=0,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet)
    flagged, detected = np.mean(real_scores >= 0), np.mean(fake_scores >= 0)
    print(f"wrote {args.out}: real flagged {flagged:.3f}, fakes detected {detected:.3f}")


if __name__ == "__main__":
    main()
