"""Caption noise on the demo's data path: exactly the seeded fraction of training rows, of the requested kind, and
never a dev or test row."""

import random

import pytest

from ifas.demo import run as demo
from datasets import Dataset, DatasetDict
from PIL import Image

from datasets_scripts.contract import FEATURES, make_record
from datasets_scripts.scf.caption_filter import judge_caption
from datasets_scripts.scf.keywords import SPOOF_FAMILIES, family_of
from datasets_scripts.scf.noisy_captions import GENERIC_CAPTIONS, add_caption_noise, family_caption
from datasets_scripts.scf.template_captioner import row_key, template_caption_for_row

ATTACKS = [("none", "live"), ("print", "print:laser_glossy:curl"), ("replay", "replay:laptop_lcd:glare"),
           ("mask", "mask:paper_cutout")]


@pytest.fixture(scope="module")
def captioned():
    """A SynthFAS-shaped corpus (four domains, three splits, template captions) built in code."""
    image = Image.new("RGB", (8, 8), (120, 90, 60))
    splits = {}
    for split, count in (("train", 40), ("dev", 12), ("test", 12)):
        rows = []
        for i in range(count):
            attack, detail = ATTACKS[i // 4 % len(ATTACKS)]
            row = dict(label=int(attack != "none"), attack_type=attack, attack_detail=detail,
                       dataset=f"synth_{'abcd'[i % 4]}", split=split, subject=f"s{i}", video_id=f"{split}-{i}")
            rows.append(make_record(image=image, caption=template_caption_for_row(row, concise=True),
                                    caption_source="template", **row))
        splits[split] = Dataset.from_list(rows, features=FEATURES)
    return DatasetDict(splits)


def config(p, kind, seed=0):
    return {"target_domain": "synth_d", "seed": seed, "concise_captions": True, "caption_noise": p,
            "caption_noise_kind": kind}


@pytest.mark.parametrize("kind", ["contradict", "wrong_family", "generic"])
def test_noise_touches_exactly_the_seeded_training_rows(captioned, kind):
    clean_train, clean_dev, clean_test = demo.protocol_splits(config(0.0, kind), captioned)
    train, dev, test = demo.protocol_splits(config(0.3, kind), captioned)
    assert dev["caption"] == clean_dev["caption"] and test["caption"] == clean_test["caption"]
    assert dev["caption_source"] == clean_dev["caption_source"] and test["video_id"] == clean_test["video_id"]
    changed = [i for i, (a, b) in enumerate(zip(clean_train["caption"], train["caption"])) if a != b]
    order = list(range(len(train)))
    random.Random(0).shuffle(order)  # the seeded pick, written out
    assert changed == sorted(order[: round(0.3 * len(train))])
    assert all(train[i]["caption_source"] == f"noise:{kind}" for i in changed)
    assert sum(source.startswith("noise:") for source in train["caption_source"]) == len(changed)
    for i in changed:
        row = train[i]
        family = family_of(row["attack_type"], row["attack_detail"])
        verdict = judge_caption(row["caption"], row["label"], row["attack_type"], row["attack_detail"])
        if kind == "contradict":
            assert verdict.reason == "contradicts_label", row["caption"]
        elif kind == "generic":
            assert row["caption"] in GENERIC_CAPTIONS
        else:
            others = {family_caption(f, seed=0, key=row_key(row), concise=True) for f in SPOOF_FAMILIES if f != family}
            assert row["caption"] in others


def test_noise_zero_is_the_clean_protocol_and_the_seed_picks_other_rows(captioned):
    clean_train, _, _ = demo.protocol_splits(config(0.0, "generic"), captioned)
    once, _, _ = demo.protocol_splits(config(0.6, "generic", seed=0), captioned)
    again, _, _ = demo.protocol_splits(config(0.6, "generic", seed=0), captioned)
    other, _, _ = demo.protocol_splits(config(0.6, "generic", seed=1), captioned)
    assert once["caption"] == again["caption"] and once["caption"] != other["caption"]
    assert sum(a != b for a, b in zip(clean_train["caption"], once["caption"])) == round(0.6 * len(clean_train))


def test_bad_noise_settings_are_refused(captioned):
    with pytest.raises(ValueError, match="not one of"):
        add_caption_noise({"train": captioned["train"]}, 0.3, "typos")
    with pytest.raises(ValueError, match=r"not a fraction in \[0, 1\]"):
        add_caption_noise({"train": captioned["train"]}, 1.5, "generic")
