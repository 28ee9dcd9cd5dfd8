"""Does the description stay the same person's? Per-attribute stability of its words across a person's photos.

Why: the description's categorical words (face shape, thirds, eye spacing, eye colour, skin tone) are meant to
describe the person, so two photos of one person must not contradict each other. A person is *stable* on an
attribute when one class is named by every one of their photos' readings: "oval" and "between oval and oblong"
agree (on oval), "oval" and "oblong" do not, and neither do "oval" and "between round and square". A photo whose
measurement was not supported (no reading) claims nothing and contradicts nothing; ``withheld`` reports how often
that happened, and ``decisive`` how often a reading named a single class, so that stability bought by saying
nothing, or by always saying "between", shows in the same table.

The development set is read through the real pipeline (:func:`faceproof.analysis.analyze`, every model real),
optionally under one of the everyday damages of :mod:`faceproof.evaluation.damage`. Used by the test
(``tests/test_attributes.py``), ``faceproof train attributes`` and the table in docs/profile.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from faceproof.errors import FaceproofError
from faceproof.evaluation.damage import check_damage, damaged
from faceproof.evaluation.manifest import read_manifest
from faceproof.profile.attributes import ATTRIBUTES, Reading


@dataclass(frozen=True)
class DevPhoto:
    """What the attribute readings need from one analysed photo (the form a profile stores)."""

    file: str
    geometry: dict[str, Any] | None
    appearance: dict[str, Any] | None
    reasons: tuple[str, ...]


def dev_photos(
    manifest: Path, root: Path, damage: Sequence[str] = (), min_photos: int = 2
) -> dict[str, list[DevPhoto]]:
    """Every real photo of every identity with at least ``min_photos`` of them, analysed (after ``damage``).

    A photo in which no face is found is left out, as the service would refuse it.
    """
    from faceproof.analysis import analyze

    damage = check_damage(damage)
    people: dict[str, list[str]] = {}
    for row in read_manifest(manifest):
        if row.is_real and row.identity:
            people.setdefault(row.identity, []).append(row.file)
    out: dict[str, list[DevPhoto]] = {}
    for identity, files in people.items():
        if len(files) < min_photos:
            continue
        for file in files:
            try:
                subject = analyze(damaged(root / file, damage) if damage else root / file, with_dlib=False).subject
            except FaceproofError:
                continue
            out.setdefault(identity, []).append(
                DevPhoto(
                    file=file,
                    geometry=asdict(subject.geometry) if subject.geometry else None,
                    appearance=asdict(subject.appearance) if subject.appearance else None,
                    reasons=subject.quality.reasons,
                )
            )
    return out


def is_stable(statements: Iterable[Collection[str]]) -> bool:
    """True when one class is named by every statement (each statement: the classes one photo's reading names)."""
    common: set[str] | None = None
    for classes in statements:
        common = set(classes) if common is None else common & set(classes)
    return common is None or bool(common)


@dataclass(frozen=True)
class Stability:
    """One attribute over the people of an evaluation."""

    people: int
    stable: int
    photos: int
    decisive: float  # fraction of the photos whose reading named one class
    withheld: float  # fraction of the photos without a reading
    unstable: tuple[str, ...]  # the people whose photos contradict each other

    @property
    def rate(self) -> float:
        return self.stable / self.people if self.people else 1.0


def attribute_stability(people: Mapping[str, Sequence[Mapping[str, Reading]]]) -> dict[str, Stability]:
    """Per attribute: how many people's photo readings (``people[who]``: one ``{attribute: Reading}`` per photo,
    a missing attribute meaning "not measurable on this photo") keep one class (see the module doc)."""
    out = {}
    for name in ATTRIBUTES:
        photos = [photo.get(name) for readings in people.values() for photo in readings]
        unstable = tuple(
            who for who, readings in people.items() if not is_stable(r[name].classes for r in readings if name in r)
        )
        out[name] = Stability(
            people=len(people),
            stable=len(people) - len(unstable),
            photos=len(photos),
            decisive=sum(1 for r in photos if r is not None and len(r.classes) == 1) / max(len(photos), 1),
            withheld=sum(1 for r in photos if r is None) / max(len(photos), 1),
            unstable=unstable,
        )
    return out
