"""Draw what faceproof measured onto the photo: detection boxes, the 478-point mesh, the irises and the head pose.

Why: numbers such as "yaw +12°" or "mesh outside the image" are only trustworthy once a person can see that the
mesh actually sits on the face that was measured (and not on a neighbour in a group photo, or half off a cropped
forehead). ``faceproof analyze IMAGE --annotate OUT.png`` writes this picture; the web page draws the same mesh
client-side.

:func:`annotate` is pure: it copies the RGB array and draws with OpenCV only, so it is cheap to test and to call
from any front end. The mesh topology (tessellation, contours, irises) comes from MediaPipe's connection tables,
imported lazily because importing MediaPipe takes about a second.
"""

from __future__ import annotations

import logging
import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from faceproof.analysis import Analysis

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
def _topology() -> tuple[Edges, Edges]:
    """(tessellation edges, contour edges) of the MediaPipe face mesh, sorted for deterministic drawing."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    return tuple(sorted(fmc.FACEMESH_TESSELATION)), tuple(sorted(fmc.FACEMESH_CONTOURS))


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
    tessellation, contours = _topology()
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
