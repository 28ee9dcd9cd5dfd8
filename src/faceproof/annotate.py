"""Draw what faceproof measured onto the photo: detection boxes, the 478-point mesh, the irises and the head pose;
and the pictures of the evidence behind an authenticity finding.

Why: numbers such as "yaw +12°" or "mesh outside the image" are only trustworthy once a person can see that the
mesh actually sits on the face that was measured (and not on a neighbour in a group photo, or half off a cropped
forehead). ``faceproof analyze IMAGE --annotate OUT.png`` writes this picture; the web page draws the same mesh
client-side. A finding that points to a fake is easier to trust, or to doubt, beside a picture of where its evidence
lies: :func:`render_evidence` draws one map of :mod:`faceproof.authenticity.evidence` over the face - a heat map
blended over the photo, the face outline, the estimated blending boundary, the replay's spectrum or the mesh - with
a caption whose words come from :mod:`faceproof.decision.wording`. The API (``?evidence=``), the web page and
``analyze --annotate`` (``OUT.evidence.png``) all show these panels.

:func:`annotate` and :func:`render_evidence` are pure: they copy the RGB array and draw with OpenCV (and Pillow for
the caption's text), so they are cheap to test and to call from any front end. The mesh topology (tessellation,
contours, irises, face oval) comes from MediaPipe's connection tables, imported lazily because importing MediaPipe
takes about a second.
"""

from __future__ import annotations

import logging
import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceproof.analysis import Analysis
from faceproof.authenticity.engine import AuthenticityReport
from faceproof.authenticity.evidence import EvidenceMap, Scope, evidence_maps
from faceproof.decision import wording
from faceproof.decision.verify import GeometryAgreement

log = logging.getLogger(__name__)

Edges = tuple[tuple[int, int], ...]

# Colours are RGB (the array is RGB, not OpenCV's usual BGR).
SUBJECT_BOX = (46, 204, 113)
OTHER_BOX = (241, 196, 15)
TESSELATION = (200, 200, 200)
CONTOUR = (255, 255, 255)
IRIS = (0, 200, 255)
AXIS_X, AXIS_Y, AXIS_Z = (230, 60, 60), (60, 200, 60), (70, 110, 255)

NOSE_TIP = 1  # MediaPipe mesh index used as the origin of the head-pose axes
RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE = 468, 473
RIGHT_IRIS_RING, LEFT_IRIS_RING = (469, 470, 471, 472), (474, 475, 476, 477)
MESH_OPACITY = 0.45  # the tessellation is blended so the skin underneath stays visible
AXIS_LENGTH = 0.45  # fraction of the face box width


@cache
def _topology() -> tuple[Edges, Edges, Edges]:
    """(tessellation, contour and face-oval edges) of the MediaPipe face mesh, sorted for deterministic drawing."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    return (
        tuple(sorted(fmc.FACEMESH_TESSELATION)),
        tuple(sorted(fmc.FACEMESH_CONTOURS)),
        tuple(sorted(fmc.FACEMESH_FACE_OVAL)),
    )


def _stroke(image: np.ndarray) -> int:
    """Line thickness that stays visible on large photos and thin on small ones."""
    return max(1, round(max(image.shape[:2]) / 600))


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def _draw_boxes(out: np.ndarray, analysis: Analysis, thickness: int) -> None:
    subject_index = analysis.subject.face_index
    for index, face in enumerate(analysis.faces):
        x, y, w, h = (round(float(v)) for v in face.box)
        colour = SUBJECT_BOX if index == subject_index else OTHER_BOX
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness + (index == subject_index), cv2.LINE_AA)
        label = f"#{index} {face.score:.2f}"
        scale = max(0.4, w / 400)
        cv2.putText(out, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _draw_mesh(out: np.ndarray, landmarks: np.ndarray, thickness: int) -> None:
    tessellation, contours, _ = _topology()
    xy = landmarks[:, :2]
    layer = out.copy()
    for a, b in tessellation:
        cv2.line(layer, _pt(xy[a]), _pt(xy[b]), TESSELATION, 1, cv2.LINE_AA)
    cv2.addWeighted(layer, MESH_OPACITY, out, 1 - MESH_OPACITY, 0, dst=out)
    for a, b in contours:
        cv2.line(out, _pt(xy[a]), _pt(xy[b]), CONTOUR, thickness, cv2.LINE_AA)
    for point in xy:
        cv2.circle(out, _pt(point), thickness, CONTOUR, -1, cv2.LINE_AA)
    for centre, ring in ((RIGHT_IRIS_CENTRE, RIGHT_IRIS_RING), (LEFT_IRIS_CENTRE, LEFT_IRIS_RING)):
        radius = float(np.mean(np.linalg.norm(xy[list(ring)] - xy[centre], axis=1)))
        cv2.circle(out, _pt(xy[centre]), max(1, round(radius)), IRIS, thickness + 1, cv2.LINE_AA)
        cv2.circle(out, _pt(xy[centre]), thickness + 1, IRIS, -1, cv2.LINE_AA)


def pose_axes(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The head's x (subject's left, image right), y (up) and z (forward, out of the face) unit axes as rows, in
    camera coordinates (x right, y down, z into the scene), following the pose conventions of
    :mod:`faceproof.measure.geometry`: a frontal face has forward = (0, 0, -1); yaw > 0 turns it to the image
    right, pitch > 0 raises it, roll > 0 rotates it clockwise in the image."""
    cy, sy = math.cos(math.radians(-yaw)), math.sin(math.radians(-yaw))
    cp, sp = math.cos(math.radians(-pitch)), math.sin(math.radians(-pitch))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rot_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    rotation = rot_z @ rot_x @ rot_y
    frontal = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    return (rotation @ frontal.T).T


