"""Show where the authenticity engine fails: the real photos it finds most suspicious and the fakes it misses.

Runs the shipped engine (nothing is fitted) over a manifest (``file,label,identity``) on the batch engine, then
writes a contact sheet - per row, the worst cases of one group with their ``fake_probability``, verdict and the
signal that contributed most - and prints a markdown table of the same cases. Thumbnails are 160 px: enough to
see why (a studio backdrop, heavy make-up, a smooth diffusion skin), small enough to commit.

Usage::

    .venv/bin/python scripts/failure_cases.py --manifest ../shared/data/manifest.csv \
        --out docs/img/authenticity_failures.jpg
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

THUMB = 160
PER_ROW = 5


@dataclass(frozen=True)
class Case:
    file: str
    label: str
    probability: float
    verdict: str
    kind: str
    top_signal: str


def assess_file(path: Path) -> tuple[float, str, str, str] | None:
    """Worker side: (fake_probability, verdict, suspected kind, top contributing signal); None without a face."""
    from faceproof.analysis import analyze
    from faceproof.authenticity.engine import assess
    from faceproof.errors import FaceproofError

    try:
        report = assess(analyze(path, with_dlib=False))
    except FaceproofError:
        return None
    parts = report.contributions
    top = max(parts, key=lambda k: parts[k]) if parts else "-"
    return report.fake_probability, report.verdict, report.suspected_kind or "-", top


def thumbnail(path: Path, caption: list[str]) -> np.ndarray:
    image = cv2.imread(str(path))
    h, w = image.shape[:2]
    side = min(h, w)
    crop = image[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
    tile = cv2.resize(crop, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    band = np.full((44, THUMB, 3), 255, np.uint8)
    for i, line in enumerate(caption):
        cv2.putText(band, line, (3, 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def main() -> None:
    from faceproof.batch import open_engine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    root = args.manifest.parent
    with args.manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    engine = open_engine("local", args.workers)
    try:
        outcomes = list(engine.imap(assess_file, [root / r["file"] for r in rows]))
    finally:
        engine.close()
    cases = [Case(r["file"], r["label"], *o) for r, o in zip(rows, outcomes, strict=True) if o is not None]
    groups = {
        "real photos, most suspicious": sorted((c for c in cases if c.label == "real"), key=lambda c: -c.probability)
    }
    for label in sorted({c.label for c in cases} - {"real"}):
        mine = sorted((c for c in cases if c.label == label), key=lambda c: c.probability)
        groups[f"{label}, least suspicious"] = mine
    sheet_rows = []
    print("| group | file | fake_probability | verdict | kind | top signal |\n|---|---|---:|---|---|---|")
    for title, members in groups.items():
        tiles = []
        for c in members[:PER_ROW]:
            caption = [f"p={c.probability:.2f} {c.verdict}", f"top: {c.top_signal}", Path(c.file).name]
            tiles.append(thumbnail(root / c.file, caption))
            print(f"| {title} | `{c.file}` | {c.probability:.3f} | {c.verdict} | {c.kind} | {c.top_signal} |")
        while len(tiles) < PER_ROW:
            tiles.append(np.full_like(tiles[0], 255))
        header = np.full((22, THUMB * PER_ROW, 3), 235, np.uint8)
        cv2.putText(header, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        sheet_rows.append(np.vstack([header, np.hstack(tiles)]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(sheet_rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"\ncontact sheet written to {args.out}")


if __name__ == "__main__":
    main()
