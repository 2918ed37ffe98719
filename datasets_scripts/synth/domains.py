"""Capture domains of SynthFAS: each pairs one camera with its own printers and screens.

Every domain has two printers (one amplitude-modulated laser screen, one stochastic inkjet grain) and two displays
(one LCD with stripe sub-pixels, one OLED with a pentile diamond), each with its own parameters, so that a print and a
replay differ by the medium in every domain rather than by one device each.

A domain stands for one FAS corpus recorded with its own devices (like OULU phones or Replay-Attack's webcam),
so training on some domains and testing on a held-out one mimics cross-domain face anti-spoofing.

Example:
    >>> from datasets_scripts.synth.domains import DOMAINS, domain_by_name
    >>> [d.name for d in DOMAINS]
    ['synth_a', 'synth_b', 'synth_c', 'synth_d']
    >>> domain_by_name("synth_b").screen.layout
    'pentile'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CameraModel:
    """Sensor, optics and image signal processor of the device that captures every sample of a domain."""

    name: str
    sensor_px: int  # sensor pixels across the square face crop (before resizing to the output size)
    lens_blur: tuple[float, float]  # Gaussian PSF sigma range, sensor px
    read_noise: float  # read-noise std, fraction of full scale
    shot_gain: float  # photon-noise variance per unit signal
    awb_adaptation: float  # share of the illuminant colour the auto white balance removes
    awb_bias: tuple[float, float, float]  # residual colour cast of the white balance (R, G, B gains)
    saturation: float
    contrast: float  # S-curve strength of the tone curve
    chroma_denoise: float  # sigma of the chroma noise filter, sensor px (0 = none)
    sharpen: float  # unsharp-mask amount
    vignetting: float  # relative fall-off at the corners
    jpeg_quality: tuple[int, int]
    exposure: float  # mean linear luminance the auto exposure aims at


@dataclass(frozen=True)
class PrinterModel:
    """Printer, screening and paper used for the print and paper-mask attacks of a domain."""

    name: str
    screening: str  # "am": rotated clustered-dot CMYK screens (laser, offset); "fm": stochastic dots (inkjet)
    cell_px: tuple[float, float]  # AM screen period or FM dot size, paper-plane px (2 per sensor px)
    paper_white: tuple[float, float, float]  # reflectance of the bare paper
    ink_black: float  # darkest reflectance: light scattered back by the ink/paper surface
    paper_scatter: float  # lateral light scatter in the paper (optical dot gain), paper px
    paper_texture: float  # relative std of the fibre texture
    glossy: bool  # glossy paper reflects a specular highlight, matte paper does not
    banding: float  # amplitude of the paper-feed density banding (laser engines)


@dataclass(frozen=True)
class ScreenModel:
    """Display used for the replay attacks of a domain."""

    name: str
    layout: str  # "rgb_stripe", "bgr_stripe" (LCD) or "pentile" (OLED RGBG diamond)
    pitch: tuple[float, float]  # sensor px per screen px (depends on screen ppi and viewing distance)
    gamma: tuple[float, float]  # display transfer exponent
    white_kelvin: tuple[float, float]  # display white point
    black_level: float  # emitted black relative to white (LCD backlight leak; OLED ~0)
    saturation: float  # >1: wide-gamut panel shows the sRGB content over-saturated
    brightness: tuple[float, float]  # emitted white relative to white paper under the room light
    pwm_banding: float  # probability of rolling-shutter bands from backlight / OLED PWM dimming
    fill: float  # share of each screen pixel that emits (the rest is the black matrix)


@dataclass(frozen=True)
class Domain:
    """One capture domain: the devices and the room light of a simulated corpus."""

    name: str
    camera: CameraModel
    printer: PrinterModel
    screen: ScreenModel
    room_kelvin: tuple[float, float]  # colour temperature range of the room light
    second_printer: PrinterModel  # of the other screening (AM / FM) than `printer`
    second_screen: ScreenModel  # of the other panel type (LCD stripe / OLED pentile) than `screen`

    @property
    def printers(self) -> tuple[PrinterModel, PrinterModel]:
        """The printers of this domain's print and paper-mask attacks (one is drawn per video)."""
        return (self.printer, self.second_printer)

    @property
    def screens(self) -> tuple[ScreenModel, ScreenModel]:
        """The displays of this domain's replay attacks (one is drawn per video)."""
        return (self.screen, self.second_screen)


