"""What every fit shares: the development data it reads (where, what, under which licences), the seed, and the
one JPEG round trip the trainers use. Kept in one place so that four model cards describe the same data the same
way, and a change of seed or data location is one edit.
"""

from __future__ import annotations

import csv
import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: The seed every shipped model was trained with (each fit derives its own streams from it).
SEED = 20261128
#: Where the development data lives in a checkout: ``<repo>/../shared/data`` (``manifest.csv`` and the images).
DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
#: The training data, as the model cards describe it.
DEV_DATA = (
    "shared/data (manifest.csv): 64 real photos (13 people of serengil/deepface's test set, 2 group photos, NASA's "
    "astronaut portrait), 70 StyleGAN2 faces (SFHQ) and 80 diffusion faces (SDXL, FLUX.1 [schnell]; SFHQ-T2I)"
)
#: Licences of the weights faceproof trains and of the data they were trained on (shared/data/LICENSES).
LICENCE = {
    "weights": "MIT (faceproof)",
    "data": "deepface test photos: MIT repository, third-party photos for testing only; astronaut: public domain "
    "(NASA, via scikit-image); SFHQ and SFHQ-T2I synthetic faces: MIT",
}


def seeded_hash(*parts: str) -> int:
    """A stable 32-bit hash of ``parts`` under the shared seed: a reproducible order, draw or split that does not
    depend on the order files are listed in (``"SEED|part|part..."``, CRC-32)."""
    return zlib.crc32("|".join((str(SEED), *parts)).encode())


def manifest(data: Path) -> list[dict[str, str]]:
    """The rows of ``data/manifest.csv`` (file, label, identity, generator, ...), in file order."""
    with (data / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def pil_jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` saved as a JPEG at ``quality`` by Pillow and decoded again (Pillow's encoder, as cameras and
    photo apps write; :func:`faceproof.training.augment.jpeg` is OpenCV's harsher messaging-app recompression)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
