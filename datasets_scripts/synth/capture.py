"""The camera model that records every SynthFAS sample: optics, Bayer sensor, noise and the phone/webcam ISP.

Input is scene radiance in linear RGB at the sensor resolution; output is the JPEG the device would save.
Order follows a real pipeline: auto exposure, vignetting, lens PSF, RGGB colour filter array, photon + read
noise, 12-bit quantisation, bilinear demosaicking, white balance, saturation, tone curve, chroma noise
reduction, sharpening, resize to the dataset size and JPEG (4:2:0).

Example:
    >>> import numpy as np
    >>> from datasets_scripts.synth.capture import capture, decode
    >>> from datasets_scripts.synth.domains import DOMAINS
    >>> scene = np.full((176, 176, 3), 0.2, np.float32)
    >>> jpeg = capture(scene, DOMAINS[0].camera, np.ones(3, np.float32), np.random.default_rng(0), 96)
    >>> decode(jpeg).shape
    (96, 96, 3)
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .domains import CameraModel

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@lru_cache(maxsize=16)
def _vignette(px: int, strength: float) -> np.ndarray:
    ramp = np.linspace(-1, 1, px, dtype=np.float32)
    r2 = (ramp[None, :] ** 2 + ramp[:, None] ** 2) / 2
    return (1.0 - strength * r2)[..., None].astype(np.float32)


def _sensor(radiance: np.ndarray, camera: CameraModel, rng: np.random.Generator) -> np.ndarray:
    """Sample through an RGGB colour filter array, add photon and read noise, demosaic (float32 RGB)."""
    height, width = radiance.shape[:2]
    raw = np.empty((height, width), dtype=np.float32)
    raw[0::2, 0::2] = radiance[0::2, 0::2, 0]
    raw[0::2, 1::2] = radiance[0::2, 1::2, 1]
    raw[1::2, 0::2] = radiance[1::2, 0::2, 1]
    raw[1::2, 1::2] = radiance[1::2, 1::2, 2]
    sigma = np.sqrt(camera.shot_gain * np.clip(raw, 0, None) + camera.read_noise**2)
    raw += sigma * rng.standard_normal(raw.shape, dtype=np.float32)
    raw16 = (np.clip(raw, 0.0, 1.0) * 4095.0).astype(np.uint16)
    return cv2.cvtColor(raw16, cv2.COLOR_BayerRGGB2RGB).astype(np.float32) / 4095.0


def _tone(linear: np.ndarray, contrast: float) -> np.ndarray:
    encoded = np.power(np.clip(linear, 0.0, 1.0), 1 / 2.2)
    s_curve = encoded * encoded * (3.0 - 2.0 * encoded)
    return (1.0 - contrast) * encoded + contrast * s_curve


def develop(
    radiance: np.ndarray, camera: CameraModel, illuminant: np.ndarray, rng: np.random.Generator, lens_blur: float
) -> np.ndarray:
    """Run optics (PSF sigma `lens_blur`, sensor px), sensor and ISP on linear radiance at the sensor resolution;
    return display RGB in [0, 1]."""
    px = radiance.shape[0]
    luminance = float((radiance[px // 4 : 3 * px // 4, px // 4 : 3 * px // 4] @ _LUMA).mean())
    exposure = camera.exposure * float(np.exp(rng.normal(0, 0.2))) / max(luminance, 1e-4)
    image = radiance * (exposure * _vignette(px, camera.vignetting))
    image = cv2.GaussianBlur(image, (0, 0), lens_blur)
    image = _sensor(image, camera, rng)
    white = illuminant ** camera.awb_adaptation * (illuminant @ _LUMA) ** (1 - camera.awb_adaptation)
    image *= (np.array(camera.awb_bias, dtype=np.float32) / white).astype(np.float32)
    luma = (image @ _LUMA)[..., None]
    image = luma + camera.saturation * (image - luma)
    image = _tone(image, camera.contrast).astype(np.float32)
    if camera.chroma_denoise > 0:
        ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
        ycrcb[..., 1:] = cv2.GaussianBlur(ycrcb[..., 1:], (0, 0), camera.chroma_denoise)
        image = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    if camera.sharpen > 0:
        image = cv2.addWeighted(image, 1 + camera.sharpen, cv2.GaussianBlur(image, (0, 0), 1.0), -camera.sharpen, 0)
    return np.clip(image, 0.0, 1.0)


def encode_jpeg(rgb: np.ndarray, size: int, quality: int) -> bytes:
    """Resize display RGB in [0, 1] to `size` and JPEG-encode it."""
    interpolation = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (size, size), interpolation=interpolation)
    bgr = cv2.cvtColor(np.clip(resized * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a SynthFAS frame")
    return buffer.tobytes()


def capture(
    radiance: np.ndarray,
    camera: CameraModel,
    illuminant: np.ndarray,
    rng: np.random.Generator,
    size: int,
    lens_blur: float | None = None,
) -> bytes:
    """Record linear `radiance` (sensor_px square) with `camera` under room light `illuminant`; return JPEG bytes.

    `lens_blur` (PSF sigma, sensor px) is drawn from the camera's range when not given.
    """
    blur = float(rng.uniform(*camera.lens_blur)) if lens_blur is None else lens_blur
    quality = int(rng.integers(camera.jpeg_quality[0], camera.jpeg_quality[1] + 1))
    return encode_jpeg(develop(radiance, camera, illuminant, rng, blur), size, quality)


def decode(jpeg: bytes) -> np.ndarray:
    """Decode JPEG bytes to an RGB uint8 array."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
