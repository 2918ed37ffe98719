"""The processor's prompt and the collator's training labels, read back as text (public behaviour only)."""

import pytest
import torch

from datasets_scripts.contract import make_record
from ifas.model_builders import tiny_ifas
from ifas.train.sft_data import IFASCollator
from tiny_dataset import CAPTIONS, tiny_image

EXPECTED_PROMPT_TEXT = "<|im_start|>user\n{images}Is this photo of a real person?<|im_end|>\n<|im_start|>assistant\n"
TINY_IMAGE_TOKENS = 16 + 4 + 2  # 4x4 patches + 4 prefix queries + one global token per tapped layer (2 layers)


def row(label, caption):
    return make_record(image=tiny_image(label, 7 + label), label=label, attack_type="none" if label == 0 else "print",
                       dataset="tiny", split="train", subject="s", video_id=f"v{label}", caption=caption)


def supervised(batch, i):
    labels = batch["labels"][i]
    return labels[labels != -100]


def test_prompt_is_the_chatml_question_with_every_visual_token(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    assert model.config.num_image_tokens == TINY_IMAGE_TOKENS
    assert processor.build_prompt() == EXPECTED_PROMPT_TEXT.format(images="<image>")
    inputs = processor.prepare_inputs([tiny_image(0, 1)])
    expanded = EXPECTED_PROMPT_TEXT.format(images="<image>" * TINY_IMAGE_TOKENS)
    assert processor.tokenizer.decode(inputs["input_ids"][0]) == expanded
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == TINY_IMAGE_TOKENS
    assert inputs["attention_mask"].all()


def test_prompt_carries_a_given_question(tiny_model_and_processor):
    _, processor = tiny_model_and_processor
    inputs = processor.prepare_inputs([tiny_image(0, 1)], question="Is the face printed?")
    text = processor.tokenizer.decode(inputs["input_ids"][0]).replace("<image>", "")
    assert text == EXPECTED_PROMPT_TEXT.format(images="").replace("Is this photo of a real person?",
                                                                  "Is the face printed?")


def test_judgment_token_ids_are_the_words_after_the_prompt(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    tokenizer = processor.tokenizer
    prompt_ids = tokenizer(EXPECTED_PROMPT_TEXT.format(images="<image>"), add_special_tokens=False)["input_ids"]
    for word, expected_id in zip(("Yes", "No"), model.config.judgment_token_ids):
        ids = tokenizer(EXPECTED_PROMPT_TEXT.format(images="<image>") + word, add_special_tokens=False)["input_ids"]
        assert ids[: len(prompt_ids)] == prompt_ids and ids[len(prompt_ids):] == [expected_id]
        assert tokenizer.decode([expected_id]) == word


@pytest.fixture(scope="module")
def batch_and_rows(tiny_model_and_processor):
    _, processor = tiny_model_and_processor
    rows = [row(0, CAPTIONS[0]), row(1, CAPTIONS[1]), row(0, ""), row(1, "  ")]
    return IFASCollator(processor)(rows), rows


def test_labels_read_back_as_the_answer(tiny_model_and_processor, batch_and_rows):
    _, processor = tiny_model_and_processor
    batch, _ = batch_and_rows
    decode = processor.tokenizer.decode
    assert decode(supervised(batch, 0), skip_special_tokens=True).strip() == f"Yes. {CAPTIONS[0]}"
    assert decode(supervised(batch, 1), skip_special_tokens=True).strip() == f"No. {CAPTIONS[1]}"
    assert decode(supervised(batch, 2)) == "Yes"  # empty caption: the judgment alone
    assert decode(supervised(batch, 3)) == "No"
    end_of_turn = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for i in (0, 1):
        assert end_of_turn in supervised(batch, i).tolist()  # the model learns to stop


def test_first_supervised_token_is_the_judgment_id(tiny_model_and_processor, batch_and_rows):
    model, _ = tiny_model_and_processor
    batch, rows = batch_and_rows
    live_id, spoof_id = model.config.judgment_token_ids
    for i, source in enumerate(rows):
        assert int(supervised(batch, i)[0]) == (live_id if source["label"] == 0 else spoof_id)


def test_prompt_image_and_padding_positions_are_masked(tiny_model_and_processor, batch_and_rows):
    model, processor = tiny_model_and_processor
    batch, rows = batch_and_rows
    tokenizer = processor.tokenizer
    prompt = EXPECTED_PROMPT_TEXT.format(images="<image>" * TINY_IMAGE_TOKENS)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    for i in range(len(rows)):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i].bool()
        assert ids[: len(prompt_ids)].tolist() == prompt_ids  # the prompt, exactly as at inference
        assert (labels[: len(prompt_ids)] == -100).all()
        assert (labels[ids == model.config.image_token_id] == -100).all()
        assert (labels[~mask] == -100).all()
        positions = (labels != -100).nonzero().flatten().tolist()
        assert positions == list(range(len(prompt_ids), len(prompt_ids) + len(positions)))  # right after the prompt
        assert torch.equal(labels[labels != -100], ids[labels != -100])  # unshifted: the answer's own ids


def test_pixel_values_are_each_rows_image(tiny_model_and_processor, batch_and_rows):
    _, processor = tiny_model_and_processor
    batch, rows = batch_and_rows
    for i, source in enumerate(rows):
        expected = processor(images=[source["image"]], return_tensors="pt")["pixel_values"][0]
        torch.testing.assert_close(batch["pixel_values"][i], expected)
    assert not torch.equal(batch["pixel_values"][0], batch["pixel_values"][1])
