"""Print attack: the face photo is printed (CMYK halftone on paper), held in front of the camera and re-captured.

Physics modelled, on a paper plane at twice the sensor resolution:

* separation into CMYK with grey-component replacement, then screening: AM (clustered dots on screens rotated
  15/75/0/45 degrees for C/M/Y/K, laser and offset engines) or FM (stochastic dots as from error diffusion, inkjet);
* subtractive ink mixing with real ink transmittances, paper white and ink black set the printable gamut and
  dynamic range; Yule-Nielsen light scatter inside the paper (optical dot gain); fibre texture; laser banding;
* sheet geometry: tilt (homography) and an optional cylindrical curl with its Lambertian shading, glossy
  highlight on glossy paper, and in some samples the photo border, white margin and sheet edge with the room
  behind it.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.domains import DOMAINS
    >>> from datasets_scripts.synth.print_attack import print_reflectance
    >>> flat = np.full((64, 64, 3), 0.2, np.float32)
    >>> print_reflectance(flat, DOMAINS[0].printer, 3.0, blur=0.5).shape
    (64, 64, 3)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from .cues import CURL_SHADE, FLOOR, any_coverage
from .domains import PrinterModel
from .faces import FaceSource, Framing, render_face
from .lighting import Lighting, planar_falloff, room_background

SUPERSAMPLE = 2  # paper-plane and optical-plane pixels per sensor pixel
PAD = 0.1  # the paper plane extends this far beyond the camera frame on every side
_SCREEN_ANGLES = (15.0, 75.0, 0.0, 45.0)  # C, M, Y, K
# Single-pass transmittance of cyan, magenta, yellow and black inks in linear R, G, B.
_INK_TRANSMITTANCE = np.array(
    [[0.35, 0.78, 0.94], [0.93, 0.36, 0.72], [0.96, 0.92, 0.33], [0.15, 0.15, 0.15]], dtype=np.float32
)


@dataclass(frozen=True)
class SheetSetup:
    """How one printed sheet is made and held (drawn once per video)."""

    cell: float  # halftone cell period or dot size, paper px
    curl: float  # bend radius in frame units (0 = flat)
    curl_vertical: bool  # bend around a vertical axis (else horizontal)
    curl_axis: float
    corners: tuple  # frame corners of the sheet after tilt (4 x 2, frame units)
    photo_rect: tuple[float, float, float, float]  # printed photo area (x0, y0, x1, y1), frame units
    sheet_rect: tuple[float, float, float, float]  # whole sheet including the white margin
    gloss: tuple[float, float, float, float]  # highlight x, y, radius (frame units), strength
    banding: tuple[float, float]  # period (paper px), phase
    background_seed: int  # the room behind the sheet


def _edge_rects(rng: np.random.Generator) -> tuple[tuple, tuple]:
    photo, sheet = [-1.0, -1.0, 2.0, 2.0], [-1.0, -1.0, 2.0, 2.0]
    sides = rng.choice(4, size=int(rng.integers(1, 3)), replace=False)
    for side in sides:
        inset = float(rng.uniform(0.02, 0.12))
        margin = float(rng.choice([0.0, rng.uniform(0.02, 0.08)]))
        photo[side] = inset if side < 2 else 1.0 - inset
        sheet[side] = photo[side] - margin if side < 2 else photo[side] + margin
    return tuple(photo), tuple(sheet)


def sample_sheet(rng: np.random.Generator, printer: PrinterModel, edges: float = 0.35, curl: float = 0.4) -> SheetSetup:
    """Draw the sheet of one print video; `edges` and `curl` are the probabilities of visible edges and a bend."""
    lo, hi = printer.cell_px
    cell = float(round(rng.uniform(lo, hi) * 2) / 2) if printer.screening == "am" else lo
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64) + rng.normal(0, 0.03, size=(4, 2))
    photo, sheet = _edge_rects(rng) if rng.random() < edges else ((-1.0, -1.0, 2.0, 2.0), (-1.0, -1.0, 2.0, 2.0))
    gloss = (rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.12, 0.35), rng.uniform(0.05, 0.35) * printer.glossy)
    return SheetSetup(
        cell=cell,
        curl=float(rng.uniform(0.55, 1.6) * rng.choice([-1, 1])) if rng.random() < curl else 0.0,
        curl_vertical=bool(rng.random() < 0.7),
        curl_axis=float(rng.uniform(0.3, 0.7)),
        corners=tuple(map(tuple, corners)),
        photo_rect=photo,
        sheet_rect=sheet,
        gloss=tuple(float(g) for g in gloss),
        banding=(float(rng.uniform(6, 24)), float(rng.uniform(0, 2 * np.pi))),
        background_seed=int(rng.integers(2**31)),
    )


def jitter_sheet(setup: SheetSetup, rng: np.random.Generator) -> SheetSetup:
    """The same sheet a moment later: the hand moves it slightly."""
    corners = np.array(setup.corners) + rng.normal(0, 0.004, size=(4, 2))
    return replace(setup, corners=tuple(map(tuple, corners)))


def sheet_detail(setup: SheetSetup) -> list[str]:
    """Attack-detail tags of a sheet ('curl', 'edges')."""
    tags = ["curl"] if setup.curl else []
    return tags + (["edges"] if setup.sheet_rect != (-1.0, -1.0, 2.0, 2.0) else [])


def _printer_seed(printer: PrinterModel) -> int:
    """A fixed seed per printer: its halftone screen and paper are the same on every sheet."""
    return zlib.crc32(printer.name.encode())


@lru_cache(maxsize=1)
def _am_harmonic_table() -> np.ndarray:
    """Fourier amplitudes of one clustered-dot halftone cell versus ink coverage (256 x 2: harmonics (1,0), (1,1)).

    The dot is the classic cos+cos spot function thresholded at the coverage, as a raster image processor screens it.
    """
    grid = np.linspace(0, 1, 64, endpoint=False, dtype=np.float64)
    spot = np.cos(2 * np.pi * grid)[:, None] + np.cos(2 * np.pi * grid)[None, :]
    rank = np.empty(spot.size)
    rank[np.argsort(-spot, axis=None, kind="stable")] = (np.arange(spot.size) + 0.5) / spot.size
    rank = rank.reshape(spot.shape)
    table = np.zeros((256, 2), dtype=np.float32)
    for level in range(256):
        spectrum = np.fft.fft2((rank < level / 255.0).astype(np.float64)) / spot.size
        table[level] = (spectrum[0, 1].real, spectrum[1, 1].real)
    return table


@lru_cache(maxsize=6)
def _am_screens(cell: float, size: int) -> np.ndarray:
    """Per ink, the screen's harmonic groups cos(2pi u)+cos(2pi v) and cos(2pi(u+v))+cos(2pi(u-v)) (4 x 2 x HxW).

    A printer's screens are fixed on the paper, so they are computed once per cell size and canvas.
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    groups = []
    for angle in _SCREEN_ANGLES:
        theta = np.deg2rad(angle)
        u = (xs * np.cos(theta) + ys * np.sin(theta)) / cell
        v = (-xs * np.sin(theta) + ys * np.cos(theta)) / cell
        first = np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v)
        second = np.cos(2 * np.pi * (u + v)) + np.cos(2 * np.pi * (u - v))
        groups.append(np.stack([first, second]).astype(np.float16))
    return np.stack(groups)


