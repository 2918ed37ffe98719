"""ifas.evaluation with heat maps: overlay grids per attack family, and the pointing game of answers that name a cue
against the SynthFAS cue masks (`--cue_masks`)."""

import json

import numpy as np
import pytest
from PIL import Image

from datasets_scripts.synthfas import build_synthfas
from ifas.evaluation import _with_localisation, main
from ifas.fas_metrics.localisation import aggregate
from ifas.reporting.heatmaps import localisation_markdown


def test_cli_writes_overlay_grids_and_localisation(tiny_checkpoint, tmp_path):
    build_synthfas(tmp_path / "synth", per_domain=16, size=32, seed=2, domains=("synth_c",))
    out = tmp_path / "report"
    main(["--model", tiny_checkpoint, "--dataset", f"{tmp_path / 'synth'}:train", "--out", str(out), "--explain", "2",
          "--max_new_tokens", "3", "--cue_masks", str(tmp_path / "synth")])
    document = json.loads((out / "explanations.json").read_text())
    target = document["targets"]["synth:train"]
    families = {sample["attack_type"] for sample in target["samples"]}
    for family in families:
        grid = Image.open(next(out.glob(f"heatmaps_*_{family}.png")))
        assert grid.width == 6 * 128
    sample = target["samples"][0]
    assert np.asarray(sample["heatmap"]).ndim == 2 and len(sample["heatmap_box"]) == 4
    assert "localisation" in document and "named_cues" in sample


def test_an_answer_naming_glare_is_scored_against_the_glare_mask():
    glare = np.zeros((8, 8), bool)
    glare[:2, 6:] = True  # top-right cell of a 4 x 4 map
    masks = {("synth_d", "v1", 1): {"glare": glare, "moire": np.ones((8, 8), bool)}}
    heatmap = np.zeros((4, 4))
    heatmap[0, 3] = 1.0
    answer = {"explanation": "Screen replay: screen glare across the image.", "heatmap": heatmap,
              "explanation_heatmap": np.eye(4)[::-1] * 0.5, "heatmap_box": [0, 0, 8, 8]}
    record = {"dataset": "synth_d", "video_id": "v1", "label": 1}
    scored = _with_localisation(answer, record, 1, masks, np.random.default_rng(0))
    assert scored["named_cues"] == ["glare"]
    assert scored["localisation"]["judgment"] == {"hit": True, "mass": 1.0}  # the moire mask is not named: unused
    assert scored["localisation"]["explanation"] == {"hit": True, "mass": pytest.approx(0.25)}
    assert scored["localisation"]["centre"]["hit"] is False
    assert isinstance(scored["heatmap"], list)
    live = _with_localisation(answer, {**record, "label": 0}, 1, masks, np.random.default_rng(0))
    other_frame = _with_localisation(answer, record, 0, masks, np.random.default_rng(0))
    assert "localisation" not in live and "localisation" not in other_frame
    shared = _with_localisation({**answer, "heatmap_share": 1e-9, "explanation_heatmap_share": 0.4}, record, 1, masks,
                                np.random.default_rng(0))
    assert shared["localisation"]["judgment"] == {"hit": True, "mass": 1.0, "share": 1e-9}
    lines = localisation_markdown({"synth_d": aggregate([{"family": "replay",
                                                           "localisation": shared["localisation"]}])})
    assert lines[-1].endswith("synth_d: judgment map 1e-09, explanation map 0.4.")
