"""`score` and `judge` against hand computations: P(live) from the Yes/No logits at the answer position, and an
explanation generated after the word that was decided."""

import re

import pytest
import torch

from ifas.model_builders import tiny_ifas
from tiny_inputs import random_image

PROMPT = "<|im_start|>user\n{images}{question}<|im_end|>\n<|im_start|>assistant\n"
QUESTION = "Is this photo of a real person?"


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_ifas("clip", seed=3)


@pytest.fixture(scope="module")
def images():
    return [random_image(20 + i, (18 + 3 * i, 16)) for i in range(5)]


def hand_inputs(processor, image, question=QUESTION):
    """input ids of the prompt written out by hand, and the image through the image processor alone."""
    tokenizer = processor.tokenizer
    text = PROMPT.format(images="<image>" * processor.num_image_tokens, question=question)
    input_ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    pixel_values = processor.image_processor([image.convert("RGB")], return_tensors="pt")["pixel_values"]
    return input_ids, pixel_values


def hand_p_live(model, processor, image, question=QUESTION):
    input_ids, pixel_values = hand_inputs(processor, image, question)
    yes = processor.tokenizer("Yes", add_special_tokens=False)["input_ids"]
    no = processor.tokenizer("No", add_special_tokens=False)["input_ids"]
    assert len(yes) == len(no) == 1
    with torch.no_grad():
        logits = model(input_ids=input_ids, pixel_values=pixel_values).logits[0, -1].double()
    pair = torch.stack([logits[yes[0]], logits[no[0]]])
    return float(torch.exp(pair[0]) / torch.exp(pair).sum())


def test_score_is_the_softmax_over_yes_no_at_the_answer_position(model_and_processor, images):
    model, processor = model_and_processor
    expected = [hand_p_live(model, processor, image) for image in images]
    scores = model.score(processor, images, batch_size=2)
    assert scores.tolist() == pytest.approx(expected, abs=1e-6)
    assert max(expected) - min(expected) > 1e-4  # the images are told apart: a mix-up of rows would show


def test_score_with_a_question_uses_that_question(model_and_processor, images):
    model, processor = model_and_processor
    question = "Is the face printed on paper?"
    expected = hand_p_live(model, processor, images[0], question)
    assert float(model.score(processor, images[:1], question=question)[0]) == pytest.approx(expected, abs=1e-6)
    assert expected != pytest.approx(hand_p_live(model, processor, images[0]), abs=1e-6)


def test_left_padding_does_not_change_the_scores(model_and_processor, images):
    model, processor = model_and_processor
    prompts = [processor.build_prompt(), processor.build_prompt("Is the face printed on paper with halftone dots?")]
    padded = processor(images=images[:2], text=prompts, padding=True, padding_side="left", add_special_tokens=False,
                       return_tensors="pt")
    assert not padded["attention_mask"].all()  # the first row is padded on the left
    together = model.score_inputs(padded["input_ids"], padded["pixel_values"], padded["attention_mask"])
    alone = []
    for image, prompt in zip(images[:2], prompts):
        single = processor(images=[image], text=[prompt], add_special_tokens=False, return_tensors="pt")
        alone.append(float(model.score_inputs(single["input_ids"], single["pixel_values"], single["attention_mask"])))
    assert together.tolist() == pytest.approx(alone, abs=1e-5)
    right = processor(images=images[:2], text=prompts, padding=True, padding_side="right", add_special_tokens=False,
                      return_tensors="pt")
    with pytest.raises(ValueError, match="left-padded"):
        model.score_inputs(right["input_ids"], right["pixel_values"], right["attention_mask"])


def forced_explanation(model, processor, image, word_id, max_new_tokens):
    """Greedy text after the prompt and `word_id`, as the reference for judge's explanation."""
    input_ids, pixel_values = hand_inputs(processor, image)
    input_ids = torch.cat([input_ids, torch.tensor([[word_id]])], dim=1)
    saved, model.config.threshold = model.config.threshold, None
    try:
        generated = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                   pixel_values=pixel_values, max_new_tokens=max_new_tokens, do_sample=False)
    finally:
        model.config.threshold = saved
    text = processor.tokenizer.decode(generated[0, input_ids.shape[1]:], skip_special_tokens=True)
    return text.lstrip(" .:,").strip()


@pytest.mark.parametrize("where", ["calibrated", "uncalibrated"])
def test_judge_decides_by_threshold_and_explains_the_decided_word(where, model_and_processor, images):
    model, processor = model_and_processor
    live_id, spoof_id = model.config.judgment_token_ids
    scores = [hand_p_live(model, processor, image) for image in images]
    ordered = sorted(scores)
    threshold = (ordered[1] + ordered[2]) / 2 if where == "calibrated" else None  # between two scores, not on one
    forced = {word: [forced_explanation(model, processor, image, word, 6) for image in images]
              for word in (live_id, spoof_id)}
    assert forced[live_id] != forced[spoof_id]  # the text depends on the word before it
    model.config.threshold = threshold
    try:
        results = model.judge(processor, images, max_new_tokens=6, batch_size=2)
    finally:
        model.config.threshold = None
    operating = 0.5 if threshold is None else threshold
    decisions = [score >= operating for score in scores]
    if where == "calibrated":
        assert 0 < sum(decisions) < len(decisions)
    for i, (result, score, live) in enumerate(zip(results, scores, decisions)):
        assert result["p_live"] == pytest.approx(score, abs=1e-6)
        assert result["is_live"] == live
        assert result["judgment"] == ("Yes" if live else "No")
        assert result["explanation"] == forced[live_id if live else spoof_id][i]


