"""The SCF keyword dictionary, family mapping, filter and template captioner on crafted captions."""

import pytest

from datasets_scripts.contract import ATTACK_TYPES
from datasets_scripts.scf.caption_filter import judge_caption, keep_caption
from datasets_scripts.scf.keywords import FAMILIES, family_of
from datasets_scripts.scf.matching import find_terms
from datasets_scripts.scf.template_captioner import template_caption, template_caption_for_row

SPOOF, LIVE = 1, 0


@pytest.mark.parametrize(
    ("attack_type", "detail", "family"),
    [
        ("none", "", "live"),
        ("print", "printed_photo", "print"),
        ("print", "enm_b", "print"),
        ("replay", "ipad_video", "replay"),
        ("mask", "paper_mask", "paper_mask"),
        ("mask", "Mc", "paper_mask"),
        ("mask", "mask:paper_cutout", "paper_mask"),
        ("mask", "silicone", "3d_mask"),
        ("mask", "type_id 2 pai 81", "3d_mask"),
        ("makeup", "Im", "makeup"),
        ("partial", "Funnyeye", "partial"),
        ("other", "paper_glasses", "partial"),
        ("other", "electronic photo", "replay"),
        ("other", "poster", "print"),
        ("other", "resin", "3d_mask"),
        ("other", "", "other"),
    ],
)
def test_family_of(attack_type, detail, family):
    assert family_of(attack_type, detail) == family


def test_family_of_rejects_unknown_attack_type():
    with pytest.raises(ValueError, match="attack_type 'deepfake'"):
        family_of("deepfake")


def test_every_family_has_words():
    for family in FAMILIES.values():
        assert family.keywords and family.cues and family.description


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("PRINTED photo", "print"),
        ("several printouts", "printout"),
        ("curled Paper Edges", "paper edge"),
        ("creased", "crease"),
        ("two screens", "screen"),
        ("a cutout face", "cut-out"),
        ("cut out eye-holes", "eye hole"),
        ("MASKS", "mask"),
        ("wrinkled", "wrinkle"),
    ],
)
def test_matching_accepts_case_plural_and_inflection(text, term):
    assert find_terms(text, (term,)) == [term]


@pytest.mark.parametrize(
    ("text", "term"),
    [("unprinted", "print"), ("sunscreen", "screen"), ("unnatural skin texture", "natural skin texture"),
     ("blueprint", "print"), ("masking tape", "masks")],
)
def test_matching_respects_word_boundaries(text, term):
    assert find_terms(text, (term,)) == []


def test_matching_skips_negated_mentions_within_the_clause():
    assert find_terms("There is no screen glare.", ("screen glare",)) == []
    assert find_terms("Skin without any visible screen", ("screen",)) == []
    assert find_terms("No glare. A screen bezel is visible.", ("screen",)) == ["screen"]


@pytest.mark.parametrize(
    ("caption", "attack_type", "detail"),
    [
        ("The face is printed on paper: halftone dots and curled paper edges.", "print", "printed_photo"),
        ("PRINTOUTS with CREASES.", "print", ""),
        ("Moiré patterns and glare on an iPad screen.", "replay", "ipad_video"),
        ("A paper mask with cut-out eye holes.", "mask", "Mc"),
        ("A silicone mask with waxy, unnatural skin texture.", "mask", "silicone"),
        ("Heavy impersonation makeup reshapes the nose.", "makeup", "Im"),
        ("Funny-eye glasses cover part of the face.", "partial", "Funnyeye"),
        ("This is not a real person but a spoofing replica.", "other", ""),
    ],
)
def test_spoof_caption_with_own_keyword_is_kept(caption, attack_type, detail):
    verdict = judge_caption(caption, SPOOF, attack_type, detail)
    assert verdict.kept, verdict
    assert verdict.evidence


