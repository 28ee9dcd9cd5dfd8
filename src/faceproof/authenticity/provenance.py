"""Provenance: what the file's own metadata says about where the image came from.

Why: many generators and editors label their output (C2PA manifests, IPTC ``DigitalSourceType`` in XMP, PNG
text chunks with the prompt, an EXIF ``Software`` tag), and camera photos usually carry consistent EXIF. These
labels are strong when present and claim AI origin (nobody forges "this is AI" onto a real photo), weak when
they claim a camera (EXIF is trivial to write), and their *absence* means nothing: uploads, messengers and our
own test data strip metadata. So a file without metadata scores 0 with confidence 0.

Sources, in order of weight: C2PA manifest (read with c2pa-python from ``metadata.raw``, offline: remote
manifests and OCSP are not fetched; if the library cannot read it, the presence of a JUMBF ``c2pa`` box is
still reported), IPTC DigitalSourceType (XMP or C2PA actions), generator PNG text chunks (A1111
``parameters``, ComfyUI ``prompt`` / ``workflow``, InvokeAI, NovelAI), generator or editor names in EXIF/XMP
software fields, camera EXIF plausibility.

A C2PA manifest is weighed by its validation state, because a signature is only as good as what it proves:
- ``Trusted`` (the signer chains to a trust anchor the operator configured in ``FACEPROOF_C2PA_TRUST_ANCHORS``):
  a camera claim counts as fully as plausible camera EXIF does.
- ``Valid`` but ``signingCredential.untrusted`` (well formed, signer unknown - what every self-made certificate
  gives): a camera claim counts no more than an unsigned XMP label, since anyone can make such a certificate.
- ``Invalid`` (the image changed after signing, or the manifest or signature does not verify): its camera claim
  counts for nothing - a credential copied onto an edited picture must not vouch for it - and the breakage itself
  is reported as evidence of editing. Claims of AI or composite origin still count, like unsigned labels: they
  incriminate the file, so nobody has a reason to forge them.

Features (0/1 flags except ``prov_camera``):
- ``prov_generated``: a generator label (AI DigitalSourceType, generator PNG chunk or software name).
- ``prov_composite``: a composite-with-AI label (``compositeWithTrainedAlgorithmicMedia``): swaps, inpainting.
- ``prov_edited``: editing software, a human-edit/composite DigitalSourceType, or an invalid C2PA manifest.
- ``prov_camera``: 0 none, 0.5 camera make/model only or an unsigned/untrusted capture claim, 1 make/model with
  plausible exposure settings or a capture claim from a trusted C2PA signer.
- ``prov_c2pa``: a C2PA manifest is present (read or not).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceproof.authenticity.base import FakeKind, Finding, SignalInput
from faceproof.intake import ImageMetadata

log = logging.getLogger(__name__)

SIGNAL = "provenance"
NO_METADATA = "no provenance metadata (normal; not evidence)"
#: Environment variable naming a PEM file of trusted C2PA root certificates (e.g. the C2PA trust list).
TRUST_ANCHORS_ENV = "FACEPROOF_C2PA_TRUST_ANCHORS"
#: Why a camera claim never clears a photo: anyone can write one, and a camera can photograph a screen.
CAMERA_CAVEAT = "weak evidence: easy to forge unless signed by a trusted signer, and no proof of what was photographed"

# IPTC NewsCodes digitalsourcetype terms (https://cv.iptc.org/newscodes/digitalsourcetype/).
_DST_GENERATED = {"trainedalgorithmicmedia", "algorithmicmedia"}
_DST_COMPOSITE_AI = {"compositewithtrainedalgorithmicmedia"}
_DST_EDITED = {"compositesynthetic", "compositecapture", "humanedits", "algorithmicallyenhanced"}
_DST_CAMERA = {"digitalcapture", "computationalcapture", "minorhumanedits"}
_DST_RECAPTURE = {"screencapture", "print", "positivefilm", "negativefilm"}

_GENERATOR_CHUNKS = {
    "parameters",
    "prompt",
    "workflow",
    "invokeai_metadata",
    "sd-metadata",
    "dream",
    "generation_data",
}
_GENERATOR_NAMES = (
    "stable diffusion",
    "stablediffusion",
    "automatic1111",
    "comfyui",
    "invokeai",
    "novelai",
    "midjourney",
    "dall-e",
    "dall·e",
    "dalle",
    "firefly",
    "imagen",
    "flux",
    "sdxl",
    "fooocus",
    "leonardo.ai",
    "ideogram",
    "runway",
    "openai",
    "gpt-4o",
    "gemini",
    "stylegan",
    "this person does not exist",
)
_EDITOR_NAMES = (
    "photoshop",
    "gimp",
    "lightroom",
    "affinity",
    "pixelmator",
    "snapseed",
    "facetune",
    "faceapp",
    "paint.net",
    "canva",
    "picsart",
    "photopea",
    "luminar",
    "capture one",
    "darktable",
    "rawtherapee",
    "remini",
    "meitu",
    "beautyplus",
    "airbrush",
    "photodirector",
)
_SOFTWARE_FIELDS = (
    "Software",
    "ProcessingSoftware",
    "ImageDescription",
    "UserComment",
    "Artist",
    "XPComment",
)
_XMP_SOFTWARE = re.compile(r"(?:CreatorTool|softwareAgent)\s*(?:=\s*\"([^\"]*)\"|>([^<]*)<)", re.IGNORECASE)
_XMP_DST = re.compile(r"DigitalSourceType\s*(?:=\s*\"([^\"]*)\"|>\s*([^<\s]*)\s*<)", re.IGNORECASE)
_MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "GIF": "image/gif",
}
_C2PA_UNTRUSTED = "signingCredential.untrusted"
# Failure codes meaning the hashed image bytes no longer match the manifest (C2PA 2.x, 15.10).
_C2PA_CONTENT_CHANGED = {
    "assertion.dataHash.mismatch",
    "assertion.boxesHash.mismatch",
    "assertion.bmffHash.mismatch",
    "assertion.collectionHash.mismatch",
}


@dataclass
class _Evidence:
    generated: list[str] = field(default_factory=list)
    composite: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    recaptured: list[str] = field(default_factory=list)
    camera: list[str] = field(default_factory=list)
    camera_level: float = 0.0
    invalid: list[str] = field(default_factory=list)
    c2pa: bool = False


def analyze(inp: SignalInput) -> Finding:
    """Provenance evidence from the file's metadata (the pixels are not looked at)."""
    try:
        ev = collect(inp.metadata)
    except Exception as exc:  # malformed metadata must never fail the analysis
        log.debug("provenance metadata unreadable: %s", exc)
        return Finding(SIGNAL, 0.0, 0.0, "generated", "provenance metadata unreadable (not evidence)", _features(None))
    features = _features(ev)
    kind: FakeKind
    if ev.generated:
        score, confidence, kind, what = (
            0.97,
            0.9,
            "generated",
            "labelled as AI-generated: " + "; ".join(ev.generated),
        )
    elif ev.composite:
        score, confidence, kind, what = (
            0.9,
            0.85,
            "swapped",
            "labelled as composite with AI: " + "; ".join(ev.composite),
        )
    elif ev.recaptured:
        score, confidence, kind, what = (
            0.7,
            0.5,
            "recaptured",
            "labelled as a capture of a screen/print: " + "; ".join(ev.recaptured),
        )
    elif ev.invalid:
        score, confidence, kind, what = 0.6, 0.5, "edited", "; ".join(ev.invalid)
    elif ev.edited:
        score, confidence, kind, what = 0.6, 0.5, "edited", "edited: " + "; ".join(ev.edited)
    elif ev.camera:
        score, confidence, kind = 0.1, 0.15 + 0.2 * ev.camera_level, "generated"
        what = "camera capture claim: " + "; ".join(ev.camera) + f" ({CAMERA_CAVEAT})"
    elif ev.c2pa:
        score, confidence, kind, what = (
            0.2,
            0.2,
            "edited",
            "C2PA manifest present without an origin statement",
        )
    else:
        return Finding(SIGNAL, 0.0, 0.0, "generated", NO_METADATA, features)
    return Finding(SIGNAL, score, confidence, kind, what, features)