def test_judge_never_lets_the_threshold_rewrite_its_explanation(model_and_processor, images, monkeypatch):
    """The threshold decides the judgment word once; a Yes/No inside the explanation is the model's own text."""
    import modeling_ifas

    model, processor = model_and_processor
    calls = []
    original = modeling_ifas.JudgmentThresholdLogitsProcessor.__call__

    def spy(self, input_ids, scores):
        calls.append(input_ids.shape[1])
        return original(self, input_ids, scores)

    monkeypatch.setattr(modeling_ifas.JudgmentThresholdLogitsProcessor, "__call__", spy)
    monkeypatch.setattr(model.config, "threshold", 0.5)
    model.judge(processor, images[:2], max_new_tokens=3)
    assert calls == []
    prompt = processor.prepare_inputs(images[:1])
    model.generate(**prompt, max_new_tokens=2, do_sample=False)  # a plain generate still decides by the threshold
    assert calls and calls[0] == prompt["input_ids"].shape[1]


def test_contradiction_ban_masks_completions_and_leads_by_hand():
    from modeling_ifas import ContradictionBanLogitsProcessor

    processor = ContradictionBanLogitsProcessor({7: [[3, 4], [5]]}, judgment_position=2, lead_tokens=3)
    early = processor(torch.tensor([[1, 2, 7, 3], [1, 2, 8, 3]]), torch.zeros(2, 10))  # explanation [3] so far
    assert (early[0] == float("-inf")).nonzero().flatten().tolist() == [3, 4, 5]  # lead: 3 and 5; completion: 4
    assert not (early[1] == float("-inf")).any()  # judgment 8 bans nothing
    late = processor(torch.tensor([[1, 2, 7, 9, 9, 9, 3]]), torch.zeros(1, 10))
    assert (late[0] == float("-inf")).nonzero().flatten().tolist() == [4, 5]  # past the lead: completion and 1-token


def test_judge_never_writes_a_phrase_that_contradicts_its_judgment(model_and_processor, images):
    """Ban, for each decided word, the plain words of the free explanations the model wrote after it (the tiny
    model writes bytes and a few letters): the constrained explanations then never contain them."""
    model, processor = model_and_processor
    free = model.judge(processor, images, max_new_tokens=6, consistent=False)
    words = {"live": set(), "spoof": set()}
    for answer in free:
        words["live" if answer["is_live"] else "spoof"].update(re.findall(r"[A-Za-z]+", answer["explanation"]))
    assert words["live"] or words["spoof"]
    saved = model.config.contradicting_phrases
    model.config.contradicting_phrases = {side: sorted(found) or ["unused"] for side, found in words.items()}
    try:
        steered = model.judge(processor, images, max_new_tokens=6)
    finally:
        model.config.contradicting_phrases = saved
    for before, after in zip(free, steered):
        assert after["is_live"] == before["is_live"] and after["p_live"] == before["p_live"]
        side = "live" if after["is_live"] else "spoof"
        written = {word.lower() for word in re.findall(r"[A-Za-z]+", after["explanation"])}
        assert not written & {word.lower() for word in words[side]}, (before, after)
        if re.search(r"[A-Za-z]", before["explanation"]):
            assert after["explanation"] != before["explanation"]


class FirstToken:
    """A logits processor that makes `token_id` the first generated token (the judgment the test wants)."""

    def __init__(self, token_id: int, prompt_length: int):
        self.token_id, self.prompt_length = token_id, prompt_length

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] == self.prompt_length:
            forced = torch.full_like(scores, float("-inf"))
            forced[:, self.token_id] = 0.0
            return forced
        return scores


def test_pipeline_never_writes_a_phrase_that_contradicts_a_generated_judgment(model_and_processor, images):
    """The package's pipeline: after a generated "Yes" or "No", the explanation never writes the phrases banned for
    that side; the same words written freely (nothing banned) come first, so the ban had something to remove."""
    from transformers import LogitsProcessorList, pipeline

    from processing_ifas import IFASImageTextToTextPipeline

    model, processor = model_and_processor
    pipe = pipeline("image-text-to-text", model=model, processor=processor, pipeline_class=IFASImageTextToTextPipeline)
    prompt = "<image>" + QUESTION
    prompt_length = len(processor(images=images[0], text=prompt)["input_ids"][0])

    def answers(token_id: int) -> list[str]:
        forced = LogitsProcessorList([FirstToken(token_id, prompt_length)])
        return [pipe(images=image, text=prompt, max_new_tokens=6, return_full_text=False,
                     generate_kwargs={"logits_processor": forced})[0]["generated_text"] for image in images]

    saved = model.config.contradicting_phrases
    try:
        for side, word, token_id in zip(("live", "spoof"), model.config.judgment_words, model.judgment_token_ids()):
            model.config.contradicting_phrases = {"live": ["unused"], "spoof": ["unused"]}
            free = answers(token_id)
            written = {w for text in free for w in re.findall(r"[A-Za-z]+", text[len(word):])}
            assert all(text.startswith(word) for text in free) and written, free
            model.config.contradicting_phrases = {**model.config.contradicting_phrases, side: sorted(written)}
            steered = answers(token_id)
            for before, after in zip(free, steered):
                assert after.startswith(word)
                assert not {w.lower() for w in re.findall(r"[A-Za-z]+", after[len(word):])} & {
                    w.lower() for w in written}, (before, after)
            assert steered != free
    finally:
        model.config.contradicting_phrases = saved
