"""The simulated general captioner makes its mistakes at the set rates; the SCF filter removes the contradicting
captions (counted row by row); the four SCF arms caption what they say."""

import pytest
from datasets import Dataset, DatasetDict
from PIL import Image

from datasets_scripts.contract import FEATURES, make_record
from datasets_scripts.scf.caption_filter import judge_caption
from datasets_scripts.scf.keywords import SPOOF_FAMILIES
from datasets_scripts.scf.noisy_captions import family_caption
from datasets_scripts.scf.simulated_captioner import SimulatedCaptioner
from datasets_scripts.scf.simulated_flow import simulated_scf
from datasets_scripts.scf.template_captioner import row_key

ATTACKS = [("none", "live"), ("print", "print:laser_glossy"), ("replay", "replay:laptop_lcd"),
           ("mask", "mask:paper_cutout")]
RATES = dict(miss_rate=0.2, wrong_rate=0.15, contradict_rate=0.1)


def rows(count=400):
    return [dict(label=int(attack != "none"), attack_type=attack, attack_detail=detail, dataset="synth_a",
                 split="train", subject=f"s{i}", video_id=f"v{i}", frame_index=0)
            for i in range(count) for attack, detail in [ATTACKS[i % len(ATTACKS)]]]


@pytest.fixture(scope="module")
def corpus():
    image = Image.new("RGB", (8, 8), (120, 90, 60))
    return DatasetDict({"train": Dataset.from_list([make_record(image=image, **row) for row in rows(200)],
                                                   features=FEATURES)})


@pytest.mark.parametrize("concise", [True, False])
def test_error_rates_match_the_settings_and_the_filter_counts(concise):
    captioner = SimulatedCaptioner(**RATES, seed=3, concise=concise)
    sample = rows()
    errors = [captioner.error_of(row) for row in sample]
    for error, rate in (("miss", 0.2), ("wrong", 0.15), ("contradict", 0.1)):
        assert abs(errors.count(error) / len(sample) - rate) < 0.05, error
    reasons = [judge_caption(caption, row["label"], row["attack_type"], row["attack_detail"]).reason
               for row, caption in zip(sample, captioner.caption(sample))]
    contradicting = [r for r, e in zip(reasons, errors) if e == "contradict"]
    assert contradicting and contradicting.count("contradicts_label") == len(contradicting)
    assert all(r == "kept" for r, e in zip(reasons, errors) if e is None)
    spoof_misses = [r for r, e, row in zip(reasons, errors, sample) if e == "miss" and row["label"] == 1]
    assert spoof_misses and all(r == "no_family_keyword" for r in spoof_misses)
    for row, caption, reason, error in zip(sample, captioner.caption(sample), reasons, errors):
        if error != "wrong":
            continue
        if row["label"] == 0:  # an attack's cues on a live face
            assert reason == "contradicts_label"
        elif row["attack_type"] in ("print", "replay"):  # another family's cues on a print or a screen
            named = [f for f in SPOOF_FAMILIES if caption == family_caption(f, seed=3, key=row_key(row),
                                                                             concise=concise)]
            # a long partial caption whose medium is "a printed overlay" names only print words: kept on a print
            overlooked = named == ["partial"] and "printed overlay" in caption and row["attack_type"] == "print"
            assert reason == ("kept" if overlooked else "wrong_family_cue"), caption


def test_scf_arms(corpus):
    captioner = SimulatedCaptioner(**RATES, seed=0, concise=True)
    sample = corpus["train"].select_columns(["label", "attack_type", "attack_detail", "dataset", "split", "subject",
                                            "video_id", "frame_index"]).to_list()
    general = captioner.caption(sample)
    kept = [judge_caption(c, r["label"], r["attack_type"], r["attack_detail"]).kept for r, c in zip(sample, general)]
    contradicting = sum(captioner.error_of(r) == "contradict" for r in sample)

    none, _ = simulated_scf(corpus, "no_captions", captioner)
    assert set(none["train"]["caption"]) == {""}
    every, _ = simulated_scf(corpus, "all_captions", captioner)
    assert every["train"]["caption"] == general
    filtered, report = simulated_scf(corpus, "filtered", captioner)
    assert filtered["train"]["caption"] == [c if k else "" for c, k in zip(general, kept)]
    assert report["errors"]["contradict"] == {"rows": contradicting, "rejected": contradicting,
                                              "reasons": {"contradicts_label": contradicting}}
    assert report["stages"]["general"]["kept"] == sum(kept)
    with_cs, report = simulated_scf(corpus, "filtered_cs", captioner)
    captions = with_cs["train"]["caption"]
    assert all(judge_caption(c, r["label"], r["attack_type"], r["attack_detail"]).kept
               for r, c in zip(sample, captions) if c)
    assert sum(bool(c) for c in captions) > sum(kept)  # C_S recovers rejected rows
    assert set(with_cs["train"]["caption_source"]) <= {"", "simulated_general", "simulated_spoof_aware"}
    assert report["stages"]["spoof_aware"]["captioned"] > 0
    with pytest.raises(ValueError, match="not one of"):
        simulated_scf(corpus, "keep_half", captioner)


def test_rates_beyond_one_are_refused():
    with pytest.raises(ValueError, match="sum to at most 1"):
        SimulatedCaptioner(miss_rate=0.6, wrong_rate=0.3, contradict_rate=0.2)
