"""One format for every model faceproof learns: an ONNX graph plus a model card, loaded by one loader.

Why one format: a learned detector is only trustworthy when what it is (input contract, training data, seeds,
validation figures, licences of weights and data) travels with its weights, and when the service can run it
without the framework that trained it. So every learned model ships as ``faceproof/data/models/NAME.onnx`` with
``NAME.card.json`` beside it; the card records the ONNX file's sha256, which the loader checks, so a card never
describes other weights than the ones that run. Training (``faceproof train``) writes both with :func:`save`;
the service reads them with :func:`load`: once per process, lazily, thread-safe (:class:`~faceproof.models.lazy.
Lazy`), with the same session options as every other network (:func:`faceproof.models.runtime.ort_session`: one
intra-op thread, because a 2-core server parallelises across requests, not inside one network).

A model may run on the outputs of another: the crop detectors are small heads on one shared frozen backbone
(``crop_backbone``), so that one backbone pass per face serves them all and the 13 MB of backbone weights ship and
load once. Such a card's ``requires`` names each artefact it runs on with that artefact's ONNX sha256, and the
loader refuses the pair when the installed one differs: a head fitted on other features would still run and give
wrong scores quietly. Requirements are one level deep (a required artefact requires nothing), so loading can
neither loop nor deadlock, and :func:`load` resolves them through the same shared cache: one backbone session per
process, whatever number of heads use it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceproof.models.lazy import Lazy
from faceproof.models.runtime import ort_session

CARD_SUFFIX = ".card.json"
FORMAT = "faceproof-model/1"


class ArtifactError(RuntimeError):
    """A model file is missing, or its card does not describe it (sha256 mismatch, wrong format)."""


@dataclass(frozen=True)
class ModelCard:
    """What a shipped model is, how it was made and how well it did; stored as JSON beside the ONNX graph.

    ``inputs`` / ``outputs``: tensor name -> human-readable contract (shape, dtype, pre-processing).
    ``parameters``: numbers the caller needs besides the graph (operating thresholds, neutral values, names of
    features), never weights. ``training``: data manifest sha256, row counts, seeds, recipe. ``metrics``: the
    validation figures, with how they were measured. ``licence``: of the weights and of the training data.
    """

    name: str
    version: str
    task: str
    onnx_sha256: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format: str = FORMAT
    requires: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelCard:
        if raw.get("format") != FORMAT:
            raise ArtifactError(f"unknown model card format {raw.get('format')!r} (expected {FORMAT!r})")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def models_dir() -> Path:
    return Path(str(importlib.resources.files("faceproof") / "data" / "models"))


class Artifact:
    """A loaded model: its card, an ONNX Runtime session (whose ``run`` is thread-safe), and the loaded artefacts
    its card requires (``requires``: name -> artefact, checked against the card's sha256)."""

    def __init__(self, card: ModelCard, model_bytes: bytes, requires: Mapping[str, Artifact] | None = None) -> None:
        self.card = card
        self.requires = dict(requires or {})
        self._session = ort_session(model_bytes)
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    @property
    def parameters(self) -> dict[str, Any]:
        return self.card.parameters

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = list(outputs or self.output_names)
        values = self._session.run(names, dict(feeds))
        return dict(zip(names, values, strict=True))


def read(name: str, directory: Path | None = None) -> Artifact:
    """Load ``NAME.onnx`` and its card from ``directory`` (default: the package's models), checking the sha256,
    with the artefacts it requires read from the same folder."""
    folder = directory or models_dir()
    return _read(name, folder, lambda required: read(required, folder))


def read_graph(name: str, directory: Path | None = None) -> tuple[ModelCard, bytes]:
    """The card and the ONNX bytes of ``name``, checked against the card's sha256, without starting a session:
    for an artefact whose weights go into another graph (:func:`faceproof.models.sface.with_weights`)."""
    folder = directory or models_dir()
    card = read_card(name, folder)
    onnx_path = folder / f"{name}.onnx"
    if not onnx_path.is_file():
        raise ArtifactError(f"model {name!r} is not installed: expected {onnx_path.name} beside its card")
    model_bytes = onnx_path.read_bytes()
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest != card.onnx_sha256:
        raise ArtifactError(
            f"{onnx_path.name} does not match its card (sha256 {digest[:12]} != {card.onnx_sha256[:12]})"
        )
    return card, model_bytes


def _read(name: str, folder: Path, resolve: Callable[[str], Artifact]) -> Artifact:
    card, model_bytes = read_graph(name, folder)
    requires: dict[str, Artifact] = {}
    for required, sha in card.requires.items():
        installed = read_card(required, folder)
        if installed.onnx_sha256 != sha:
            raise ArtifactError(
                f"{name!r} runs on {required!r} sha256 {sha[:12]}, but the installed {required!r} is "
                f"{installed.onnx_sha256[:12]}: install the {required!r} it was fitted on, or refit {name!r}"
            )
        if installed.requires:
            raise ArtifactError(f"{name!r} requires {required!r}, which requires others: one level only")
        requires[required] = resolve(required)
    return Artifact(card, model_bytes, requires)


def read_card(name: str, directory: Path | None = None) -> ModelCard:
    """The card of ``name`` alone (no graph is loaded)."""
    card_path = (directory or models_dir()) / f"{name}{CARD_SUFFIX}"
    if not card_path.is_file():
        raise ArtifactError(f"model {name!r} is not installed: expected {card_path.name} and {name}.onnx")
    return ModelCard.from_dict(json.loads(card_path.read_text("utf-8")))


def save(model_bytes: bytes, card: ModelCard, directory: Path) -> Path:
    """Write ``NAME.onnx`` and ``NAME.card.json`` (the card's sha256 set from the bytes); returns the ONNX path."""
    directory.mkdir(parents=True, exist_ok=True)
    card = ModelCard(**{**card.to_dict(), "onnx_sha256": hashlib.sha256(model_bytes).hexdigest()})
    onnx_path = directory / f"{card.name}.onnx"
    onnx_path.write_bytes(model_bytes)
    (directory / f"{card.name}{CARD_SUFFIX}").write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n")
    return onnx_path


_cache: dict[str, Lazy[Artifact]] = {}
_cache_lock = threading.Lock()


def _lazy(name: str) -> Lazy[Artifact]:
    with _cache_lock:
        lazy = _cache.get(name)
        if lazy is None:
            lazy = _cache[name] = Lazy(lambda: _read(name, models_dir(), load))
        return lazy


def load(name: str) -> Artifact:
    """The shipped model ``name``, loaded on first use and shared by every thread afterwards."""
    return _lazy(name).get()


def is_loaded(name: str) -> bool:
    with _cache_lock:
        lazy = _cache.get(name)
    return lazy is not None and lazy.loaded


def shipped() -> list[ModelCard]:
    """The cards of every model in the package (for ``GET /version`` and the docs)."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    return [ModelCard.from_dict(json.loads(p.read_text("utf-8"))) for p in sorted(folder.glob(f"*{CARD_SUFFIX}"))]