def _draw_pose(out: np.ndarray, analysis: Analysis, thickness: int) -> None:
    subject = analysis.subject
    g = subject.geometry
    if g is None:
        return
    origin = subject.landmarks[NOSE_TIP, :2] if subject.landmarks is not None else subject.face.keypoints[2]
    length = AXIS_LENGTH * float(subject.face.box[2])
    start = np.asarray(origin, dtype=np.float64)
    for axis, colour in zip(pose_axes(g.yaw, g.pitch, g.roll), (AXIS_X, AXIS_Y, AXIS_Z), strict=True):
        end = start + length * axis[:2]  # orthographic projection onto the image plane
        cv2.arrowedLine(out, _pt(start), _pt(end), colour, thickness + 1, cv2.LINE_AA, tipLength=0.15)


def annotate(rgb: np.ndarray, analysis: Analysis) -> np.ndarray:
    """A copy of ``rgb`` (H, W, 3 uint8, the upright image that was analysed) with every detected face's box (the
    measured one in green, others in yellow, each with its index and score), the measured face's mesh (faint
    tessellation, white contours and points), the irises (cyan circles) and its head-pose axes at the nose tip
    (red = subject's left, green = up, blue = forward). Faces without a mesh get only their box."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"annotate needs an RGB uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
    out = np.ascontiguousarray(rgb).copy()
    thickness = _stroke(out)
    if analysis.subject.landmarks is not None:
        _draw_mesh(out, analysis.subject.landmarks, thickness)
    _draw_boxes(out, analysis, thickness)
    _draw_pose(out, analysis, thickness)
    return out


def annotation_path(out: Path, image: Path, *, several: bool) -> Path:
    """Where ``analyze --annotate OUT`` writes the picture for ``image``: OUT itself for a single image; with
    several images OUT is a folder (created if missing) holding ``<image stem>.annotated.png`` for each."""
    return out / f"{image.stem}.annotated.png" if several else out


def save_annotation(analysis: Analysis, out: Path) -> Path:
    """Annotate the analysed image and write it to ``out`` (format from the suffix; PNG recommended)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    picture = annotate(analysis.image.rgb, analysis)
    if not cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {out} (unsupported suffix or unwritable folder)")
    log.info("annotated image written to %s", out)
    return out


# ---------------------------------------------------------------- evidence pictures

