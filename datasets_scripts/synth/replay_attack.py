"""Screen replay attack: the face photo or video is shown on a display and re-captured by the camera.

Physics modelled, directly at the sensor resolution:

* the content is resampled onto the screen's pixel grid (display scaler) after the video/photo codec's JPEG;
* display transfer: gamma, black level (LCD backlight leak), panel white point, wide-gamut over-saturation;
* the emitting sub-pixel structure (RGB/BGR stripes of an LCD, RGBG PenTile diamonds of an OLED) as a Fourier
  series over the screen lattice, each harmonic attenuated by the camera's lens and pixel-aperture MTF, then
  point-sampled by the sensor through the screen's tilt: the harmonics above Nyquist alias into moire;
* rolling-shutter banding from backlight/OLED PWM, the glass's specular glare and its faint room reflection,
  and in some samples the bezel and the room around the device.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.replay_attack import subpixel_grid
    >>> sx, sy = np.meshgrid(np.arange(32) * 0.8, np.arange(32) * 0.8)
    >>> subpixel_grid("rgb_stripe", sx, sy, pitch=0.8, blur=0.3, fill=0.75).shape
    (32, 32, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cues import FLOOR
from .domains import ScreenModel
from .faces import FaceSource, Framing, jitter_framing, render_face
from .lighting import Lighting, illuminant_rgb, planar_falloff, room_background

PAD = 0.1  # the displayed content extends this far beyond the camera frame
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class ScreenSetup:
    """How one replay is shown and filmed (drawn once per video)."""

    pitch: float  # sensor px per screen px
    gamma: float
    white: tuple[float, float, float]
    brightness: float
    corners: tuple  # frame corners of the screen plane after roll and tilt (4 x 2, frame units)
    content_px: int  # resolution of the replayed photo/video across the frame
    content_quality: int  # JPEG quality of the replayed photo/video
    active_rect: tuple[float, float, float, float]  # lit area of the display, frame units
    bezel: float  # bezel width around the active area, frame units
    glare: tuple[float, float, float, float]  # highlight x, y, radius, strength
    reflection: float  # share of the room mirrored by the cover glass
    banding: tuple[float, float, float]  # amplitude, period (sensor rows), phase
    background_seed: int


def sample_screen(rng: np.random.Generator, screen: ScreenModel, sensor_px: int, bezel: float = 0.35) -> ScreenSetup:
    """Draw the display set-up of one replay video; `bezel` is the probability that the device edge is visible."""
    angle = np.deg2rad(rng.normal(0, 6))
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64) - 0.5
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = square @ rotation.T + 0.5 + rng.normal(0, 0.03, size=(4, 2))
    active = [-1.0, -1.0, 2.0, 2.0]
    if rng.random() < bezel:
        for side in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            inset = float(rng.uniform(0.02, 0.12))
            active[side] = inset if side < 2 else 1.0 - inset
    pitch = float(rng.uniform(*screen.pitch))
    banded = rng.random() < screen.pwm_banding
    return ScreenSetup(
        pitch=pitch,
        gamma=float(rng.uniform(*screen.gamma)),
        white=tuple(float(c) for c in illuminant_rgb(rng.uniform(*screen.white_kelvin))),
        brightness=float(rng.uniform(*screen.brightness)),
        corners=tuple(map(tuple, corners)),
        content_px=int(min(sensor_px / pitch, rng.uniform(0.6, 1.6) * sensor_px)),
        content_quality=int(rng.integers(45, 92)),
        active_rect=tuple(active),
        bezel=float(rng.uniform(0.02, 0.06)),
        glare=(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.4), rng.uniform(0, 0.5) * (rng.random() < 0.6)),
        reflection=float(rng.uniform(0.02, 0.08)),
        banding=(float(rng.uniform(0.06, 0.25) * banded), sensor_px / float(rng.uniform(3, 14)), rng.uniform(0, 6.3)),
        background_seed=int(rng.integers(2**31)),
    )


def screen_detail(screen: ScreenModel, setup: ScreenSetup) -> str:
    """Attack detail such as 'replay:phone_oled:glare:bezel'."""
    tags = [tag for tag, on in (("glare", setup.glare[3] > 0), ("bezel", setup.active_rect != (-1.0, -1.0, 2.0, 2.0)),
                                ("banding", setup.banding[0] > 0)) if on]
    return ":".join(["replay", screen.name, *tags])


def _harmonics(layout: str, fill: float):
    """(frequency (gx, gy), spot amplitude, phase offset (x0, y0)) per channel for the sub-pixel lattice."""
    if layout in ("rgb_stripe", "bgr_stripe"):
        width, height = fill ** 0.5 / 3, fill ** 0.5
        order = (0, 1, 2) if layout == "rgb_stripe" else (2, 1, 0)
        lattice = ((1, 0), (2, 0), (0, 1), (1, 1), (1, -1))
        terms = [(g, float(np.sinc(g[0] * width) * np.sinc(g[1] * height))) for g in lattice]
        return [[(g, a, ((order.index(c) + 0.5) / 3, 0.5)) for g, a in terms] for c in range(3)]
    if layout == "pentile":
        spot = lambda g, s: float(np.exp(-2 * np.pi**2 * s * s * (g[0] ** 2 + g[1] ** 2)))  # noqa: E731
        checker = ((0.5, 0.5), (0.5, -0.5), (1, 0), (0, 1))
        red = [(g, spot(g, 0.2 * fill ** 0.5), (0.25, 0.5)) for g in checker]
        green = [(g, spot(g, 0.14 * fill ** 0.5), (0.75, 0.5)) for g in ((1, 0), (0, 1), (1, 1), (1, -1))]
        blue = [(g, spot(g, 0.2 * fill ** 0.5), (1.25, 0.5)) for g in checker]
        return [red, green, blue]
    raise ValueError(f"unknown screen layout {layout!r}; expected rgb_stripe, bgr_stripe or pentile")


def subpixel_grid(layout: str, sx: np.ndarray, sy: np.ndarray, pitch: float, blur: float, fill: float) -> np.ndarray:
    """Emission pattern (mean 1 per channel) of the sub-pixel lattice seen at screen coordinates (sx, sy).

    `pitch` is sensor px per screen px and `blur` the camera PSF sigma in sensor px: every harmonic is weighted by
    the lens and pixel-aperture MTF before point sampling, so what survives above Nyquist aliases as moire.
    """
    sigma2 = blur * blur + 1.0 / 12.0
    grid = np.ones(sx.shape + (3,), dtype=np.float32)
    for channel, terms in enumerate(_harmonics(layout, fill)):
        for (gx, gy), amplitude, (x0, y0) in terms:
            frequency2 = (gx * gx + gy * gy) / (pitch * pitch)
            weight = 2.0 * amplitude * np.exp(-2 * np.pi**2 * sigma2 * frequency2)
            if weight > 0.01:
                grid[..., channel] += weight * np.cos(2 * np.pi * (gx * (sx - x0) + gy * (sy - y0)))
    return np.clip(grid, 0.0, None)


def _displayed_content(source: FaceSource, framing: Framing, setup: ScreenSetup, screen_px: int) -> np.ndarray:
    """The replayed photo/video frame as the display receives it (encoded RGB in [0, 1], screen-pixel grid)."""
    content, _ = render_face(source, framing, setup.content_px, PAD)
    encoded = np.clip(np.power(content, 1 / 2.2) * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", encoded, [cv2.IMWRITE_JPEG_QUALITY, setup.content_quality])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else encoded
    size = int(round(screen_px * (1 + 2 * PAD)))
    return cv2.resize(decoded, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def _rect_alpha(q_x: np.ndarray, q_y: np.ndarray, rect: tuple, soft: float) -> np.ndarray:
    inside = [q_x - rect[0], q_y - rect[1], rect[2] - q_x, rect[3] - q_y]
    return np.clip(np.minimum.reduce(inside) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def render_replay_video(
    source: FaceSource,
    framing: Framing,
    setup: ScreenSetup,
    screen: ScreenModel,
    lighting: Lighting,
    sensor_px: int,
    lens_blur: float,
    frame_rngs: list[np.random.Generator],
    cue_masks: list | None = None,
) -> list[np.ndarray]:
    """Radiance frames (sensor_px square, linear RGB) of a screen replaying a photo/video of `source`; with a list
    as `cue_masks`, one dict per frame of its cue masks is appended to it (`datasets_scripts.synth.cues`)."""
    screen_px = sensor_px / setup.pitch
    light = lighting.gain * lighting.illuminant
    room = room_background(np.random.default_rng(setup.background_seed), sensor_px)
    room *= light * planar_falloff(sensor_px, lighting)[..., None]
    coords = (np.arange(sensor_px, dtype=np.float32) + 0.5) / sensor_px
    u, v = np.meshgrid(coords, coords)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    frames = []
    for index, rng in enumerate(frame_rngs):
        shown = jitter_framing(framing, rng, 0.5) if index else framing
        corners = np.array(setup.corners, dtype=np.float32) + rng.normal(0, 0.004, size=(4, 2)).astype(np.float32)
        to_screen = cv2.getPerspectiveTransform(corners, square).astype(np.float64)
        points = cv2.perspectiveTransform(np.stack([u, v], axis=-1).reshape(-1, 1, 2), to_screen)
        q_x, q_y = points[:, 0, 0].reshape(u.shape), points[:, 0, 1].reshape(u.shape)
        sx, sy = (q_x + PAD) * screen_px, (q_y + PAD) * screen_px
        content = _displayed_content(source, shown, setup, int(round(screen_px)))
        values = cv2.remap(content, sx - 0.5, sy - 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        emitted = np.power(values, setup.gamma)
        luma = (emitted @ _LUMA)[..., None]
        emitted = np.clip(luma + screen.saturation * (emitted - luma), 0, None)
        emitted = screen.black_level + (1 - screen.black_level) * emitted
        emitted *= np.array(setup.white, dtype=np.float32) * setup.brightness
        emitted *= subpixel_grid(screen.layout, sx, sy, setup.pitch, lens_blur, screen.fill)
        amplitude, period, phase = setup.banding
        if amplitude:
            rows = np.arange(sensor_px, dtype=np.float32)[:, None, None]
            emitted *= 1 - amplitude * (0.5 + 0.5 * np.sin(2 * np.pi * rows / period + phase + index))
        gx, gy, radius, strength = setup.glare
        glare = strength * np.exp(-((u - gx) ** 2 + (v - gy) ** 2) / (radius * radius))
        glass = glare[..., None] * light + setup.reflection * room
        active = _rect_alpha(q_x, q_y, setup.active_rect, 2.0 / sensor_px)[..., None]
        radiance = active * emitted + glass + (1 - active) * 0.03 * light
        outer = tuple(r - setup.bezel if i < 2 else r + setup.bezel for i, r in enumerate(setup.active_rect))
        device = _rect_alpha(q_x, q_y, outer, 2.0 / sensor_px)[..., None]
        frames.append((device * radiance + (1 - device) * room).astype(np.float32))
        if cue_masks is not None:
            masks = {"moire": (active * device)[..., 0] > 0.5}
            if strength > 0:
                masks["glare"] = (glare > FLOOR) & (device[..., 0] > 0)
            if setup.active_rect != (-1.0, -1.0, 2.0, 2.0):
                masks["bezel"] = active[..., 0] < 1 - FLOOR / 10
            cue_masks.append(masks)
    return frames
