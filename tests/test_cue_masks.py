"""SynthFAS cue masks: each named mask covers every pixel its cue changes (against the same frame rendered without
that cue), is not the whole frame, and the masks are saved beside the corpus without touching the data contract."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from datasets_scripts.contract import COLUMNS
from datasets_scripts.cue_masks import load_cue_masks
from datasets_scripts.synth.domains import domain_by_name
from datasets_scripts.synth.faces import Framing, load_sources
from datasets_scripts.synth.lighting import sample_lighting
from datasets_scripts.synth.paper_mask import MaskSetup, render_mask_video
from datasets_scripts.synth.print_attack import render_print_video, sample_sheet
from datasets_scripts.synth.replay_attack import render_replay_video, sample_screen
from datasets_scripts.synthfas import build_synthfas

FRAMING = Framing(eye_center=(0.5, 0.42), iod=0.3, roll=0.0, flip=False, yaw=0.0, pitch=0.0)
PX = 96  # sensor pixels: small and fast
DOMAIN = domain_by_name("synth_a")
ASTRONAUT, HOPPER = load_sources()
UNTILTED = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def _render(renderer, setup, medium, lighting, with_masks: bool):
    masks = [] if with_masks else None
    frame = renderer(ASTRONAUT, FRAMING, setup, medium, lighting, PX, 0.5, [np.random.default_rng(9)], masks)[0]
    return frame, (masks[0] if with_masks else None)


def _check_covers(renderer, setup, without, medium, cue):
    """The frame with the cue minus the frame without it: every changed pixel is inside the cue's mask."""
    lighting = sample_lighting(np.random.default_rng(4), DOMAIN.room_kelvin)
    frame, masks = _render(renderer, setup, medium, lighting, True)
    plain, _ = _render(renderer, without, medium, lighting, False)
    light = float((lighting.gain * lighting.illuminant).max())
    changed = np.abs(frame - plain).max(axis=-1) > 0.02 * light
    mask = masks[cue]
    assert mask.shape == (PX, PX) and mask.dtype == bool
    assert changed.sum() > 20, f"{cue}: the cue changed too little to test"
    assert not (changed & ~mask).any(), f"{cue}: {(changed & ~mask).sum()} changed pixels outside the mask"
    assert mask.mean() < 0.9, f"{cue}: the mask is (nearly) the whole frame"
    return masks


def test_replay_glare_and_bezel_masks_cover_what_they_change():
    setup = sample_screen(np.random.default_rng(2), DOMAIN.screen, PX)
    setup = replace(setup, glare=(0.3, 0.35, 0.2, 0.4), active_rect=(0.08, -1.0, 2.0, 0.9), banding=(0.0, 10.0, 0.0))
    masks = _check_covers(render_replay_video, setup, replace(setup, glare=(0.3, 0.35, 0.2, 0.0)), DOMAIN.screen,
                          "glare")
    assert masks["glare"][int(0.35 * PX), int(0.3 * PX)] and not masks["glare"][PX - 2, PX - 2]
    masks = _check_covers(render_replay_video, setup, replace(setup, active_rect=(-1.0, -1.0, 2.0, 2.0)),
                          DOMAIN.screen, "bezel")
    assert masks["bezel"][PX // 2, 1] and masks["bezel"][PX - 1, PX // 2] and not masks["bezel"][PX // 2, PX // 2]
    assert masks["moire"][PX // 2, PX // 2] and not masks["moire"][PX // 2, 1]


def test_print_gloss_and_edge_masks_cover_what_they_change():
    printer = DOMAIN.printers[0]
    sheet = sample_sheet(np.random.default_rng(3), printer)
    sheet = replace(sheet, corners=UNTILTED, curl=0.0, gloss=(0.6, 0.3, 0.2, 0.3),
                    photo_rect=(0.1, -1.0, 2.0, 2.0), sheet_rect=(0.05, -1.0, 2.0, 2.0))
    masks = _check_covers(render_print_video, sheet, replace(sheet, gloss=(0.6, 0.3, 0.2, 0.0)), printer, "glare")
    assert masks["glare"][int(0.3 * PX), int(0.6 * PX)]
    no_edges = replace(sheet, photo_rect=(-1.0, -1.0, 2.0, 2.0), sheet_rect=(-1.0, -1.0, 2.0, 2.0))
    masks = _check_covers(render_print_video, sheet, no_edges, printer, "edges")
    assert masks["edges"][PX // 2, 2] and not masks["edges"][PX // 2, PX // 2]
    assert masks["halftone"][PX // 2, PX // 2] and not masks["halftone"][PX // 2, 2]


def test_paper_mask_eye_hole_and_cut_edge_masks_cover_what_they_change():
    printer = DOMAIN.printers[0]
    sheet = replace(sample_sheet(np.random.default_rng(5), printer, edges=0.0, curl=0.0), corners=UNTILTED)
    setup = MaskSetup(sheet=sheet, oval=True, hole_scale=1.1, cut_seed=3, wearer=HOPPER, wearer_shift=(0.0, 0.0))
    masks = _check_covers(render_mask_video, setup, replace(setup, hole_scale=1e-4), printer, "eye_holes")
    eye_row, eye_col = int(0.42 * PX), int((0.5 - 0.15) * PX)
    assert masks["eye_holes"][eye_row, eye_col] and not masks["eye_holes"][int(0.62 * PX), PX // 2]
    masks = _check_covers(render_mask_video, setup, replace(setup, oval=False), printer, "cut_edge")
    assert masks["cut_edge"][2, 2] and not masks["cut_edge"][eye_row, PX // 2]


def test_build_saves_cue_masks_beside_an_unchanged_contract(tmp_path):
    corpus = build_synthfas(tmp_path / "synth", per_domain=8, size=48, seed=1, domains=("synth_b",))
    masks = load_cue_masks(tmp_path / "synth")
    rows = [row for split in corpus.values() for row in split.remove_columns("image")]
    assert all(tuple(split.column_names) == COLUMNS for split in corpus.values())
    spoof = {(r["dataset"], r["video_id"], r["frame_index"]) for r in rows if r["label"] == 1}
    assert set(masks) == spoof  # every spoof image has masks, no live image has any
    families = {(r["dataset"], r["video_id"], r["frame_index"]): r["attack_type"] for r in rows}
    for key, cues in masks.items():
        expected = {"print": {"halftone"}, "replay": {"moire"}, "mask": {"halftone", "eye_holes"}}[families[key]]
        assert expected <= set(cues)
        assert all(mask.shape == (48, 48) and mask.dtype == bool for mask in cues.values())
    with pytest.raises(FileNotFoundError, match="no cue masks"):
        load_cue_masks(tmp_path)
