"""Live-face sources of SynthFAS and their variation (framing, pose warp, 3D-ish shading).

Sources: real face photographs that ship inside installed registry packages, with clear licences:

* ``astronaut``: scikit-image ``skimage.data.astronaut()`` — astronaut Eileen Collins, NASA photo, "No known
  copyright restrictions, released into the public domain" (scikit-image docstring).
* ``grace_hopper``: matplotlib ``cbook.get_sample_data('grace_hopper.jpg')`` — Rear Admiral Grace Hopper,
  official US Navy photograph, public domain as a work of the US federal government.

Checked and not used: ``skimage.data.camera()`` (CC0, but grey-scale, profile view, face hidden by the camera) and
``skimage.data.lfw_subset()`` (25x25 grey crops of Labeled Faces in the Wild: news photos with no stated licence).

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.faces import load_sources, sample_framing, render_face
    >>> source = load_sources()[0]
    >>> image, marks = render_face(source, sample_framing(np.random.default_rng(0)), 128)
    >>> image.shape, sorted(marks)
    ((128, 128, 3), ['left_eye', 'mouth', 'right_eye'])
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

_TO_LINEAR = ((np.arange(256, dtype=np.float32) / 255.0) ** 2.2).astype(np.float32)


@dataclass(frozen=True)
class FaceSource:
    """A real face photo in linear light with hand-placed landmarks (source pixel coordinates)."""

    name: str
    pyramid: tuple  # linear float32 images at scale 1, 1/2, 1/4
    left_eye: tuple[float, float]  # the eye on the image's left
    right_eye: tuple[float, float]
    mouth: tuple[float, float]
    licence: str


@dataclass(frozen=True)
class Framing:
    """Where the face sits in the square camera frame (coordinates are fractions of the frame side)."""

    eye_center: tuple[float, float]
    iod: float  # inter-ocular distance
    roll: float  # degrees
    flip: bool  # mirror image (front cameras, or the attacker's photo being mirrored)
    yaw: float  # perspective keystone standing in for a small head turn
    pitch: float
    aspect: float = 1.0  # face width / height against the photo: geometric identity variation
    tone: tuple[float, float, float] = (1.0, 1.0, 1.0)  # linear RGB reflectance gains: skin and hair colour
    tone_gamma: float = 1.0  # exponent on reflectance: darker (> 1) or lighter (< 1) complexion


def _to_linear(rgb_uint8: np.ndarray) -> np.ndarray:
    return _TO_LINEAR[rgb_uint8]


def _pyramid(linear: np.ndarray) -> tuple:
    half = cv2.resize(linear, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    quarter = cv2.resize(half, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return (linear, half, quarter)


@lru_cache(maxsize=1)
def load_sources() -> tuple[FaceSource, ...]:
    """Load the bundled face photos (offline; they ship inside scikit-image and matplotlib)."""
    from matplotlib import cbook
    from skimage import data

    hopper_path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hopper = cv2.imread(str(hopper_path), cv2.IMREAD_COLOR)
    if hopper is None:
        raise FileNotFoundError(f"{hopper_path}: matplotlib sample photo grace_hopper.jpg could not be read")
    return (
        FaceSource(
            name="astronaut", pyramid=_pyramid(_to_linear(data.astronaut())),
            left_eye=(202.5, 100.0), right_eye=(245.0, 103.0), mouth=(222.5, 145.0),
            licence="NASA photo via scikit-image, public domain",
        ),
        FaceSource(
            name="grace_hopper", pyramid=_pyramid(_to_linear(cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB))),
            left_eye=(222.0, 187.0), right_eye=(305.0, 187.0), mouth=(267.0, 275.0),
            licence="US Navy photo via matplotlib, public domain",
        ),
    )


def sample_framing(rng: np.random.Generator) -> Framing:
    """Draw a face framing like a detector crop with margin: eyes near 40 % height, IOD about 0.29 of the side;
    and the person's look: face proportions and skin tone vary per video, so that two source photos stand for
    many people rather than two memorisable ones."""
    return Framing(
        eye_center=(0.5 + rng.normal(0, 0.03), 0.41 + rng.normal(0, 0.03)),
        iod=float(np.clip(rng.normal(0.29, 0.03), 0.22, 0.36)),
        roll=float(rng.normal(0, 5.0)),
        flip=bool(rng.random() < 0.5),
        yaw=float(rng.normal(0, 0.08)),
        pitch=float(rng.normal(0, 0.05)),
        aspect=float(np.clip(np.exp(rng.normal(0, 0.07)), 0.85, 1.18)),
        tone=tuple(float(g) for g in np.exp(rng.normal(0, 0.08, size=3) + np.array([0.06, 0.0, -0.06]) * rng.normal())),
        tone_gamma=float(np.clip(np.exp(rng.normal(0, 0.15)), 0.7, 1.4)),
    )


def jitter_framing(framing: Framing, rng: np.random.Generator, amount: float = 1.0) -> Framing:
    """A slightly moved framing: hand shake / head motion between frames of one video."""
    x, y = framing.eye_center
    return replace(
        framing,
        eye_center=(x + rng.normal(0, 0.008 * amount), y + rng.normal(0, 0.008 * amount)),
        iod=framing.iod * float(np.exp(rng.normal(0, 0.015 * amount))),
        roll=framing.roll + float(rng.normal(0, 1.0 * amount)),
        yaw=framing.yaw + float(rng.normal(0, 0.01 * amount)),
    )


def _source_points(source: FaceSource, flip: bool, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    left, right, mouth = (np.array(p, dtype=np.float64) for p in (source.left_eye, source.right_eye, source.mouth))
    if flip:
        mirror = lambda p: np.array([width - 1 - p[0], p[1]])  # noqa: E731
        left, right, mouth = mirror(right), mirror(left), mirror(mouth)
    return left, right, mouth


def framing_homography(source: FaceSource, framing: Framing, px: int, pad: float = 0.0) -> np.ndarray:
    """3x3 map from full-resolution source pixels to a canvas of `px * (1 + 2 pad)` pixels covering the frame
    plus `pad` on every side."""
    width = source.pyramid[0].shape[1]
    left, right, _ = _source_points(source, framing.flip, width)
    flip = np.array([[-1, 0, width - 1], [0, 1, 0], [0, 0, 1]], dtype=np.float64) if framing.flip else np.eye(3)
    eye_center, axis = (left + right) / 2, right - left
    scale = framing.iod / np.hypot(*axis)
    angle = np.deg2rad(framing.roll) - np.arctan2(axis[1], axis[0])
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    target = np.array(framing.eye_center)
    similarity = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    similarity[:2, 2] = target - similarity[:2, :2] @ eye_center
    widen = np.array([[framing.aspect, 0, (1 - framing.aspect) * eye_center[0]], [0, 1, 0], [0, 0, 1]])
    center = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    keystone = np.linalg.inv(center) @ np.array([[1, 0, 0], [0, 1, 0], [framing.yaw, framing.pitch, 1]]) @ center
    to_canvas = np.array([[px, 0, pad * px], [0, px, pad * px], [0, 0, 1]])
    return to_canvas @ keystone @ similarity @ widen @ flip


def _apply(h: np.ndarray, point: np.ndarray) -> tuple[float, float]:
    x, y, w = h @ np.array([point[0], point[1], 1.0])
    return (float(x / w), float(y / w))


def render_face(source: FaceSource, framing: Framing, px: int, pad: float = 0.0):
    """Render the framed face photo (linear RGB, float32) on a `px*(1+2pad)` square canvas.

    Returns (image, landmarks) with landmarks {'left_eye', 'right_eye', 'mouth'} in canvas pixels.
    """
    size = int(round(px * (1 + 2 * pad)))
    h = framing_homography(source, framing, px, pad)
    scale = np.sqrt(abs(np.linalg.det(h[:2, :2])))
    level = int(np.clip(np.floor(np.log2(1.0 / max(scale, 1e-6)) + 0.3), 0, len(source.pyramid) - 1))
    level_h = h @ np.diag([2.0**level, 2.0**level, 1.0])
    image = cv2.warpPerspective(
        source.pyramid[level], level_h, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
    )
    image = np.power(image, framing.tone_gamma) * np.asarray(framing.tone, dtype=np.float32)
    left, right = (source.right_eye, source.left_eye) if framing.flip else (source.left_eye, source.right_eye)
    marks = {"left_eye": _apply(h, left), "right_eye": _apply(h, right), "mouth": _apply(h, source.mouth)}
    return image, marks


def face_shading(shape: tuple[int, int], marks: dict, light: np.ndarray, ambient: float) -> np.ndarray:
    """Lambertian shading of an ellipsoid head fitted to the landmarks, relative to frontal light (float32 HxW).

    A real face turns its surface towards or away from the room light; a print or screen is flat and does not.
    """
    left, right, mouth = (np.array(marks[k]) for k in ("left_eye", "right_eye", "mouth"))
    eye_center = (left + right) / 2
    iod = max(np.hypot(*(right - left)), 1.0)
    center = eye_center + 0.45 * (mouth - eye_center)
    axis_x = (right - left) / iod
    axis_y = np.array([-axis_x[1], axis_x[0]])
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dx, dy = xs - center[0], ys - center[1]
    u = (dx * axis_x[0] + dy * axis_x[1]) / (1.15 * iod)
    v = (dx * axis_y[0] + dy * axis_y[1]) / (1.6 * iod)
    r2 = u * u + v * v
    inside = np.clip(1.0 - r2, 0.0, None)
    nz = np.sqrt(inside)
    norm = np.sqrt(np.maximum(r2, 1.0))
    nx, ny = u / norm, v / norm
    lit = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, None)
    face = ambient + (1.0 - ambient) * lit / max(light[2], 1e-3)
    weight = np.clip((1.6 - r2) / 0.6, 0.0, 1.0)  # fade to unshaded background beyond the head
    return (1.0 + weight * (face - 1.0)).astype(np.float32)