@lru_cache(maxsize=6)
def _fm_grain(size: int, seed: int) -> np.ndarray:
    """Unit-variance stochastic-screen grain per ink (4 x HxW), band-limited to what survives pixel integration."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((4, size, size)).astype(np.float32)
    grain = np.stack([cv2.GaussianBlur(channel, (0, 0), 0.8) for channel in noise])
    return (grain / grain.std()).astype(np.float16)


def halftone_coverage(coverage: np.ndarray, printer: PrinterModel, cell: float, blur: float) -> np.ndarray:
    """Ink area fraction per ink (4 x HxW) of the screened print, as integrated by a camera pixel.

    `cell` is the screen period (AM) or dot size (FM) in paper-plane px, `blur` the camera PSF sigma in sensor px.
    AM: the dot pattern's Fourier series (coverage-dependent harmonics of the real spot function) weighted by the
    lens and pixel-aperture MTF, so coarse screens show dots and rosette moire while fine ones average out.
    FM: binomial dot-count grain, sqrt(a(1-a) / dots per pixel), band-limited.
    """
    size = coverage.shape[1]
    levels = np.clip(coverage * 255 + 0.5, 0, 255).astype(np.uint8)
    if printer.screening == "am":
        sigma2 = blur * blur + 1.0 / 12.0
        cell_sensor = cell / SUPERSAMPLE
        mtf = [float(np.exp(-2 * np.pi**2 * sigma2 * g2 / cell_sensor**2)) for g2 in (1.0, 2.0)]
        table = _am_harmonic_table()
        screens = _am_screens(cell, size)
        out = coverage.copy()
        for ink in range(4):
            for group in range(2):
                if mtf[group] > 0.005 and cell * cell / (1.0 + group) > 2.2**2:  # resolvable on the paper plane
                    out[ink] += 2 * mtf[group] * table[levels[ink], group] * screens[ink, group]
        return np.clip(out, 0, 1)
    dots_per_pixel = (SUPERSAMPLE / cell) ** 2
    amplitude = np.sqrt(coverage * (1 - coverage) / dots_per_pixel)
    return np.clip(coverage + amplitude * _fm_grain(size, _printer_seed(printer)), 0, 1)


@lru_cache(maxsize=8)
def _paper_texture(size: int, strength: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fibres = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigmaX=3.0, sigmaY=0.7)
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 0.8)
    texture = fibres / fibres.std() + 0.7 * grain / grain.std()
    return (1.0 + strength * texture / texture.std())[..., None].astype(np.float32)


def print_reflectance(content: np.ndarray, printer: PrinterModel, cell: float, blur: float) -> np.ndarray:
    """Reflectance (linear RGB) of `content` (linear RGB, square) printed by `printer` with halftone `cell`
    (paper-plane px), as resolved by a camera with PSF sigma `blur` (sensor px)."""
    size = content.shape[0]
    device = np.power(np.clip(content, 0, 1), 1 / 2.2)
    black = 0.8 * (1.0 - device.max(axis=2))
    cmy = np.clip((1.0 - device - black[..., None]) / np.maximum(1.0 - black[..., None], 1e-3), 0, 1)
    coverage = np.concatenate([np.moveaxis(cmy, 2, 0), black[None]]).astype(np.float32)
    transmittance = np.ones(content.shape, dtype=np.float32)
    for ink, fraction in zip(_INK_TRANSMITTANCE, halftone_coverage(coverage, printer, cell, blur)):
        transmittance *= 1.0 - fraction[..., None] * (1.0 - ink)
    scattered = cv2.GaussianBlur(transmittance, (0, 0), printer.paper_scatter)
    texture = _paper_texture(size, printer.paper_texture, seed=_printer_seed(printer))
    body = np.array(printer.paper_white, dtype=np.float32) - printer.ink_black
    return printer.ink_black + body * transmittance * scattered * texture  # surface reflection bounds the black


def sheet_maps(setup: SheetSetup, px: int, canvas: int, keep_inside: bool):
    """Remap grids from the optical plane (px square) into the paper canvas, and the curl's surface slope."""
    coords = (np.arange(px, dtype=np.float32) + 0.5) / px
    u, v = np.meshgrid(coords, coords)
    slope = np.zeros_like(u)
    if setup.curl:
        along = u if setup.curl_vertical else v
        ratio = np.clip((along - setup.curl_axis) / abs(setup.curl), -0.98, 0.98)
        unrolled = setup.curl_axis + abs(setup.curl) * np.arcsin(ratio)
        slope = np.sign(setup.curl) * ratio
        u, v = (unrolled, v) if setup.curl_vertical else (u, unrolled)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    tilt = cv2.getPerspectiveTransform(square, np.array(setup.corners, dtype=np.float32))
    points = cv2.perspectiveTransform(np.stack([u, v], axis=-1).reshape(-1, 1, 2), tilt.astype(np.float64))
    paper_x, paper_y = points[:, 0, 0].reshape(px, px), points[:, 0, 1].reshape(px, px)
    scale = canvas / (1 + 2 * PAD)
    map_x, map_y = (paper_x + PAD) * scale, (paper_y + PAD) * scale
    if keep_inside:  # zoom in on the sheet rather than run off the printed canvas
        half = canvas / 2
        reach = max(np.abs(map_x - half).max(), np.abs(map_y - half).max(), 1.0)
        shrink = min(1.0, (half - 1) / reach)
        map_x, map_y = half + (map_x - half) * shrink, half + (map_y - half) * shrink
    return map_x.astype(np.float32), map_y.astype(np.float32), slope.astype(np.float32)