def collect(meta: ImageMetadata) -> _Evidence:
    """Gather every provenance statement the metadata makes (see the module docstring for the sources)."""
    ev = _Evidence()
    _from_c2pa(meta, ev)
    for dst in _xmp_source_types(meta.xmp):
        _add_source_type(dst, "XMP DigitalSourceType", ev)
    for key, value in meta.text_chunks.items():
        if key.lower() in _GENERATOR_CHUNKS:
            ev.generated.append(f"PNG text chunk '{key}' (generator settings)")
        elif _match(value, _GENERATOR_NAMES) and key.lower() in {
            "software",
            "source",
            "comment",
            "description",
        }:
            ev.generated.append(f"PNG '{key}': {value[:60]}")
    software = [str(meta.exif.get(name, "")) for name in _SOFTWARE_FIELDS]
    software += [a or b for a, b in _XMP_SOFTWARE.findall(meta.xmp)]
    for text in filter(None, software):
        if (name := _match(text, _GENERATOR_NAMES)) is not None:
            ev.generated.append(f"software '{text[:60]}' ({name})")
        elif (name := _match(text, _EDITOR_NAMES)) is not None:
            ev.edited.append(f"software '{text[:60]}'")
    _camera(meta.exif, ev)
    return ev


def _match(text: str, names: tuple[str, ...]) -> str | None:
    low = text.lower()
    return next((n for n in names if re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", low)), None)


def _xmp_source_types(xmp: str) -> list[str]:
    return [(a or b).rstrip("/").rsplit("/", 1)[-1] for a, b in _XMP_DST.findall(xmp or "") if (a or b)]


def _add_source_type(term: str, where: str, ev: _Evidence, camera_level: float = 0.5) -> None:
    """File one DigitalSourceType statement; ``camera_level`` is what a capture claim from ``where`` is worth."""
    low = term.lower()
    label = f"{where} {term}"
    if low in _DST_GENERATED:
        ev.generated.append(label)
    elif low in _DST_COMPOSITE_AI:
        ev.composite.append(label)
    elif low in _DST_EDITED:
        ev.edited.append(label)
    elif low in _DST_RECAPTURE:
        ev.recaptured.append(label)
    elif low in _DST_CAMERA:
        ev.camera.append(label)
        ev.camera_level = max(ev.camera_level, camera_level)


def _from_c2pa(meta: ImageMetadata, ev: _Evidence) -> None:
    """File what the C2PA manifests say, weighed by the validation state (see the module docstring)."""
    raw = meta.raw
    if not raw or (b"c2pa" not in raw and b"jumb" not in raw):
        return
    report = _read_c2pa(raw, _MIME.get(meta.format.upper(), ""))
    if report is None:
        ev.c2pa = b"c2pa" in raw
        return
    ev.c2pa = True
    manifests: dict[str, Any] = report.get("manifests") or {}
    active = report.get("active_manifest")
    ordered = [manifests[active]] if active in manifests else []
    ordered += [m for k, m in manifests.items() if k != active]
    generator = _claim_generator(ordered[0]) if ordered else "unknown"
    # c2pa-rs sets validation_state to Trusted, Valid (well formed; the signer may be untrusted) or Invalid; a
    # report without one proves nothing, so it is treated as Invalid.
    state = str(report.get("validation_state") or "no validation state")
    failures = sorted(
        {str(s.get("code")) for s in report.get("validation_status") or [] if isinstance(s, dict)} - {_C2PA_UNTRUSTED}
    )
    signer = _signer(ordered[0]) if ordered else "an unnamed certificate"
    valid = state in {"Trusted", "Valid"}
    if valid:
        trust = "trusted" if state == "Trusted" else "untrusted"
        where = f"C2PA manifest (claim generator {generator}; signed by {signer}, {trust})"
    else:
        why = (
            "the image changed after signing"
            if _C2PA_CONTENT_CHANGED & set(failures)
            else "the manifest or its signature does not verify"
        )
        where = f"invalid C2PA manifest (claim generator {generator}; {why}: {', '.join(failures) or state})"
    voided: set[str] = set()
    for manifest in ordered:
        for assertion in manifest.get("assertions") or []:
            if not str(assertion.get("label", "")).startswith("c2pa.actions"):
                continue
            for action in (assertion.get("data") or {}).get("actions") or []:
                term = str(action.get("digitalSourceType") or "").rstrip("/").rsplit("/", 1)[-1]
                if not valid and term.lower() in _DST_CAMERA:
                    voided.add(term)
                elif term:
                    _add_source_type(term, f"{where} declares", ev, 1.0 if state == "Trusted" else 0.5)
    if not valid:
        ev.invalid.append(where + (f"; its {', '.join(sorted(voided))} claim does not count" if voided else ""))
    if (name := _match(generator, _GENERATOR_NAMES)) is not None:
        ev.generated.append(f"{where}: generator {name}")
    elif (name := _match(generator, _EDITOR_NAMES)) is not None:
        ev.edited.append(f"{where}: editor {name}")


def _c2pa_settings() -> dict[str, Any]:
    """Offline verification settings, plus the operator's trust anchors when :data:`TRUST_ANCHORS_ENV` names some.

    Why offline: a verdict must not depend on (or leak to) a remote server. Why trust anchors: without them c2pa
    can only say a signature is well formed (``signingCredential.untrusted``), never who signed it. An unreadable
    anchor file is logged and ignored: every signer is then untrusted, which under-rates but never over-rates.
    """
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if path := os.environ.get(TRUST_ANCHORS_ENV):
        try:
            settings["trust"] = {"trust_anchors": Path(path).read_text(encoding="ascii")}
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("%s=%s is unreadable (%s): every C2PA signer counts as untrusted", TRUST_ANCHORS_ENV, path, exc)
    return settings


def _read_c2pa(raw: bytes, mime: str) -> dict[str, Any] | None:
    """The C2PA report as a dict, or None when there is none or the library cannot read it (logged)."""
    settings = _c2pa_settings()
    try:
        import c2pa  # native library: loaded only for files that carry JUMBF data

        context = c2pa.Context.from_dict(settings)
        reader = c2pa.Reader.try_create(mime or None, io.BytesIO(raw), None, context)
        if reader is None:
            return None
        with reader:
            return json.loads(reader.json())
    except Exception as exc:  # any failure in the native reader falls back to the box check
        log.info("C2PA data present but not readable: %s", exc)
        return None


def _claim_generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info") or []
    names = [f"{i.get('name', '')} {i.get('version', '')}".strip() for i in info if isinstance(i, dict)]
    return ", ".join(filter(None, names)) or str(manifest.get("claim_generator") or "unknown")


def _signer(manifest: dict[str, Any]) -> str:
    """Who the signing certificate names: its common name and issuer, as c2pa reports them."""
    info = manifest.get("signature_info") or {}
    name, issuer = str(info.get("common_name") or ""), str(info.get("issuer") or "")
    if not name:
        return f"a certificate issued by '{issuer}'" if issuer else "an unnamed certificate"
    return f"'{name}'" + (f" of '{issuer}'" if issuer else "")


def _camera(exif: dict[str, Any], ev: _Evidence) -> None:
    make, model = str(exif.get("Make", "")).strip(), str(exif.get("Model", "")).strip()
    if not (make or model):
        return
    checks = {
        "ExposureTime": (1 / 64000, 60.0),
        "FNumber": (0.7, 64.0),
        "ISOSpeedRatings": (3, 819200),
        "FocalLength": (0.5, 2400.0),
    }
    present = plausible = 0
    for tag, (lo, hi) in checks.items():
        value = _number(exif.get(tag))
        if value is not None:
            present += 1
            plausible += int(lo <= value <= hi)
    level = 1.0 if present >= 2 and plausible == present else 0.5
    ev.camera.append(f"{make} {model}".strip() + (", exposure settings plausible" if level == 1.0 else ""))
    ev.camera_level = max(ev.camera_level, level)
    if present and plausible < present:
        ev.edited.append(f"camera EXIF with implausible exposure values ({make} {model})".strip())


def _number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _features(ev: _Evidence | None) -> dict[str, float]:
    if ev is None:
        return dict.fromkeys(("prov_generated", "prov_composite", "prov_edited", "prov_camera", "prov_c2pa"), 0.0)
    return {
        "prov_generated": float(bool(ev.generated)),
        "prov_composite": float(bool(ev.composite)),
        "prov_edited": float(bool(ev.edited or ev.invalid)),
        "prov_camera": ev.camera_level,
        "prov_c2pa": float(ev.c2pa),
    }
