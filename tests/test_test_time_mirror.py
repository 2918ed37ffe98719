"""`IFASConfig.test_time_mirror`: `score`, `judge` and the package's pipeline decide on the mean Yes/No margin of each
face and its mirror image; the expected margins are computed here from plain forwards of the image and of its PIL
mirror, the way the processor prepares any image."""

from contextlib import contextmanager

import pytest
import torch
from PIL import ImageOps

from ifas.model_builders import tiny_ifas
from modeling_ifas import p_live_from_margin
from tiny_inputs import random_image

PIPELINE_PROMPT = "<image>Is this photo of a real person?"


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_ifas("clip", seed=3)


@contextmanager
def mirroring(model, threshold=None):
    """`config.test_time_mirror` on (and `threshold` set) inside the block, off (and uncalibrated) after it."""
    model.config.test_time_mirror, model.config.threshold = True, threshold
    try:
        yield
    finally:
        model.config.test_time_mirror, model.config.threshold = False, None


@pytest.fixture(scope="module")
def images():
    return [random_image(40 + i, (24, 24)) for i in range(6)]  # square: the resize maps a mirror to a flip exactly


def hand_margins(model, processor, images, text=None) -> torch.Tensor:
    """Yes/No margins of a plain forward (which never mirrors), through `prepare_inputs` or, with `text`, the
    processor."""
    if text is None:
        inputs = processor.prepare_inputs(images, crop_faces=False)
    else:
        inputs = processor(images=images, text=[text] * len(images), return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1]
    live_id, spoof_id = model.judgment_token_ids()
    return (logits[:, live_id] - logits[:, spoof_id]).float()


def mean_with_mirror(model, processor, images, text=None) -> torch.Tensor:
    mirrored = [ImageOps.mirror(image) for image in images]
    return (hand_margins(model, processor, images, text) + hand_margins(model, processor, mirrored, text)) / 2


def test_score_decides_on_the_mean_margin_of_the_image_and_its_mirror(model_and_processor, images):
    model, processor = model_and_processor
    plain = hand_margins(model, processor, images)
    expected = mean_with_mirror(model, processor, images)
    assert (expected - plain).abs().max() > 1e-3  # the mirror changes something, so the test can fail
    with mirroring(model):
        p_live, margin = model.score(processor, images, return_margin=True)
    assert torch.allclose(margin, expected, atol=1e-4)
    assert torch.allclose(p_live, p_live_from_margin(expected), atol=1e-6)
    assert torch.allclose(model.score(processor, images, return_margin=True)[1], plain, atol=1e-4)  # off: as before


def threshold_between(plain: torch.Tensor, mirrored_mean: torch.Tensor) -> tuple[float, list[bool]]:
    """A threshold that the plain margin and the mean with the mirror put on opposite sides for one image, and the
    decisions (live or not) that the mean gives every image at it."""
    row = int((mirrored_mean - plain).abs().argmax())
    threshold = float(p_live_from_margin((plain[row] + mirrored_mean[row]) / 2))
    decisions = (p_live_from_margin(mirrored_mean) >= threshold).tolist()
    assert decisions[row] != bool(p_live_from_margin(plain[row]) >= threshold)
    return threshold, decisions


def test_judge_decides_and_reports_the_mirrored_mean(model_and_processor, images):
    model, processor = model_and_processor
    expected = mean_with_mirror(model, processor, images)
    threshold, decisions = threshold_between(hand_margins(model, processor, images), expected)
    with mirroring(model, threshold):
        answers = model.judge(processor, images, max_new_tokens=2)
    assert [answer["is_live"] for answer in answers] == decisions
    assert [answer["margin"] for answer in answers] == pytest.approx(expected.tolist(), abs=1e-4)


class OnlyJudgmentWords:
    """At the first generated position keep only the two judgment words (their margin untouched), so that the
    threshold decides between them."""

    def __init__(self, token_ids: tuple[int, int], prompt_length: int):
        self.token_ids, self.prompt_length = list(token_ids), prompt_length

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.prompt_length:
            return scores
        kept = torch.full_like(scores, float("-inf"))
        kept[:, self.token_ids] = scores[:, self.token_ids]
        return kept


def test_pipeline_judgment_follows_the_mirrored_mean(model_and_processor, images):
    from transformers import LogitsProcessorList, pipeline

    from processing_ifas import IFASImageTextToTextPipeline

    model, processor = model_and_processor
    expected = mean_with_mirror(model, processor, images, PIPELINE_PROMPT)
    threshold, decisions = threshold_between(hand_margins(model, processor, images, PIPELINE_PROMPT), expected)
    pipe = pipeline("image-text-to-text", model=model, processor=processor, pipeline_class=IFASImageTextToTextPipeline)
    prompt_length = len(processor(images=images[0], text=PIPELINE_PROMPT)["input_ids"][0])
    only_judgment = LogitsProcessorList([OnlyJudgmentWords(model.judgment_token_ids(), prompt_length)])
    live_word, spoof_word = model.config.judgment_words
    with mirroring(model, threshold):
        texts = [pipe(images=image, text=PIPELINE_PROMPT, max_new_tokens=1, return_full_text=False,
                      generate_kwargs={"logits_processor": only_judgment})[0]["generated_text"] for image in images]
    assert [text.strip() for text in texts] == [live_word if live else spoof_word for live in decisions]


def test_the_flag_survives_save_and_reload(model_and_processor, tmp_path):
    from transformers import AutoConfig

    model, _ = model_and_processor
    with mirroring(model):
        model.config.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path, trust_remote_code=True).test_time_mirror is True
