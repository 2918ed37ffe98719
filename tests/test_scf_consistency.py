"""The explanation-consistency judge on crafted answers."""

import pytest

from datasets_scripts.scf.consistency import aggregate_by_attack_type, judge_answer, judgment_record, split_answer


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes. Natural skin.", ("yes", "Natural skin.")),
        ("no, printed paper", ("no", "printed paper")),
        ("  NO: a screen", ("no", "a screen")),
        ("Nothing to see", (None, "Nothing to see")),
        ("", (None, "")),
    ],
)
def test_split_answer(answer, expected):
    assert split_answer(answer) == expected


def test_correct_consistent_answer_naming_the_family():
    judged = judge_answer("No. The face is printed on paper: halftone dots and paper edges.", 1, "print")
    assert (judged.judgment_correct, judged.explanation_consistent, judged.names_family) == (True, True, True)
    assert judged.fully_consistent


def test_live_answer():
    judged = judge_answer("Yes. The person shows natural skin texture and 3D shading.", 0, "none")
    assert judged.fully_consistent and judged.family == "live"


def test_wrong_judgment_with_consistent_explanation():
    judged = judge_answer("Yes. A woman with natural skin.", 1, "replay", "ipad_video")
    assert not judged.judgment_correct
    assert judged.explanation_consistent
    assert not judged.names_family


def test_spoof_judgment_with_live_claim_is_inconsistent():
    judged = judge_answer("No. This is a real person with genuine skin.", 1, "print")
    assert judged.judgment_correct and not judged.explanation_consistent
    assert "real person" in judged.conflicts


def test_live_judgment_with_spoof_cue_is_inconsistent():
    judged = judge_answer("Yes. Moiré patterns cover the screen.", 0, "none")
    assert judged.judgment_correct and not judged.explanation_consistent


def test_negated_cue_is_not_a_contradiction():
    assert judge_answer("Yes. There is no screen glare on the skin.", 0, "none").explanation_consistent


def test_wrong_family_is_not_named():
    judged = judge_answer("No. The face is shown on a tablet screen.", 1, "mask", "silicone")
    assert judged.judgment_correct and judged.explanation_consistent and not judged.names_family


def test_missing_judgment_is_neither_correct_nor_consistent():
    judged = judge_answer("The face is printed on paper.", 1, "print")
    assert judged.judgment is None
    assert not judged.judgment_correct and not judged.explanation_consistent
    assert judged.names_family


def test_aggregate_by_attack_type():
    judged = [
        judge_answer("No. Printed paper with creases.", 1, "print"),
        judge_answer("Yes. A person.", 1, "print"),
        judge_answer("Yes. Natural skin texture on the face.", 0, "none"),
    ]
    rates = aggregate_by_attack_type(judged)
    assert set(rates) == {"all", "none", "print"}
    assert rates["print"] == {"n": 2, "judgment_correct": 0.5, "explanation_consistent": 1.0,
                              "names_family": 0.5, "fully_consistent": 0.5}
    assert rates["all"]["n"] == 3
    assert rates["all"]["judgment_correct"] == pytest.approx(2 / 3)
    assert judgment_record(judged[0])["fully_consistent"] is True


def test_judge_decoding_bans_what_this_judge_calls_a_contradiction():
    """`judge` keeps explanations free of the phrases this consistency judge flags: the live claims after "No", the
    concise captions' attack-family leads after "Yes"."""
    from configuration_ifas import DEFAULT_CONTRADICTING_PHRASES, IFASConfig
    from datasets_scripts.scf.keywords import LIVE_CLAIMS
    from datasets_scripts.scf.template_captioner import CONCISE_LEADS

    assert tuple(DEFAULT_CONTRADICTING_PHRASES["spoof"]) == LIVE_CLAIMS
    leads = {lead.lower() for family, lead in CONCISE_LEADS.items() if family != "live"}
    assert leads == {phrase.lower() for phrase in DEFAULT_CONTRADICTING_PHRASES["live"]}
    config = IFASConfig.from_dict(IFASConfig(contradicting_phrases={"live": ["x y"], "spoof": ["z"]}).to_dict())
    assert config.contradicting_phrases == {"live": ["x y"], "spoof": ["z"]}
    for bad in ({"live": ["a"]}, {"live": [""], "spoof": ["b"]}, ["a"]):
        with pytest.raises(ValueError, match="contradicting_phrases"):
            IFASConfig(contradicting_phrases=bad)