DOMAINS = (
    Domain(
        name="synth_a",
        camera=CameraModel(
            name="laptop_webcam", sensor_px=176, lens_blur=(0.55, 0.9), read_noise=0.012, shot_gain=0.004,
            awb_adaptation=0.75, awb_bias=(1.0, 1.0, 1.08), saturation=0.85, contrast=0.15, chroma_denoise=1.2,
            sharpen=0.3, vignetting=0.25, jpeg_quality=(55, 75), exposure=0.17,
        ),
        printer=PrinterModel(
            name="laser_halftone", screening="am", cell_px=(1.5, 3.0), paper_white=(0.88, 0.90, 0.93),
            ink_black=0.05, paper_scatter=1.0, paper_texture=0.05, glossy=False, banding=0.03,
        ),
        screen=ScreenModel(
            name="laptop_lcd", layout="rgb_stripe", pitch=(0.75, 1.6), gamma=(2.0, 2.3), white_kelvin=(6500, 7500),
            black_level=0.02, saturation=0.9, brightness=(0.8, 1.4), pwm_banding=0.25, fill=0.75,
        ),
        room_kelvin=(3000, 4200),
        second_printer=PrinterModel(
            name="office_inkjet", screening="fm", cell_px=(0.4, 0.4), paper_white=(0.90, 0.90, 0.87),
            ink_black=0.08, paper_scatter=1.3, paper_texture=0.05, glossy=False, banding=0.01,
        ),
        second_screen=ScreenModel(
            name="oled_phone_small", layout="pentile", pitch=(0.5, 1.1), gamma=(2.2, 2.4), white_kelvin=(6500, 8000),
            black_level=0.001, saturation=1.2, brightness=(1.0, 1.8), pwm_banding=0.4, fill=0.45,
        ),
    ),
    Domain(
        name="synth_b",
        camera=CameraModel(
            name="flagship_phone", sensor_px=320, lens_blur=(0.35, 0.6), read_noise=0.003, shot_gain=0.0008,
            awb_adaptation=0.9, awb_bias=(1.04, 1.0, 0.96), saturation=1.2, contrast=0.3, chroma_denoise=1.5,
            sharpen=0.9, vignetting=0.1, jpeg_quality=(85, 95), exposure=0.2,
        ),
        printer=PrinterModel(
            name="photo_inkjet_glossy", screening="fm", cell_px=(0.25, 0.25), paper_white=(0.93, 0.93, 0.95),
            ink_black=0.03, paper_scatter=0.6, paper_texture=0.015, glossy=True, banding=0.0,
        ),
        screen=ScreenModel(
            name="phone_oled", layout="pentile", pitch=(0.55, 1.2), gamma=(2.2, 2.4), white_kelvin=(6800, 8500),
            black_level=0.001, saturation=1.25, brightness=(1.0, 2.0), pwm_banding=0.45, fill=0.5,
        ),
        room_kelvin=(4500, 6500),
        second_printer=PrinterModel(
            name="laser_glossy", screening="am", cell_px=(1.5, 2.5), paper_white=(0.93, 0.93, 0.94),
            ink_black=0.04, paper_scatter=0.7, paper_texture=0.02, glossy=True, banding=0.02,
        ),
        second_screen=ScreenModel(
            name="laptop_ips", layout="rgb_stripe", pitch=(0.8, 1.7), gamma=(2.0, 2.3), white_kelvin=(6300, 7300),
            black_level=0.025, saturation=0.9, brightness=(0.8, 1.3), pwm_banding=0.2, fill=0.72,
        ),
    ),
    Domain(
        name="synth_c",
        camera=CameraModel(
            name="budget_phone", sensor_px=240, lens_blur=(0.5, 1.0), read_noise=0.008, shot_gain=0.0025,
            awb_adaptation=0.8, awb_bias=(0.95, 1.04, 0.97), saturation=1.0, contrast=0.2, chroma_denoise=2.5,
            sharpen=0.6, vignetting=0.2, jpeg_quality=(68, 85), exposure=0.18,
        ),
        printer=PrinterModel(
            name="inkjet_plain", screening="fm", cell_px=(0.5, 0.5), paper_white=(0.86, 0.86, 0.84),
            ink_black=0.1, paper_scatter=1.6, paper_texture=0.06, glossy=False, banding=0.015,
        ),
        screen=ScreenModel(
            name="tablet_lcd", layout="bgr_stripe", pitch=(0.7, 1.4), gamma=(2.1, 2.4), white_kelvin=(6000, 7000),
            black_level=0.03, saturation=0.95, brightness=(0.7, 1.3), pwm_banding=0.15, fill=0.7,
        ),
        room_kelvin=(3800, 5500),
        second_printer=PrinterModel(
            name="laser_halftone_matte", screening="am", cell_px=(2.5, 3.5), paper_white=(0.87, 0.88, 0.88),
            ink_black=0.07, paper_scatter=1.1, paper_texture=0.045, glossy=False, banding=0.03,
        ),
        second_screen=ScreenModel(
            name="oled_phone_large", layout="pentile", pitch=(0.6, 1.3), gamma=(2.2, 2.5), white_kelvin=(7000, 9000),
            black_level=0.001, saturation=1.3, brightness=(1.1, 2.0), pwm_banding=0.5, fill=0.5,
        ),
    ),
    Domain(
        name="synth_d",
        camera=CameraModel(
            name="hd_camcorder", sensor_px=288, lens_blur=(0.4, 0.7), read_noise=0.005, shot_gain=0.0015,
            awb_adaptation=0.95, awb_bias=(1.0, 1.0, 1.0), saturation=1.05, contrast=0.2, chroma_denoise=1.0,
            sharpen=0.4, vignetting=0.15, jpeg_quality=(80, 92), exposure=0.19,
        ),
        printer=PrinterModel(
            name="colour_laser_coated", screening="am", cell_px=(2.0, 4.0), paper_white=(0.92, 0.92, 0.92),
            ink_black=0.04, paper_scatter=0.8, paper_texture=0.03, glossy=True, banding=0.02,
        ),
        screen=ScreenModel(
            name="desktop_monitor", layout="rgb_stripe", pitch=(1.0, 2.2), gamma=(2.2, 2.6), white_kelvin=(5800, 6800),
            black_level=0.015, saturation=1.0, brightness=(0.7, 1.2), pwm_banding=0.1, fill=0.8,
        ),
        room_kelvin=(5000, 7000),
        second_printer=PrinterModel(
            name="photo_inkjet_matte", screening="fm", cell_px=(0.3, 0.3), paper_white=(0.91, 0.91, 0.90),
            ink_black=0.05, paper_scatter=0.9, paper_texture=0.025, glossy=False, banding=0.0,
        ),
        second_screen=ScreenModel(
            name="oled_phone_hdr", layout="pentile", pitch=(0.55, 1.2), gamma=(2.2, 2.4), white_kelvin=(6500, 8000),
            black_level=0.001, saturation=1.2, brightness=(1.0, 1.9), pwm_banding=0.4, fill=0.48,
        ),
    ),
)