#: Evidence panels: the photo about the face (this many times the face box's longer side, clipped to the image),
#: PANEL_PX pixels wide, with the caption under it.
PANEL_CONTEXT = 1.8
PANEL_PX = 360
#: Opacity of the heat colour where the map is at its top (it fades with the map, so the photo shows through).
HEAT_OPACITY = 0.65
#: The boundary map's level drawn as the estimated blending boundary.
BOUNDARY_LEVEL = 0.5
#: Side of the spectrum inset, as a fraction of the panel's width.
INSET_SHARE = 0.4
OUTLINE = (255, 255, 255)
BOUNDARY = IRIS
#: The caption's colours by tone: the web page's (app.css), so a picture and the page agree.
TONE_INK = {"pass": (23, 107, 44), "warn": (138, 75, 0), "fail": (179, 38, 30), "neutral": (74, 83, 96)}
INK, PAPER = (27, 31, 36), (255, 255, 255)
TITLE_PT, TEXT_PT, PAD = 15, 13, 8
#: Glyphs the caption font lacks, written as the ASCII a reader knows.
_PLAIN = str.maketrans({"≥": ">=", "≤": "<=", "—": "-", "–": "-", "−": "-"})


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """The colour scale of every evidence picture (inferno: dark = none, yellow = strong), RGB uint8."""
    scaled = np.clip(np.round(heat * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def panel_region(face_box: tuple[float, float, float, float], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the square about the face that an evidence panel shows, clipped to the image."""
    x, y, w, h = (float(v) for v in face_box)
    half = PANEL_CONTEXT * max(w, h) / 2.0
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    x1, y1 = min(shape[1], math.ceil(cx + half)), min(shape[0], math.ceil(cy + half))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0, 0, shape[1], shape[0]
    return x0, y0, x1, y1


def render_evidence(m: EvidenceMap, analysis: Analysis) -> np.ndarray:
    """One evidence panel (RGB uint8, ``PANEL_PX`` wide): the photo about the face with ``m`` drawn over it - its
    heat blended in the colour scale, the face outline (the mesh's face oval, or the face box without a mesh), the
    estimated blending boundary (the boundary map's half level), the spectrum inset with the window it was taken
    from, or the mesh - and under it the caption, in the finding's colour, with the colour scale."""
    x0, y0, x1, y1 = panel_region(analysis.subject.face.box, analysis.image.rgb.shape)
    s = PANEL_PX / (x1 - x0)
    size = (PANEL_PX, max(1, round((y1 - y0) * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(analysis.image.rgb[y0:y1, x0:x1]), size, interpolation=interp)

    def at(xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy, np.float64)[..., :2] - (x0, y0)) * s

    if m.heat is not None:
        heat = cv2.resize(m.heat[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
        alpha = (HEAT_OPACITY * np.clip(heat, 0.0, 1.0))[..., None]
        out = np.round(out * (1.0 - alpha) + heat_colours(heat) * alpha).astype(np.uint8)
        if m.kind == "boundary":
            contours, _ = cv2.findContours((heat >= BOUNDARY_LEVEL).astype(np.uint8), cv2.RETR_EXTERNAL, 2)
            cv2.drawContours(out, contours, -1, BOUNDARY, 2, cv2.LINE_AA)
    landmarks = analysis.subject.landmarks
    if m.kind == "mesh" and m.landmarks is not None:
        scaled = m.landmarks.astype(np.float64).copy()
        scaled[:, :2] = at(m.landmarks)
        _draw_mesh(out, scaled, 1)
    elif landmarks is not None:
        _, _, oval = _topology()
        for a, b in oval:
            cv2.line(out, _pt(at(landmarks[a])), _pt(at(landmarks[b])), OUTLINE, 1, cv2.LINE_AA)
    else:
        bx, by, bw, bh = analysis.subject.face.box
        corners = at(np.array([[bx, by], [bx + bw, by + bh]]))
        cv2.rectangle(out, _pt(corners[0]), _pt(corners[1]), OUTLINE, 1, cv2.LINE_AA)
    if m.spectrum is not None and m.region is not None:
        rx, ry, rw, rh = m.region
        corners = at(np.array([[rx, ry], [rx + rw, ry + rh]]))
        cv2.rectangle(out, _pt(corners[0]), _pt(corners[1]), OUTLINE, 1, cv2.LINE_AA)
        _inset(out, m.spectrum)
    strip = _caption(m.caption, PANEL_PX, scale=m.kind != "mesh")
    return np.vstack([out, strip])


def _inset(out: np.ndarray, spectrum: np.ndarray) -> None:
    """The spectrum (DC at the centre, each axis -0.5..0.5 cycles per pixel), square, in the panel's top-right
    corner with a white frame."""
    side = max(16, round(INSET_SHARE * out.shape[1]))
    side = min(side, out.shape[0] - 4, out.shape[1] - 4)
    picture = heat_colours(cv2.resize(spectrum, (side, side), interpolation=cv2.INTER_AREA))
    x, y = out.shape[1] - side - 3, 3
    cv2.rectangle(out, (x - 2, y - 2), (x + side + 1, y + side + 1), OUTLINE, 2)
    out[y : y + side, x : x + side] = picture


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels (a longer word keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _caption(caption: wording.Headline, width: int, *, scale: bool) -> np.ndarray:
    """The strip under a panel: the title in the tone's colour, the sentence, and the colour scale with its ends."""
    title, text = _font(TITLE_PT), _font(TEXT_PT)
    lines = _wrap(caption.text.translate(_PLAIN), text, width - 3 * PAD)
    line_px = TEXT_PT + 4
    bar = 2 * line_px if scale else 0
    height = PAD + TITLE_PT + 6 + line_px * len(lines) + bar + PAD
    strip = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(strip)
    ink = TONE_INK[caption.tone]
    draw.rectangle((0, 0, 3, height), fill=ink)
    draw.text((2 * PAD, PAD), caption.title.translate(_PLAIN), font=title, fill=ink)
    y = PAD + TITLE_PT + 6
    for line in lines:
        draw.text((2 * PAD, y), line, font=text, fill=INK)
        y += line_px
    if scale:
        low, high = wording.EVIDENCE_SCALE
        left = 2 * PAD + round(text.getlength(low)) + PAD
        right = width - PAD - round(text.getlength(high)) - PAD
        draw.text((2 * PAD, y + 2), low, font=text, fill=INK)
        draw.text((right + PAD, y + 2), high, font=text, fill=INK)
        ramp = heat_colours(np.linspace(0.0, 1.0, max(1, right - left))[None, :].repeat(10, axis=0))
        strip.paste(Image.fromarray(ramp), (left, y + 5))
    return np.asarray(strip)


def evidence_panels(
    analysis: Analysis,
    report: AuthenticityReport | None,
    scope: Scope = "flagged",
    geometry: GeometryAgreement | None = None,
) -> list[tuple[EvidenceMap, np.ndarray]]:
    """Every evidence map ``scope`` asks for (:func:`~faceproof.authenticity.evidence.evidence_maps`), rendered."""
    return [(m, render_evidence(m, analysis)) for m in evidence_maps(analysis, report, scope, geometry)]


def evidence_sheet(panels: list[np.ndarray]) -> np.ndarray:
    """Panels side by side on white, top-aligned, with a gap between them."""
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, PAD, 3), PAPER, np.uint8)
    padded = [np.vstack([p, np.full((height - p.shape[0], p.shape[1], 3), PAPER, np.uint8)]) for p in panels]
    return np.hstack([part for p in padded for part in (p, gap)][:-1])


#: zlib level of the evidence PNGs: a 360 x 482 panel is 204 kB in 10 ms at 3, 196 kB in 96 ms at 9.
PNG_COMPRESSION = 3


def encode_png(rgb: np.ndarray) -> bytes:
    """``rgb`` as PNG bytes."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError("the picture could not be encoded as PNG")
    return png.tobytes()


def evidence_path(out: Path, image: Path, *, several: bool) -> Path:
    """Where ``analyze --annotate OUT`` writes the evidence pictures of ``image``: beside its annotation, as
    ``<name>.evidence.png``."""
    annotated = annotation_path(out, image, several=several)
    return annotated.with_name(f"{image.stem if several else annotated.stem}.evidence.png")


def save_evidence(analysis: Analysis, report: AuthenticityReport, out: Path, scope: Scope = "flagged") -> bool:
    """Write the evidence panels ``scope`` asks for side by side to ``out`` (PNG); False, and nothing written, when
    no finding asked for has a picture."""
    panels = [picture for _, picture in evidence_panels(analysis, report, scope)]
    if not panels:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encode_png(evidence_sheet(panels)))
    log.info("evidence pictures written to %s", out)
    return True
