"""Room light and room background shared by live and attack scenes.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.lighting import illuminant_rgb, room_background
    >>> bool(illuminant_rgb(3000)[2] < illuminant_rgb(6500)[2])
    True
    >>> room_background(np.random.default_rng(0), 64).shape
    (64, 64, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Linear-RGB colour of Planckian light relative to D65 (green normalised to 1).
_KELVIN = np.array([2700, 3000, 3500, 4000, 5000, 6500, 7500, 9000], dtype=np.float64)
_RED = np.array([1.75, 1.58, 1.40, 1.27, 1.10, 1.00, 0.94, 0.88])
_BLUE = np.array([0.33, 0.42, 0.55, 0.66, 0.84, 1.00, 1.10, 1.22])


def illuminant_rgb(kelvin: float) -> np.ndarray:
    """Linear RGB gains of a light of colour temperature `kelvin`, relative to daylight (D65)."""
    red = np.interp(kelvin, _KELVIN, _RED)
    blue = np.interp(kelvin, _KELVIN, _BLUE)
    return np.array([red, 1.0, blue], dtype=np.float32)


@dataclass(frozen=True)
class Lighting:
    """Room light of one simulated recording: colour, strength, direction and a planar fall-off."""

    illuminant: np.ndarray  # linear RGB gains
    gain: float
    direction: np.ndarray  # unit vector (x right, y down, z towards the camera)
    ambient: float  # share of non-directional light
    gradient: tuple[float, float]  # linear fall-off across the frame (x, y)


def sample_lighting(rng: np.random.Generator, kelvin_range: tuple[float, float]) -> Lighting:
    """Draw the room light of one recording."""
    direction = np.array([rng.normal(0, 0.6), rng.normal(-0.2, 0.4), 1.0])
    return Lighting(
        illuminant=illuminant_rgb(rng.uniform(*kelvin_range)),
        gain=float(np.exp(rng.normal(0, 0.3))),
        direction=direction / np.linalg.norm(direction),
        ambient=float(rng.uniform(0.35, 0.8)),
        gradient=(float(rng.normal(0, 0.15)), float(rng.normal(0, 0.1))),
    )


def planar_falloff(px: int, lighting: Lighting) -> np.ndarray:
    """Smooth light fall-off across a flat surface filling the frame (float32 HxW, mean about 1)."""
    ramp = np.linspace(-0.5, 0.5, px, dtype=np.float32)
    return np.clip(1.0 + lighting.gradient[0] * ramp[None, :] + lighting.gradient[1] * ramp[:, None], 0.3, None)


def room_background(rng: np.random.Generator, px: int) -> np.ndarray:
    """An out-of-focus room behind a sheet or a screen: muted colour blobs and a few blurred edges (linear RGB)."""
    cells = int(rng.integers(3, 7))
    palette = rng.uniform(0.04, 0.5, size=(cells, cells, 1)) * rng.uniform(0.7, 1.3, size=(cells, cells, 3))
    room = cv2.resize(palette.astype(np.float32), (px, px), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = rng.integers(0, px, size=2)
        x1, y1 = x0 + rng.integers(px // 8, px // 2), y0 + rng.integers(px // 8, px)
        colour = tuple(float(c) for c in rng.uniform(0.03, 0.6, size=3))
        cv2.rectangle(room, (int(x0), int(y0)), (int(x1), int(y1)), colour, thickness=-1)
    blur = max(1.0, px * rng.uniform(0.01, 0.04))
    return np.clip(cv2.GaussianBlur(room, (0, 0), blur), 0.01, 1.0)
