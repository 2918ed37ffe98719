"""Paper mask attack: a printed face with the eyes cut out, worn or held over a real face.

The mask is printed like a print attack (same printer, halftone and paper), cut along a face oval or left as a
sheet, with eye holes. Through the holes and around the cut the wearer's real face shows, lit by the room with
3D shading, while the mask itself only gets the flat/cylindrical shading of paper bent over a face. Cut edges show
the white paper core and throw a soft shadow on the wearer.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.paper_mask import cut_alpha
    >>> marks = {"left_eye": (40.0, 50.0), "right_eye": (80.0, 50.0), "mouth": (60.0, 90.0)}
    >>> alpha = cut_alpha(128, marks, oval=True, hole_scale=1.0, rng=np.random.default_rng(0))
    >>> float(alpha[50, 40]) < 0.5 < float(alpha[75, 60])
    True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .cues import FLOOR, grow, shadow_reach
from .domains import PrinterModel
from .faces import FaceSource, Framing, render_face
from .lighting import Lighting
from .live import render_live
from .print_attack import PAD, SUPERSAMPLE, SheetSetup, jitter_sheet, print_reflectance, sheet_lighting, sheet_maps


@dataclass(frozen=True)
class MaskSetup:
    """How one paper mask is cut and worn (drawn once per video)."""

    sheet: SheetSetup
    oval: bool  # cut along the face outline (else a rectangular sheet with eye holes)
    hole_scale: float
    cut_seed: int
    wearer: FaceSource  # lit by the same room light as the mask, but with the shading of a real head
    wearer_shift: tuple[float, float]  # how far the wearer's eyes sit from the holes, frame units


def _ellipse(xs, ys, center, axes, axis_x) -> np.ndarray:
    dx, dy = xs - center[0], ys - center[1]
    u = (dx * axis_x[0] + dy * axis_x[1]) / axes[0]
    v = (-dx * axis_x[1] + dy * axis_x[0]) / axes[1]
    return u * u + v * v


def cut_alpha(size: int, marks: dict, oval: bool, hole_scale: float, rng: np.random.Generator) -> np.ndarray:
    """Opacity of the cut mask (1 = paper) on a `size` canvas, from landmarks in canvas pixels."""
    holes, outline = cut_parts(size, marks, oval, hole_scale, rng)
    return holes * outline


def cut_parts(size: int, marks: dict, oval: bool, hole_scale: float, rng: np.random.Generator):
    """`cut_alpha`'s two factors: the opacity left by the eye holes and by the oval cut (all ones without one)."""
    left, right, mouth = (np.array(marks[k], dtype=np.float32) for k in ("left_eye", "right_eye", "mouth"))
    iod = float(np.hypot(*(right - left)))
    axis_x = (right - left) / max(iod, 1.0)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    coarse = rng.normal(0, 0.08, size=(12, 12)).astype(np.float32)
    wobble = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)  # hand-cut edges are not ellipses
    hole_axes = (0.3 * iod * hole_scale, 0.17 * iod * hole_scale)
    holes = np.minimum(_ellipse(xs, ys, left, hole_axes, axis_x), _ellipse(xs, ys, right, hole_axes, axis_x))
    soft = 1.5 / max(hole_axes[1], 1.0)  # about 1.5 px of anti-aliasing at the cut
    hole_alpha = np.clip((holes + wobble - 1.0) / soft + 0.5, 0, 1).astype(np.float32)
    outline_alpha = np.ones_like(hole_alpha)
    if oval:
        center = (left + right) / 2 + 0.45 * (mouth - (left + right) / 2)
        outline = _ellipse(xs, ys, center, (1.2 * iod, 1.75 * iod), axis_x)
        outline_alpha = np.clip((1.0 - outline - 0.5 * wobble) / (1.5 / (1.2 * iod)) + 0.5, 0, 1).astype(np.float32)
    return hole_alpha, outline_alpha


def render_mask_video(
    source: FaceSource,
    framing: Framing,
    setup: MaskSetup,
    printer: PrinterModel,
    lighting: Lighting,
    sensor_px: int,
    focus: float,
    frame_rngs: list[np.random.Generator],
    cue_masks: list | None = None,
) -> list[np.ndarray]:
    """Radiance frames (sensor_px square, linear RGB) of a paper mask of `source` worn by `setup.wearer`; with a list
    as `cue_masks`, one dict per frame of its cue masks is appended to it (`datasets_scripts.synth.cues`)."""
    px = sensor_px * SUPERSAMPLE
    content, marks = render_face(source, framing, px, PAD)
    canvas = content.shape[0]
    reflectance = print_reflectance(content, printer, setup.sheet.cell, focus)
    holes, outline = cut_parts(canvas, marks, setup.oval, setup.hole_scale, np.random.default_rng(setup.cut_seed))
    alpha = holes * outline
    # what each cut removes: the paper the holes take from the outline's sheet, and the oval from the holed sheet
    openings = {"eye_holes": outline * (1 - holes)} | ({"cut_edge": holes * (1 - outline)} if setup.oval else {})
    rim = np.clip(alpha - cv2.erode(alpha, np.ones((3, 3), np.uint8)), 0, 1)[..., None]
    reflectance = (1 - rim) * reflectance + rim * np.array(printer.paper_white, dtype=np.float32)
    light = lighting.gain * lighting.illuminant
    dx, dy = setup.wearer_shift
    wearer_framing = replace(framing, eye_center=(framing.eye_center[0] + dx, framing.eye_center[1] + dy))
    wearer = render_live(setup.wearer, wearer_framing, lighting, sensor_px)
    shadow_shift = np.float32([[1, 0, -3 * lighting.direction[0]], [0, 1, -3 * lighting.direction[1]]])
    frames = []
    for rng in frame_rngs:
        moved = replace(setup.sheet, corners=jitter_sheet(setup.sheet, rng).corners)
        map_x, map_y, slope = sheet_maps(moved, px, canvas, keep_inside=True)
        paper = cv2.remap(reflectance, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        radiance = paper * (sheet_lighting(moved, slope, lighting)[..., None] * light)
        radiance = cv2.resize(radiance, (sensor_px, sensor_px), interpolation=cv2.INTER_AREA)

        def on_sensor(canvas_map: np.ndarray) -> np.ndarray:
            return cv2.resize(cv2.remap(canvas_map, map_x, map_y, cv2.INTER_LINEAR), (sensor_px, sensor_px),
                              interpolation=cv2.INTER_AREA)

        opacity = on_sensor(alpha)
        shadow = cv2.GaussianBlur(cv2.warpAffine(opacity, shadow_shift, (sensor_px, sensor_px)), (0, 0), 1.5)
        behind = wearer * (1 - 0.55 * shadow)[..., None]
        frames.append(opacity[..., None] * radiance + (1 - opacity[..., None]) * behind)
        if cue_masks is not None:
            masks = {"halftone": opacity > 0.5}
            for cue, opening in openings.items():
                seen = on_sensor(opening)
                masks[cue] = grow(seen > FLOOR / 10) | (shadow_reach(seen, shadow_shift, 1.5) > FLOOR)
            cue_masks.append(masks)
    return frames
