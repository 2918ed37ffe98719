"""Render one simulated SynthFAS video: a live face or an attack, captured frame by frame by a domain's camera.

Everything about a video (identity, framing, light, attack set-up, camera focus) is drawn from one seeded
generator, and every frame from its own, so any video can be rendered alone and reproduced exactly.

Example:
    >>> from datasets_scripts.synth.videos import VideoPlan, render_video
    >>> frames = render_video(VideoPlan("synth_a", "print", identity=0, seed=(0, 1)), size=64, n_frames=2)
    >>> len(frames), frames[0][1].startswith("print:laser_halftone")
    (2, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .capture import capture
from .cues import downsample_mask
from .domains import domain_by_name
from .faces import jitter_framing, load_sources, sample_framing
from .lighting import sample_lighting
from .live import render_live
from .paper_mask import MaskSetup, render_mask_video
from .print_attack import render_print_video, sample_sheet, sheet_detail
from .replay_attack import render_replay_video, sample_screen, screen_detail

ATTACKS = ("none", "print", "replay", "mask")  # the contract's attack_type values SynthFAS produces


@dataclass(frozen=True)
class VideoPlan:
    """What one video shows: domain name, attack type (contract value), identity index, and its seed."""

    domain: str
    attack: str
    identity: int
    seed: tuple[int, ...]


def render_video(plan: VideoPlan, size: int, n_frames: int, cue_masks: list | None = None) -> list[tuple[bytes, str]]:
    """Return `n_frames` (JPEG bytes, attack_detail) pairs for `plan` at `size` x `size` pixels.

    With a list as `cue_masks`, one dict per frame is appended to it: cue name -> boolean `size` x `size` mask of
    where the renderer put that cue (`datasets_scripts.synth.cues`; empty for live frames)."""
    if plan.attack not in ATTACKS:
        raise ValueError(f"unknown SynthFAS attack {plan.attack!r}; expected one of {ATTACKS}")
    domain = domain_by_name(plan.domain)
    camera = domain.camera
    sources = load_sources()
    source = sources[plan.identity % len(sources)]
    rng = np.random.default_rng(plan.seed)
    framing = sample_framing(rng)
    lighting = sample_lighting(rng, domain.room_kelvin)
    focus = float(rng.uniform(*camera.lens_blur))
    frame_rngs = [np.random.default_rng((*plan.seed, 1 + index)) for index in range(n_frames)]
    sensor_px = camera.sensor_px
    masks = [] if cue_masks is not None else None
    if plan.attack == "none":
        frames = [
            render_live(source, jitter_framing(framing, frame_rng) if index else framing, lighting, sensor_px)
            for index, frame_rng in enumerate(frame_rngs)
        ]
        detail = "live"
    elif plan.attack == "print":
        printer = domain.printers[int(rng.integers(len(domain.printers)))]
        sheet = sample_sheet(rng, printer)
        frames = render_print_video(source, framing, sheet, printer, lighting, sensor_px, focus, frame_rngs, masks)
        detail = ":".join(["print", printer.name, *sheet_detail(sheet)])
    elif plan.attack == "replay":
        screen = domain.screens[int(rng.integers(len(domain.screens)))]
        setup = sample_screen(rng, screen, sensor_px)
        frames = render_replay_video(source, framing, setup, screen, lighting, sensor_px, focus, frame_rngs, masks)
        detail = screen_detail(screen, setup)
    else:
        printer = domain.printers[int(rng.integers(len(domain.printers)))]
        setup = MaskSetup(
            sheet=sample_sheet(rng, printer, edges=0.0, curl=0.8),
            oval=bool(rng.random() < 0.6),
            hole_scale=float(rng.uniform(0.85, 1.25)),
            cut_seed=int(rng.integers(2**31)),
            wearer=sources[int(rng.integers(len(sources)))],
            wearer_shift=(float(rng.normal(0, 0.006)), float(rng.normal(0, 0.006))),
        )
        frames = render_mask_video(source, framing, setup, printer, lighting, sensor_px, focus, frame_rngs, masks)
        detail = "mask:paper_cutout" + (":oval" if setup.oval else ":sheet")
    if cue_masks is not None:
        cue_masks += [{cue: downsample_mask(mask, size) for cue, mask in frame.items()} for frame in masks or
                      [{}] * n_frames]
    return [
        (capture(frame, camera, lighting.illuminant, frame_rng, size, lens_blur=focus), detail)
        for frame, frame_rng in zip(frames, frame_rngs)
    ]
