"""Reading an evaluation manifest (``file,label,identity``): shared by the authenticity and profile evaluations."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManifestRow:
    file: str
    label: str  # "real" or any word naming a kind of fake (or the generator / method that made it)
    identity: str
    kind: str = ""  # optional grouping of labels: generated, swapped, replayed, ...

    @property
    def is_real(self) -> bool:
        return self.label == "real"


def read_manifest(path: Path) -> list[ManifestRow]:
    """Rows in file order; raises ValueError naming what is wrong."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label", "identity"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        rows = [
            ManifestRow(
                r["file"].strip(),
                (r["label"] or "").strip().lower(),
                (r["identity"] or "").strip(),
                (r.get("kind") or "").strip().lower(),
            )
            for r in reader
        ]
    if not rows:
        raise ValueError(f"{path}: no rows")
    if bad := [r.file for r in rows if not r.label]:
        raise ValueError(f"{path}: empty label for {bad[:3]}")
    return rows