# A user's own camera, unlike every domain above: a grey (nearly monochrome), low-light, noisy webcam with coarse
# JPEG, a coarse-screen newsprint-like laser and a dye inkjet, and a large TV panel and an e-reader-sized OLED that no
# other domain has. Not part of the default corpus (`DOMAINS`): `make demo` never sees it; `bench/bench_adapt.py`
# builds it to measure `ifas adapt`.
NEW_CAMERA = Domain(
    name="synth_webcam",
    camera=CameraModel(
        name="grey_lowlight_webcam", sensor_px=144, lens_blur=(0.8, 1.3), read_noise=0.03, shot_gain=0.012,
        awb_adaptation=0.5, awb_bias=(1.0, 1.0, 1.0), saturation=0.15, contrast=0.05, chroma_denoise=3.0,
        sharpen=0.0, vignetting=0.45, jpeg_quality=(35, 50), exposure=0.09,
    ),
    printer=PrinterModel(
        name="newsprint_laser", screening="am", cell_px=(4.0, 6.0), paper_white=(0.80, 0.79, 0.74),
        ink_black=0.12, paper_scatter=2.0, paper_texture=0.08, glossy=False, banding=0.05,
    ),
    screen=ScreenModel(
        name="living_room_tv", layout="rgb_stripe", pitch=(2.4, 3.4), gamma=(2.3, 2.6), white_kelvin=(9000, 11000),
        black_level=0.04, saturation=1.4, brightness=(1.3, 2.2), pwm_banding=0.6, fill=0.6,
    ),
    room_kelvin=(2400, 3000),
    second_printer=PrinterModel(
        name="dye_inkjet_photo", screening="fm", cell_px=(0.8, 0.8), paper_white=(0.95, 0.94, 0.90),
        ink_black=0.02, paper_scatter=0.4, paper_texture=0.01, glossy=True, banding=0.0,
    ),
    second_screen=ScreenModel(
        name="oled_tablet_dim", layout="pentile", pitch=(1.6, 2.2), gamma=(2.4, 2.8), white_kelvin=(5000, 5800),
        black_level=0.001, saturation=0.8, brightness=(0.4, 0.7), pwm_banding=0.7, fill=0.35,
    ),
)
EXTRA_DOMAINS = (NEW_CAMERA,)


def domain_by_name(name: str) -> Domain:
    """Return the domain called `name` (a default or an extra domain); raise `KeyError` listing them otherwise."""
    for domain in DOMAINS + EXTRA_DOMAINS:
        if domain.name == name:
            return domain
    raise KeyError(f"unknown SynthFAS domain {name!r}; known: {[d.name for d in DOMAINS + EXTRA_DOMAINS]}")
