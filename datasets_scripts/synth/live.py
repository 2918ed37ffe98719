"""Live (bona fide) scenes: the real face under the room light, with the shading of a 3D head.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.faces import load_sources, sample_framing
    >>> from datasets_scripts.synth.lighting import sample_lighting
    >>> from datasets_scripts.synth.live import render_live
    >>> rng = np.random.default_rng(0)
    >>> render_live(load_sources()[0], sample_framing(rng), sample_lighting(rng, (3000, 6500)), 64).shape
    (64, 64, 3)
"""

from __future__ import annotations

import cv2
import numpy as np

from .faces import FaceSource, Framing, face_shading, render_face
from .lighting import Lighting, planar_falloff

SUPERSAMPLE = 2  # render at twice the sensor resolution and integrate over each pixel, like the attack renderers


def render_live(source: FaceSource, framing: Framing, lighting: Lighting, sensor_px: int) -> np.ndarray:
    """Radiance (sensor_px square, linear RGB) of the real person framed by `framing` under `lighting`."""
    face, marks = render_face(source, framing, sensor_px * SUPERSAMPLE)
    face = cv2.resize(face, (sensor_px, sensor_px), interpolation=cv2.INTER_AREA)
    marks = {name: (x / SUPERSAMPLE, y / SUPERSAMPLE) for name, (x, y) in marks.items()}
    shading = face_shading(face.shape[:2], marks, lighting.direction, lighting.ambient)
    shading *= planar_falloff(sensor_px, lighting)
    return face * shading[..., None] * (lighting.gain * lighting.illuminant)