def _rect_mask(canvas: int, rect: tuple) -> np.ndarray:
    scale = canvas / (1 + 2 * PAD)
    coords = (np.arange(canvas, dtype=np.float32) + 0.5) / scale - PAD
    inside_x = (coords >= rect[0]) & (coords <= rect[2])
    inside_y = (coords >= rect[1]) & (coords <= rect[3])
    return (inside_y[:, None] & inside_x[None, :]).astype(np.float32)


def sheet_lighting(setup: SheetSetup, slope: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Irradiance multiplier of a flat or curled sheet: planar fall-off and the bend's Lambertian shading."""
    px = slope.shape[0]
    light = lighting.direction
    lateral = light[0] if setup.curl_vertical else light[1]
    normal_z = np.sqrt(1 - slope * slope)
    shade = np.clip(normal_z * light[2] + slope * lateral, 0.05, None) / light[2]
    return (lighting.ambient + (1 - lighting.ambient) * shade) * planar_falloff(px, lighting)


def gloss_highlight(setup: SheetSetup, px: int) -> np.ndarray:
    """Specular highlight of the room light on glossy paper (float32 HxW, added in the light's colour)."""
    x, y, radius, strength = setup.gloss
    coords = (np.arange(px, dtype=np.float32) + 0.5) / px
    d2 = ((coords[None, :] - x) ** 2 + (coords[:, None] - y) ** 2) / (radius * radius)
    return (strength * np.exp(-d2)).astype(np.float32)


def render_print_video(
    source: FaceSource,
    framing: Framing,
    setup: SheetSetup,
    printer: PrinterModel,
    lighting: Lighting,
    sensor_px: int,
    focus: float,
    frame_rngs: list[np.random.Generator],
    cue_masks: list | None = None,
) -> list[np.ndarray]:
    """Radiance frames (sensor_px square, linear RGB) of a printed photo of `source` held before the camera; with a
    list as `cue_masks`, one dict per frame of its cue masks is appended to it (`datasets_scripts.synth.cues`)."""
    px = sensor_px * SUPERSAMPLE
    content, _ = render_face(source, framing, px, PAD)
    canvas = content.shape[0]
    reflectance = print_reflectance(content, printer, setup.cell, focus)
    period, phase = setup.banding
    rows = np.arange(canvas, dtype=np.float32)[:, None, None]
    reflectance *= 1.0 - printer.banding * (0.5 + 0.5 * np.sin(2 * np.pi * rows / period + phase))
    printed = _rect_mask(canvas, setup.photo_rect)[..., None]
    blank = np.array(printer.paper_white, dtype=np.float32) * _paper_texture(
        canvas, printer.paper_texture, _printer_seed(printer)
    )
    reflectance = printed * reflectance + (1 - printed) * blank
    sheet_alpha = _rect_mask(canvas, setup.sheet_rect)
    has_edges = setup.sheet_rect != (-1.0, -1.0, 2.0, 2.0)
    light = lighting.gain * lighting.illuminant
    if has_edges:
        background = room_background(np.random.default_rng(setup.background_seed), px)
        background *= light * planar_falloff(px, lighting)[..., None]
    frames = []
    for rng in frame_rngs:
        moved = jitter_sheet(setup, rng)
        map_x, map_y, slope = sheet_maps(moved, px, canvas, keep_inside=not has_edges)
        paper = cv2.remap(reflectance, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        shade = sheet_lighting(moved, slope, lighting)
        gloss = gloss_highlight(moved, px)
        radiance = paper * (shade[..., None] * light) + gloss[..., None] * light
        on_sheet = np.ones((px, px), np.float32)
        if has_edges:
            on_sheet = cv2.remap(sheet_alpha, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
            radiance = on_sheet[..., None] * radiance + (1 - on_sheet[..., None]) * background
        frames.append(cv2.resize(radiance, (sensor_px, sensor_px), interpolation=cv2.INTER_AREA))
        if cue_masks is not None:
            photo = on_sheet * cv2.remap(printed[..., 0], map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
            masks = {"halftone": photo > 0.5}
            if setup.gloss[3] > 0:
                masks["glare"] = (gloss > FLOOR) & (on_sheet > 0)
            if has_edges:
                masks["edges"] = photo < 1 - FLOOR / 10
            if setup.curl:
                flat = sheet_lighting(moved, np.zeros_like(slope), lighting)
                masks["curl"] = np.abs(shade - flat) > CURL_SHADE * flat
            cue_masks.append({cue: any_coverage(mask, sensor_px) for cue, mask in masks.items()})
    return frames
