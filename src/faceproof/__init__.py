"""faceproof: facial profiles from photos, and whether a new image is a real photo of the same person.

The Python API is small on purpose (in the spirit of ``face_recognition``)::

    import faceproof
    result = faceproof.analyze("photo.jpg")      # a path, the file's bytes, or an RGB uint8 array
    print(result.description, result.subject.geometry.yaw)

Heavy models load lazily on first use, once per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Analysis", "__version__", "analyze"]

if TYPE_CHECKING:
    from faceproof.analysis import Analysis, analyze


def __getattr__(name: str) -> Any:
    # Lazy: `import faceproof` (and the CLI's --help) must not import OpenCV, dlib and MediaPipe.
    if name in {"analyze", "Analysis"}:
        from faceproof import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'faceproof' has no attribute {name!r}")