@pytest.mark.parametrize(
    ("caption", "attack_type", "detail", "reason"),
    [
        ("A smiling woman with brown hair.", "print", "", "no_family_keyword"),
        ("A photo of a man.", "replay", "", "no_family_keyword"),
        ("A genuine face printed on paper.", "print", "", "contradicts_label"),
        ("A real person behind a tablet screen.", "replay", "", "contradicts_label"),
        ("Bona fide skin with halftone dots.", "print", "", "contradicts_label"),
        ("A photo printed on paper, shown on a phone screen.", "print", "", "wrong_family_cue"),
        ("A paper mask on a screen with moiré.", "replay", "", "wrong_family_cue"),
        ("A paper mask with cut-out eye holes.", "mask", "silicone", "wrong_family_cue"),
        ("A silicone mask.", "mask", "Mc", "wrong_family_cue"),
        ("   ", "print", "", "empty"),
    ],
)
def test_spoof_caption_rejections(caption, attack_type, detail, reason):
    verdict = judge_caption(caption, SPOOF, attack_type, detail)
    assert not verdict.kept
    assert verdict.reason == reason


def test_negated_contradiction_does_not_reject():
    assert keep_caption("Not a real person: a printed photo with creases.", SPOOF, "print")
    assert keep_caption("A printed photo, not a screen.", SPOOF, "print")


@pytest.mark.parametrize(
    "caption",
    [
        "A man with natural skin texture and soft 3D shading.",
        "The woman's face shows specular highlights on the skin.",
        "A person with no screen glare or paper edges in view.",
    ],
)
def test_live_caption_without_spoof_cue_is_kept(caption):
    assert keep_caption(caption, LIVE, "none")


@pytest.mark.parametrize(
    "caption",
    [
        "A man holding a printed photo of his face.",
        "A woman's face on a phone screen.",
        "The person wears a silicone MASK.",
        "A fake face of a man.",
        "Moiré over the face of a person.",
        "A person behind paper glasses.",
    ],
)
def test_live_caption_with_spoof_cue_is_rejected(caption):
    verdict = judge_caption(caption, LIVE, "none")
    assert verdict.reason == "contradicts_label"
    assert verdict.conflicts


def test_live_gibberish_is_rejected():
    assert judge_caption("xq zzv plorb", LIVE, "none").reason == "no_family_keyword"


def test_label_and_attack_type_must_agree():
    with pytest.raises(ValueError, match="contradicts"):
        judge_caption("paper", LIVE, "print")


ROWS = [
    ("none", ""), ("print", ""), ("print", "enm_b"), ("print", "poster"), ("replay", "ipad_video"), ("replay", "Vm"),
    ("mask", "Mc"), ("mask", "Mu"), ("mask", "silicone"), ("mask", "mannequin"), ("mask", ""), ("makeup", "Co"),
    ("makeup", "impersonation"), ("partial", "Funnyeye"), ("partial", "Mouth"), ("partial", "wig"), ("other", ""),
    ("other", "paper_glasses"),
]


@pytest.mark.parametrize(("attack_type", "detail"), ROWS)
def test_template_captions_pass_the_filter_and_have_no_judgment(attack_type, detail):
    label = LIVE if attack_type == "none" else SPOOF
    captions = {template_caption(attack_type, detail, seed=seed, key="row") for seed in range(40)}
    assert len(captions) > 5
    for caption in captions:
        assert keep_caption(caption, label, attack_type, detail), caption
        assert not caption.lower().startswith(("yes", "no"))


def test_template_caption_is_deterministic_per_seed_and_row():
    row = {"attack_type": "replay", "attack_detail": "ipad_video", "dataset": "msu", "split": "train",
           "subject": "7", "video_id": "v", "frame_index": 3}
    assert template_caption_for_row(row, seed=1) == template_caption_for_row(dict(row), seed=1)
    other_rows = [template_caption_for_row(row | {"frame_index": i}, seed=1) for i in range(10)]
    assert len(set(other_rows)) > 1
    assert "iPad" in template_caption("replay", "ipad_video", seed=3) or "tablet" in template_caption(
        "replay", "ipad_video", seed=3)


def test_template_names_the_medium():
    assert "silicone" in template_caption("mask", "silicone", seed=0)
    assert "paper mask" in template_caption("mask", "Mc", seed=0)
    assert all(attack in ATTACK_TYPES for attack, _ in ROWS)
